"""Continued pretraining: a recipe with `continues` starts from a finished run's weights (--init-from)."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from pretrain_fixtures import lm_data, lm_tokenizer, tiny_recipe, tiny_run  # noqa: F401
from safetensors.torch import load_file, save_file

from dnahlm_rag.atomic import sha256_file
from dnahlm_rag.checkpoint import ResumeError, read_checkpoint_state
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.pretrain import pretrain, read_log, read_pretrain_manifest


def more(parent: str = "tiny", **train):
    """The tiny recipe renamed ``tiny-more``, continuing ``parent``; no validations or Markov fit (fast)."""
    r = tiny_recipe(eval_every=0, markov_baseline=False, **train)
    r.name, r.continues = "tiny-more", parent
    return r


def test_continued_run_starts_from_the_parent_weights(tiny_run, lm_data, lm_tokenizer, tmp_path):
    parent, parent_res = tiny_run
    torch.set_num_threads(1)
    res = pretrain(more(max_steps=3, lr=1e-9, warmup_steps=1), lm_data, lm_tokenizer, tmp_path / "c",
                   init_from=parent / "final", threads=1, progress=False)
    # with a vanishing learning rate the weights stay the parent's (a fresh init would be far away)
    old, new = load_file(str(parent / "final" / "model.safetensors")), load_file(str(tmp_path / "c" / "final" / "model.safetensors"))
    assert old.keys() == new.keys()
    for k in old:
        torch.testing.assert_close(new[k], old[k], rtol=0, atol=1e-5)
    # and its first loss is the trained parent's, not an untrained model's
    first_parent = next(r["loss"] for r in read_log(parent / "log.jsonl") if "loss" in r)
    first = next(r["loss"] for r in read_log(tmp_path / "c" / "log.jsonl") if "loss" in r)
    assert first < first_parent - 0.8, (first, first_parent)
    init = read_pretrain_manifest(tmp_path / "c")["init"]
    assert init["recipe_name"] == "tiny" and init["step"] == parent_res.steps
    assert init["model_sha256"] == sha256_file(parent / "final" / "model.safetensors")
    meta = json.loads((tmp_path / "c" / "final" / "dnahlm.json").read_text())
    assert meta["init"] == init and meta["tokens_seen_total"] == init["tokens_seen"] + meta["tokens_seen"]
    assert res.metrics["tokens_seen_total"] == meta["tokens_seen_total"]
    # a continuation of that continuation counts every run of the chain
    r2 = more(max_steps=2)
    r2.name, r2.continues = "tiny-more2", "tiny-more"
    pretrain(r2, lm_data, lm_tokenizer, tmp_path / "d", init_from=tmp_path / "c" / "final", threads=1, progress=False)
    meta2 = json.loads((tmp_path / "d" / "final" / "dnahlm.json").read_text())
    assert meta2["init"]["tokens_seen_total"] == meta["tokens_seen_total"]
    assert meta2["tokens_seen_total"] == meta["tokens_seen_total"] + meta2["tokens_seen"] > meta2["init"]["tokens_seen"] + meta2["tokens_seen"]


def test_a_continued_run_resumes_without_init_from_and_refuses_other_weights(tiny_run, lm_data, lm_tokenizer, tmp_path):
    parent, _ = tiny_run
    torch.set_num_threads(1)
    kw = dict(threads=1, progress=False)
    part = pretrain(more(max_steps=4), lm_data, lm_tokenizer, tmp_path / "c", init_from=parent / "final", stop_after=2, **kw)
    assert not part.finished
    assert read_checkpoint_state(tmp_path / "c" / "checkpoint")["init"]["recipe_name"] == "tiny"
    other = tmp_path / "other"
    shutil.copytree(parent / "final", other)
    w = load_file(str(other / "model.safetensors"))
    w = {k: v + 1 if i == 0 else v for i, (k, v) in enumerate(w.items())}
    save_file(w, str(other / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ResumeError, match="continued other weights"):
        pretrain(more(max_steps=4), lm_data, lm_tokenizer, tmp_path / "c", resume=True, init_from=other, **kw)
    done = pretrain(more(max_steps=4), lm_data, lm_tokenizer, tmp_path / "c", resume=True, **kw)
    assert done.finished and read_pretrain_manifest(tmp_path / "c")["init"]["recipe_name"] == "tiny"


def test_init_from_mistakes_are_one_line_errors(tiny_run, lm_data, lm_tokenizer, tmp_path):
    parent, _ = tiny_run
    kw = dict(threads=1, progress=False)
    with pytest.raises(DnaHlmError, match="pass --init-from"):
        pretrain(more(), lm_data, lm_tokenizer, tmp_path / "a", **kw)
    with pytest.raises(DnaHlmError, match="starts from scratch"):
        pretrain(tiny_recipe(), lm_data, lm_tokenizer, tmp_path / "b", init_from=parent / "final", **kw)
    with pytest.raises(DnaHlmError, match="made by recipe 'tiny', but 'tiny-more' continues 'cpu'"):
        pretrain(more("cpu"), lm_data, lm_tokenizer, tmp_path / "c", init_from=parent / "final", **kw)
    with pytest.raises(DnaHlmError, match="not a finished pretraining run"):
        pretrain(more(), lm_data, lm_tokenizer, tmp_path / "d", init_from=parent, **kw)
    wide = more()
    wide.model.n_embd *= 2
    with pytest.raises(DnaHlmError, match=r"\[model\] differs"):
        pretrain(wide, lm_data, lm_tokenizer, tmp_path / "e", init_from=parent / "final", **kw)
    assert not any((tmp_path / n).exists() for n in "abcde")  # refused before any folder was written
