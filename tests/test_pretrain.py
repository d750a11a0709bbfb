"""Pretraining: learning on real sequence, logs, exact resume, DDP under torchrun (gloo)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pretrain_fixtures import lm_data, lm_tokenizer, tiny_recipe, tiny_run  # noqa: F401
from safetensors.torch import load_file

from dnahlm_rag.model import build_model
from dnahlm_rag.pretrain import (HeldOut, lr_at, read_log, read_pretrain_manifest, token_base_counts, validate)
from dnahlm_rag.packing import encode_documents, eval_windows
from dnahlm_rag.tokenizer import head_lines, load_tokenizer

import numpy as np


def test_lr_schedule_warms_up_and_decays():
    t = tiny_recipe(max_steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1).train
    assert lr_at(0, t) == pytest.approx(0.1) and lr_at(9, t) == pytest.approx(1.0)
    assert lr_at(10, t) == pytest.approx(1.0) and lr_at(100, t) == pytest.approx(0.1)
    assert all(lr_at(i, t) >= lr_at(i + 1, t) for i in range(10, 100))


def test_tiny_run_learns_real_sequence(tiny_run, lm_data, lm_tokenizer):
    out, res = tiny_run
    rows = [r for r in read_log(out / "log.jsonl") if "loss" in r]
    assert [r["step"] for r in rows] == list(range(1, 41))
    first, last = np.mean([r["loss"] for r in rows[:3]]), np.mean([r["loss"] for r in rows[-3:]])
    assert last < first - 0.8, (first, last)
    # held-out lambda DNA: the trained model beats the same model untrained
    tok = load_tokenizer(lm_tokenizer)
    dna = head_lines(lm_data / "pretrain" / "dna.valid.txt", 0.02)
    eos = tok.eos_token_id
    held = HeldOut(dna, [], eval_windows(np.concatenate([[eos], encode_documents(tok, dna, eos, seed=None)]), 64), [])
    untrained = build_model(tiny_recipe().model, tok, seed=0)
    u = validate(untrained, held, token_base_counts(tok, untrained.config.vocab_size), eos, torch.device("cpu"), "fp32", 8)
    m = res.metrics
    assert m["val_dna_bases"] == sum(map(len, dna)) == u["val_dna_bases"]
    assert m["val_dna_bits_per_base"] < u["val_dna_bits_per_base"] - 0.5
    assert m["val_english_nats_per_token"] < math.log(1024)
    assert m["markov_bits_per_base"] < 2.0  # the baseline on real DNA


def test_logs_png_and_manifest(tiny_run):
    out, _ = tiny_run
    rows = read_log(out / "log.jsonl")
    step = next(r for r in rows if "loss" in r)
    assert {"step", "loss", "lr", "tokens_per_s", "mfu", "grad_norm", "tokens_seen"} <= set(step)
    periodic = [r for r in rows if r.get("periodic")]
    assert [r["step"] for r in periodic] == [20] and "val_dna_bits_per_base" in periodic[0]
    assert rows[-1]["final"] and "val_english_nats_per_token" in rows[-1]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = read_pretrain_manifest(out)
    assert m["steps"] == 40 and m["metrics"]["params"] > 0 and m["metrics"]["median_tokens_per_s"] > 0


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_resume_is_exact(lm_data, lm_tokenizer, tmp_path):
    from dnahlm_rag.pretrain import pretrain

    torch.set_num_threads(1)
    kw = dict(max_steps=8, eval_every=0, checkpoint_every=100, markov_baseline=False)
    straight = pretrain(tiny_recipe(**kw), lm_data, lm_tokenizer, tmp_path / "a", threads=1, progress=False)
    part = pretrain(tiny_recipe(**kw), lm_data, lm_tokenizer, tmp_path / "b", threads=1, progress=False, stop_after=4)
    assert not part.finished and part.steps == 4
    with open(tmp_path / "b" / "log.jsonl", "a") as f:  # a killed run may have logged past its checkpoint
        f.write(json.dumps({"step": 5, "loss": 0.0}) + "\n")
    resumed = pretrain(tiny_recipe(**kw), lm_data, lm_tokenizer, tmp_path / "b", resume=True, threads=1, progress=False)
    assert straight.finished and resumed.finished and resumed.steps == 8
    wa, wb = weights(tmp_path / "a" / "final"), weights(tmp_path / "b" / "final")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6)
    la = [r["loss"] for r in read_log(tmp_path / "a" / "log.jsonl") if "loss" in r]
    lb = [r["loss"] for r in read_log(tmp_path / "b" / "log.jsonl") if "loss" in r]
    assert la == pytest.approx(lb, abs=1e-5) and len(lb) == 8


@pytest.mark.slow
def test_ddp_two_cpu_processes_under_torchrun(lm_data, lm_tokenizer, tmp_path):
    out = tmp_path / "ddp"
    (tmp_path / "tmp").mkdir()  # torchrun leaves a torchelastic_* folder in the temporary directory
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DNAHLM_THREADS": "1", "TMPDIR": str(tmp_path / "tmp")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(sys.executable).with_name("dnahlm")), "pretrain", "--recipe", "tiny", "--data", str(lm_data),
           "--tokenizer", str(lm_tokenizer), "--out", str(out), "--max-steps", "3", "--quiet"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    st = json.loads((out / "checkpoint" / "state.json").read_text())
    assert st["world_size"] == 2 and st["data_position"] == 3 * 8 * 2
    assert (out / "final" / "model.safetensors").is_file()
    rows = [r for r in read_log(out / "log.jsonl") if "loss" in r]
    assert len(rows) == 3 and all(math.isfinite(r["loss"]) for r in rows)


def test_precision_auto_uses_bf16_only_with_native_support():
    from dnahlm_rag.pretrain import resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert resolve_precision("auto", cpu) == ("bf16" if native else "fp32")


def test_explicit_bf16_on_a_cpu_that_emulates_it_warns(monkeypatch):
    """``--precision bf16`` on a CPU without native bf16 runs (the user asked) but says it is slow."""
    import dnahlm_rag.pretrain as pt

    cpu = torch.device("cpu")
    monkeypatch.setattr(pt, "cpu_has_native_bf16", lambda: False)
    assert "about 50x slower" in pt.precision_note("bf16", cpu)
    assert pt.resolve_precision("auto", cpu) == "fp32"
    assert pt.precision_note("fp32", cpu) is None and pt.precision_note("auto", cpu) is None
    monkeypatch.setattr(pt, "cpu_has_native_bf16", lambda: True)
    assert pt.precision_note("bf16", cpu) is None and pt.resolve_precision("auto", cpu) == "bf16"


def test_bad_thread_counts_and_train_keys_are_one_line_errors(monkeypatch, tmp_path):
    from dnahlm_rag.errors import DnaHlmError, RecipeError
    from dnahlm_rag.pretrain import load_pretrain_recipe, resolve_threads

    with pytest.raises(DnaHlmError, match="--threads must be >= 0"):
        resolve_threads(-1, 0, 1)
    monkeypatch.setenv("DNAHLM_THREADS", "abc")
    with pytest.raises(DnaHlmError, match="DNAHLM_THREADS"):
        resolve_threads(None, 0, 1)
    assert resolve_threads(2, 0, 1) == 2  # the environment is not read when --threads is given
    for line, match in (("log_every = 0", "train.log_every"), ("lr = nan", "train.lr"),
                        ("eval_every = -1", "train.eval_every"), ("beta2 = 1.0", "train.beta2")):
        p = tmp_path / "r.toml"
        p.write_text(f'name = "x"\n[train]\n{line}\n')
        with pytest.raises(RecipeError, match=match):
            load_pretrain_recipe(p)
