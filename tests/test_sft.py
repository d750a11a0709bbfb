"""Instruction tuning: masked prompt, learned eos, a tiny run that learns, exact resume."""
from __future__ import annotations

import json

import pytest

from dnahlm_rag.checkpoint import FINAL_FILES
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.instruct import InstructRecipe, PromptRenderer, PromptStyle, build_instruct, read_instruct
from dnahlm_rag.sft import (IGNORE, batch_order, collate, encode_record, load_sft_recipe, plot_sft, reseeded,
                            response_loss_sum, sft)
from dnahlm_rag.recipes import list_recipes

from sft_fixtures import make_base_model, make_task_data


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("sft")
    data = make_task_data(root)
    recipe = InstructRecipe(tasks=["gc", "half", "nextb"], max_per_task=240, max_repeats=2, valid_per_task=24,
                            rag_share=0.5, k=2, prompts_dir=str(root / "task_prompts"))
    build_instruct(data, root / "instruct", recipe, progress=False)
    return root, data, make_base_model(root)


def tiny(**train):
    r = load_sft_recipe("tiny")
    for k, v in train.items():
        setattr(r.train, k, v)
    return r


def test_every_sft_recipe_loads():
    assert {"tiny", "cpu", "gpu-small"} <= set(list_recipes("sft"))
    for name in list_recipes("sft"):
        assert load_sft_recipe(name).name == name


