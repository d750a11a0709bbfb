"""Checkpoint folders: exact file lists, no pickles, verified hashes, refused foreign resumes."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from pretrain_fixtures import lm_data, lm_tokenizer, tiny_recipe, tiny_run  # noqa: F401
from typer.testing import CliRunner

from dnahlm_rag.checkpoint import ResumeError, load_lm, read_checkpoint_state, read_model_meta, recipe_identity
from dnahlm_rag.cli.app import app
from dnahlm_rag.pretrain import pretrain
from dnahlm_rag.recipes import to_dict
from dnahlm_rag.tokenizer import TokenizerRecipe, train_tokenizer


def test_final_and_checkpoint_file_lists_are_exactly_the_contract(tiny_run):
    out, _ = tiny_run
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "final", "log.jsonl", "loss.png", "manifest.json"]
    assert sorted(p.name for p in (out / "final").iterdir()) == [
        "config.json", "dnahlm.json", "generation_config.json", "model.safetensors",
        "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == [
        "model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"]


def test_dnahlm_json_records_recipe_and_hashes(tiny_run):
    out, res = tiny_run
    meta = json.loads((out / "final" / "dnahlm.json").read_text())
    assert meta["recipe_name"] == "tiny" and meta["step"] == res.steps == 40
    assert len(meta["data_manifest_sha256"]) == 64 and len(meta["tokenizer_sha256"]) == 64
    assert meta["recipe_identity"] == recipe_identity(meta["recipe"])


def test_model_meta_missing_or_corrupt_is_one_line(tiny_run, tmp_path):
    """Every reader of final/dnahlm.json (loading, --init-from, release, sft's base, the prompt style)
    shares read_model_meta: a corrupt file was a JSONDecodeError traceback in load_lm."""
    from dnahlm_rag.errors import ManifestError
    from dnahlm_rag.instruct import read_prompt_style

    out, _ = tiny_run
    assert read_model_meta(out / "final")["recipe_name"] == "tiny"
    assert read_model_meta(tmp_path, missing_ok=True) is None and read_prompt_style(tmp_path) is None
    with pytest.raises(ManifestError, match="has no dnahlm.json"):
        read_model_meta(tmp_path)
    bad = tmp_path / "final"
    shutil.copytree(out / "final", bad)
    for text in ("{not json", "[1, 2]"):
        (bad / "dnahlm.json").write_text(text)
        for read in (read_model_meta, load_lm, read_prompt_style):
            with pytest.raises(ManifestError, match=r"dnahlm\.json is corrupt"):
                read(bad)


def test_state_records_position_and_verifies_hashes(tiny_run, tmp_path):
    out, _ = tiny_run
    st = read_checkpoint_state(out / "checkpoint")
    assert st["step"] == 40 and st["data_position"] == 40 * 8 and st["tokens_seen"] == 40 * 8 * 64
    assert st["optimizer_param_groups"][0]["weight_decay"] > 0
    bad = tmp_path / "ck"
    shutil.copytree(out / "checkpoint", bad)
    raw = bytearray((bad / "optimizer.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (bad / "optimizer.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ResumeError, match="damaged"):
        read_checkpoint_state(bad)
    (bad / "rng.safetensors").unlink()
    with pytest.raises(ResumeError):
        read_checkpoint_state(bad)


def test_no_pickles_anywhere(tiny_run):
    out, _ = tiny_run
    for p in out.rglob("*"):
        if p.is_file():
            assert p.suffix in {".json", ".jsonl", ".safetensors", ".png"}, p
            assert not p.read_bytes().startswith(b"\x80"), p  # pickle protocol header


def test_identity_ignores_runtime_keys_only():
    a = to_dict(tiny_recipe())
    b = to_dict(tiny_recipe(threads=2, compile=True, log_every=5, checkpoint_every=7))
    c = to_dict(tiny_recipe(lr=1e-4))
    assert recipe_identity(a) == recipe_identity(b) != recipe_identity(c)


@pytest.fixture()
def stopped_run(lm_data, lm_tokenizer, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    r = pretrain(tiny_recipe(max_steps=4, eval_every=0, markov_baseline=False), lm_data, lm_tokenizer, out,
                 threads=1, progress=False, stop_after=2)
    assert not r.finished and r.steps == 2 and not (out / "final").exists()
    return out


def test_resume_with_another_recipe_is_refused(stopped_run, lm_data, lm_tokenizer):
    with pytest.raises(ResumeError, match=r"different recipe.*train\.lr"):
        pretrain(tiny_recipe(max_steps=4, eval_every=0, markov_baseline=False, lr=1e-4), lm_data, lm_tokenizer,
                 stopped_run, resume=True, threads=1, progress=False)


def test_resume_with_another_tokenizer_is_refused(stopped_run, lm_data, tmp_path):
    other = tmp_path / "tok2"
    train_tokenizer(lm_data, other, TokenizerRecipe(vocab_size=600), progress=False)
    with pytest.raises(ResumeError, match="different tokenizer"):
        pretrain(tiny_recipe(max_steps=4, eval_every=0, markov_baseline=False), lm_data, other, stopped_run,
                 resume=True, threads=1, progress=False)


def test_cli_refuses_to_overwrite_and_to_resume_nothing(stopped_run, lm_data, lm_tokenizer, tmp_path):
    base = ["pretrain", "--recipe", "tiny", "--data", str(lm_data), "--tokenizer", str(lm_tokenizer), "--threads", "1", "--quiet"]
    r = CliRunner().invoke(app, base + ["--out", str(stopped_run)])
    assert r.exit_code == 2 and "--resume" in r.output, r.output
    r = CliRunner().invoke(app, base + ["--out", str(tmp_path / "none"), "--resume"])
    assert r.exit_code == 2 and "nothing to resume" in r.output, r.output
    r = CliRunner().invoke(app, base + ["--out", str(stopped_run), "--resume", "--max-steps", "9"])
    assert r.exit_code == 2 and "different recipe" in r.output and "max_steps" in r.output, r.output


def test_unreadable_or_incomplete_state_is_a_resume_error(tiny_run, tmp_path):
    out, _ = tiny_run
    bad = tmp_path / "ck"
    shutil.copytree(out / "checkpoint", bad)
    for raw, match in ((b"[1, 2]", "not an object"), (b"\xff\xfe", "corrupt"),
                       (b'{"format_version": 1, "files": {}}', "damaged: step")):
        (bad / "state.json").write_bytes(raw)
        with pytest.raises(ResumeError, match=match):
            read_checkpoint_state(bad)


def test_new_run_never_overwrites_another_folder(lm_data, lm_tokenizer, tmp_path):
    """A new run (no checkpoint) refuses a data folder, a file, a finished model and foreign files, before any work."""
    data = tmp_path / "data"
    shutil.copytree(lm_data, data)
    before = sorted(p.name for p in data.iterdir())
    base = ["pretrain", "--recipe", "tiny", "--data", str(lm_data), "--tokenizer", str(lm_tokenizer), "--threads", "1", "--quiet"]
    r = CliRunner().invoke(app, base + ["--out", str(data)])
    assert r.exit_code == 2 and "holds a 'data' stage" in r.output, r.output
    assert sorted(p.name for p in data.iterdir()) == before
    r = CliRunner().invoke(app, base + ["--out", str(data / "manifest.json")])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "is a file" in r.output, r.output
    done = tmp_path / "done"
    (done / "final").mkdir(parents=True)
    (done / "log.jsonl").write_text('{"step": 1}\n')
    r = CliRunner().invoke(app, base + ["--out", str(done)])
    assert r.exit_code == 2 and "finished model" in r.output, r.output
    assert (done / "log.jsonl").read_text() == '{"step": 1}\n'
    (done / "final").rmdir()
    (done / "notes.txt").write_text("mine")
    r = CliRunner().invoke(app, base + ["--out", str(done)])
    assert r.exit_code == 2 and "notes.txt" in r.output, r.output