def test_prompt_masked_and_eos_appended(setup):
    from dnahlm_rag.tokenizer import load_tokenizer

    root, _, base = setup
    tok = load_tokenizer(base, check_manifest=False)
    assert tok.pad_token_id != tok.eos_token_id
    _, train, _ = read_instruct(root / "instruct")
    renderer = PromptRenderer(tok, 256, PromptStyle())
    for rec in (next(r for r in train if r["mode"] == "plain"), next(r for r in train if r["mode"] == "rag")):
        e = encode_record(rec, renderer, tok, 256)
        resp = tok(rec["output"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert list(e.labels[: e.n_prompt]) == [IGNORE] * e.n_prompt
        assert list(e.labels[e.n_prompt:]) == resp and list(e.ids[e.n_prompt:]) == resp
        assert e.ids[-1] == tok.eos_token_id and e.ids[0] == tok.bos_token_id
        assert tok.decode(e.ids[1:e.n_prompt]).endswith("### Response:\n")
        assert len(e.ids) <= 256
    # a prompt longer than the context is cut on the left; the response survives whole
    long = dict(next(r for r in train if r["mode"] == "plain"), instruction="Explain. " * 200)
    e = encode_record(long, renderer, tok, 256)
    assert len(e.ids) == 256 and tok.decode(e.ids[: e.n_prompt]).endswith("### Response:\n")
    x, m, y = collate([e, encode_record(rec, renderer, tok, 256)], tok.pad_token_id)
    assert x.shape == y.shape == m.shape and int(m[1].sum()) < x.shape[1]
    assert (x[1][m[1] == 0] == tok.pad_token_id).all() and (y[1][m[1] == 0] == IGNORE).all()


def test_plain_closed_records_are_tuned_with_the_label_hint(setup):
    from dnahlm_rag.sft import record_labels
    from dnahlm_rag.tokenizer import load_tokenizer

    root, _, base = setup
    tok = load_tokenizer(base, check_manifest=False)
    m, train, _ = read_instruct(root / "instruct")
    style = PromptStyle(label_hint="Answer with one of {labels}.")
    assert record_labels(m, PromptStyle()) == {}  # no hint: labels not needed
    assert record_labels(m, style)["gc"] == ["GC-rich", "AT-rich"]
    old = {k: v for k, v in m.items() if k != "task_labels"}  # data built before the hint existed
    with pytest.raises(DnaHlmError, match="rebuild"):
        record_labels(old, style)
    labels = record_labels({**m, "task_labels": {"gc": ["high", "low"]}}, style)
    renderer = PromptRenderer(tok, 256, style)
    rec = next(r for r in train if r["mode"] == "plain" and r["task"] == "gc")
    hinted = tok.decode(encode_record(rec, renderer, tok, 256, label_set=labels["gc"]).ids)
    assert "Answer with one of high or low." in hinted  # no gc wording names "high" and "low"
    assert "Answer with one of" not in tok.decode(encode_record(rec, renderer, tok, 256).ids)


def test_record_loss_weights_each_record_once(setup, tmp_path):
    import torch
    import torch.nn.functional as F

    from transformers import GPT2LMHeadModel

    from dnahlm_rag.tokenizer import load_tokenizer

    root, _, base = setup
    tok = load_tokenizer(base, check_manifest=False)
    model = GPT2LMHeadModel.from_pretrained(str(base))
    _, train, _ = read_instruct(root / "instruct")
    renderer = PromptRenderer(tok, 256, PromptStyle())
    recs = [dict(train[0], output="A"), dict(train[1], output="a much longer answer with many tokens in it")]
    x, m, y = collate([encode_record(r, renderer, tok, 256) for r in recs], tok.pad_token_id)
    with torch.no_grad():
        s_tok, n_tok = response_loss_sum(model, x, m, y)
        s_rec, n_rec = response_loss_sum(model, x, m, y, "record")
        logits = model(input_ids=x, attention_mask=m).logits[:, :-1]
    means = []
    for i in range(2):  # reference: each record's own mean over its targets
        sel = y[i, 1:] != IGNORE
        means.append(float(F.cross_entropy(logits[i][sel].float(), y[i, 1:][sel], reduction="mean")))
    assert n_rec == 2 and n_tok == int((y[:, 1:] != IGNORE).sum()) > 4
    assert float(s_rec) == pytest.approx(sum(means), rel=1e-5)
    assert float(s_tok) / n_tok != pytest.approx(float(s_rec) / n_rec, rel=1e-3)
    # the recipe key is checked, and a run with it tunes and logs
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[train]\nloss_per = "word"\n')
    with pytest.raises(DnaHlmError, match="train.loss_per"):
        load_sft_recipe(bad)
    res = sft(tiny(max_steps=3, eval_every=0, loss_per="record"), base, root / "instruct", tmp_path / "rec",
              threads=1, progress=False)
    assert res.finished


def test_reseeded_recipe_is_named_for_its_seed_and_leaves_the_original():
    from dnahlm_rag.recipes import to_dict

    r = load_sft_recipe("cpu-rag")
    r1 = reseeded(r, 1)
    assert (r1.name, r1.train.seed) == ("cpu-rag-s1", 1) and (r.name, r.train.seed) == ("cpu-rag", 0)
    d, d1 = to_dict(r), to_dict(r1)
    d1["name"], d1["train"]["seed"] = d["name"], d["train"]["seed"]
    assert d1 == d  # nothing else changes
    assert reseeded(r, 0) is r
    with pytest.raises(DnaHlmError, match="--seed must be >= 0"):
        reseeded(r, -1)


def test_precision_override_changes_only_the_precision():
    from dnahlm_rag.pretrain import load_pretrain_recipe, with_precision
    from dnahlm_rag.recipes import to_dict

    for r in (load_sft_recipe("cpu-rag"), load_pretrain_recipe("cpu")):
        assert r.train.precision == "auto"
        r32 = with_precision(r, "fp32")
        assert r32.train.precision == "fp32" and r.train.precision == "auto" and r32.name == r.name
        d, d32 = to_dict(r), to_dict(r32)
        d32["train"]["precision"] = "auto"
        assert d32 == d  # nothing else changes
        assert with_precision(r, None) is r and with_precision(r, "auto") is r
        with pytest.raises(DnaHlmError, match="--precision must be one of auto, bf16, fp32, got 'fp16'"):
            with_precision(r, "fp16")


def test_batch_order_is_a_function_of_the_seed():
    import numpy as np

    lengths = np.arange(100) % 17
    a, b = batch_order(lengths, 30, 8, 0), batch_order(lengths, 30, 8, 0)
    assert all((x == y).all() for x, y in zip(a, b)) and len(a) == 30
    first = np.concatenate(a[:13])  # one epoch: 12 full batches and one of 4
    assert len(first) == 100 and len(set(first.tolist())) == 100


@pytest.mark.parametrize("per, unit", [("record", "per-record means"), ("token", "per response token")])
def test_loss_plot_names_the_train_unit(tmp_path, monkeypatch, per, unit):
    import matplotlib.axes

    log = tmp_path / "log.jsonl"
    rows = [{"step": i + 1, "loss": 3.0 / (i + 1)} for i in range(7)] + [{"step": 5, "periodic": True, "val_loss": 1.0}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labels: list[str] = []
    real = matplotlib.axes.Axes.legend
    monkeypatch.setattr(matplotlib.axes.Axes, "legend",
                        lambda ax, *a, **kw: labels.extend(ax.get_legend_handles_labels()[1]) or real(ax, *a, **kw))
    plot_sft(log, tmp_path / "loss.png", per, smooth=50)  # fewer rows than the window: a 7-step mean
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert any(unit in s and "7-step" in s for s in labels) and "valid, per response token" in labels


def test_tiny_sft_learns_and_saves_prompt_style(setup, tmp_path):
    root, data, base = setup
    res = sft(tiny(max_steps=40), base, root / "instruct", tmp_path / "run", threads=1, progress=False)
    assert res.finished and res.steps == 40
    rows = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    assert len(vals) >= 2 and vals[-1] < vals[0]
    final = tmp_path / "run" / "final"
    assert sorted(p.name for p in final.iterdir()) == sorted(FINAL_FILES)
    meta = json.loads((final / "dnahlm.json").read_text())
    assert meta["prompt_style"]["rag"] == "rag.v1" and meta["prompt_style"]["plain"] == "plain.v1"
    assert meta["held_out_tasks"] == ["half"] and meta["stage"] == "sft"
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    # the tuned folder answers: scoring and generation run on it in the saved prompt style
    from dnahlm_rag.scoring import evaluate_closed_tasks

    tp = root / "task_prompts"
    rep = evaluate_closed_tasks(final, data, tasks=["gc", "half"], limit=6, mode="rag", progress=False, prompts_dir=tp)
    assert set(rep["tasks"]) == {"gc", "half"} and rep["tasks"]["gc"]["n"] == 6
    assert rep["prompt_style"]["rag"] == "rag.v1"
    with pytest.raises(DnaHlmError, match="no allowed labels"):
        evaluate_closed_tasks(final, data, tasks=["nextb"], limit=2, progress=False, prompts_dir=tp)


def test_resume_is_exact(setup, tmp_path):
    import torch
    from safetensors.torch import load_file

    root, _, base = setup
    full = sft(tiny(max_steps=6, checkpoint_every=3, eval_every=0), base, root / "instruct", tmp_path / "a",
               threads=1, progress=False)
    part = sft(tiny(max_steps=6, checkpoint_every=3, eval_every=0), base, root / "instruct", tmp_path / "b",
               threads=1, progress=False, stop_after=3)
    assert not part.finished and not (tmp_path / "b" / "final").exists()
    with pytest.raises(DnaHlmError, match="--resume"):
        sft(tiny(max_steps=6, checkpoint_every=3, eval_every=0), base, root / "instruct", tmp_path / "b", threads=1, progress=False)
    with pytest.raises(DnaHlmError, match="different recipe"):
        sft(tiny(max_steps=6, checkpoint_every=3, eval_every=0, lr=1e-2), base, root / "instruct", tmp_path / "b",
            resume=True, threads=1, progress=False)
    done = sft(tiny(max_steps=6, checkpoint_every=3, eval_every=0), base, root / "instruct", tmp_path / "b",
               resume=True, threads=1, progress=False)
    assert done.finished and full.finished
    wa = load_file(str(tmp_path / "a" / "final" / "model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "final" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    la = [json.loads(l)["loss"] for l in (tmp_path / "a" / "log.jsonl").read_text().splitlines() if '"loss"' in l]
    lb = [json.loads(l)["loss"] for l in (tmp_path / "b" / "log.jsonl").read_text().splitlines() if '"loss"' in l]
    assert la == lb and len(la) == 6


def test_new_run_refuses_another_stages_folder_and_bad_threads(setup):
    root, data, base = setup
    with pytest.raises(DnaHlmError, match="holds a 'instruct' stage"):
        sft(tiny(max_steps=2), base, root / "instruct", root / "instruct", threads=1, progress=False)
    assert (root / "instruct" / "train.jsonl").is_file() and not (root / "instruct" / "log.jsonl").exists()
    with pytest.raises(DnaHlmError, match="--threads must be >= 0"):
        sft(tiny(max_steps=2), base, root / "instruct", root / "new-run", threads=-1, progress=False)
