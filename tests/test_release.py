"""Released weights: made from trained folders, checked file by file and against the data identity."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnahlm_rag.cli.app import app
from dnahlm_rag.embed.lm import model_fingerprint
from dnahlm_rag.model_folder import candidate_model_dirs
from dnahlm_rag.release import ReleaseError, check_release, data_identity, make_release
from dnahlm_rag.retrieval_mix import MixTable
from sft_fixtures import make_base_model, make_task_data

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A data folder, a 'pretrained' final/ folder in a run folder with logs, and a 'tuned' copy with a mix table."""
    root = tmp_path_factory.mktemp("release")
    data = make_task_data(root)
    base = make_base_model(root / "pre")
    run = root / "runs" / "pretrain" / "fx"
    run.mkdir(parents=True)
    shutil.move(str(base), run / "final")
    (run / "log.jsonl").write_text('{"step": 1, "loss": 6.2}\n')
    sft_run = root / "runs" / "sft" / "fx"
    shutil.copytree(run, sft_run)
    meta = json.loads((sft_run / "final" / "dnahlm.json").read_text())
    (sft_run / "final" / "dnahlm.json").write_text(json.dumps({**meta, "stage": "sft"}))  # as `dnahlm sft` writes it
    MixTable(default=0.5, tasks={"gc": 0.5}, model_sha256=model_fingerprint(sft_run / "final")).save(sft_run / "final")
    return {"root": root, "data": data, "base": run / "final", "sft": sft_run / "final"}


def test_data_identity_is_content_not_build_time(tmp_path, trained):
    data = tmp_path / "data"
    shutil.copytree(trained["data"], data)
    ident = data_identity(data)
    m = json.loads((data / "manifest.json").read_text())
    m["created_utc"] = "2031-01-01T00:00:00Z"
    (data / "manifest.json").write_text(json.dumps(m))
    assert data_identity(data) == ident
    f = next(data.rglob("test.jsonl"))
    f.write_text(f.read_text().replace("A", "C", 1))
    assert data_identity(data) != ident
    with pytest.raises(ReleaseError, match="no manifest.json"):
        data_identity(tmp_path / "nothing")


def test_release_round_trip_and_checks(tmp_path, trained):
    out = tmp_path / "released"
    rel = make_release(trained["base"], trained["sft"], trained["data"], out, note="fixture")
    assert rel["note"] == "fixture" and rel["data_identity"] == data_identity(trained["data"])
    assert {"base/model.safetensors", "sft/model.safetensors", "sft/retrieval_mix.json", "logs/base/log.jsonl"} <= set(rel["files"])
    assert (out / "base" / "model.safetensors").read_bytes() == (trained["base"] / "model.safetensors").read_bytes()
    assert check_release(out, trained["data"])["models"]["sft"]["step"] == 0
    MixTable.load(out / "sft")  # the copy keeps the weights the table was fitted for

    other = tmp_path / "other-data"
    shutil.copytree(trained["data"], other)
    (other / "tasks" / "extra.txt").write_text("another organism\n")
    with pytest.raises(ReleaseError, match="trained on other data"):
        check_release(out, other)
    assert check_release(out, None)  # files only

    (out / "sft" / "notes.txt").write_text("stray")
    with pytest.raises(ReleaseError, match="does not list: sft/notes.txt"):
        check_release(out, trained["data"])
    (out / "sft" / "notes.txt").unlink()

    w = out / "base" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    with pytest.raises(ReleaseError, match="does not match its SHA-256"):
        check_release(out, trained["data"])
    w.unlink()
    with pytest.raises(ReleaseError, match="is missing"):
        check_release(out, trained["data"])
    with pytest.raises(ReleaseError, match="no released weights"):
        check_release(tmp_path / "none", trained["data"])


def test_release_needs_a_mixing_table_and_logs(tmp_path, trained):
    with pytest.raises(ReleaseError, match="mix fit"):
        make_release(trained["base"], trained["base"], trained["data"], tmp_path / "r")
    loose = tmp_path / "loose"
    shutil.copytree(trained["sft"], loose)  # a final/ folder outside its run folder: no logs
    with pytest.raises(ReleaseError, match="no log.jsonl"):
        make_release(trained["base"], loose, trained["data"], tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_cli_check_soft_and_hard(tmp_path, trained):
    out = tmp_path / "released"
    r = runner.invoke(app, ["release", "make", "--base", str(trained["base"]), "--sft", str(trained["sft"]),
                            "--data", str(trained["data"]), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["release", "check", "--root", str(out), "--data", str(trained["data"])])
    assert r.exit_code == 0 and "released weights OK" in r.output
    r = runner.invoke(app, ["release", "check", "--root", str(out), "--data", str(tmp_path / "x"), "--soft"])
    assert r.exit_code == 1 and r.output.startswith("note: not using released weights:")
    r = runner.invoke(app, ["release", "check", "--root", str(out), "--data", str(tmp_path / "x")])
    assert r.exit_code == 2 and r.output.startswith("error: ")


def test_default_model_is_the_released_tuned_one(tmp_path, trained):
    rel = tmp_path / "models" / "released"
    make_release(trained["base"], trained["sft"], trained["data"], rel)
    assert candidate_model_dirs(tmp_path) == [rel / "sft"]


@pytest.mark.skipif(not (REPO / "models" / "released" / "manifest.json").is_file(), reason="no released weights")
def test_committed_release_is_intact_and_answers():
    """The weights in the repository: every file matches the release's manifest, and the tuned model generates."""
    from dnahlm_rag.checkpoint import load_lm

    rel = check_release(REPO / "models" / "released", data_dir=None)
    assert rel["total_bytes"] < 60e6  # the size limit for released weights
    for name in ("base", "sft"):
        model, tok, meta = load_lm(REPO / "models" / "released" / name)
        assert meta["step"] == rel["models"][name]["step"] and model.config.n_positions >= 256
        assert tok.decode(tok("ACGTACGTTTGA")["input_ids"]) == "ACGTACGTTTGA"


def test_corrupt_or_foreign_release_manifest(tmp_path, trained):
    out = tmp_path / "released"
    make_release(trained["base"], trained["sft"], trained["data"], out)
    (out / "manifest.json").write_text('{"stage": "index", "format_version": 1}')
    with pytest.raises(ReleaseError, match="'index' manifest, expected 'release'"):
        check_release(out, trained["data"])
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(ReleaseError, match="is corrupt"):
        check_release(out, trained["data"])


def test_make_refuses_wrong_models_and_another_stages_out(tmp_path, trained):
    from dnahlm_rag.errors import DnaHlmError

    with pytest.raises(ReleaseError, match="--base .* is not a trained model folder"):
        make_release(trained["base"].parent, trained["sft"], trained["data"], tmp_path / "r")
    base_with_mix = tmp_path / "runs" / "b"
    shutil.copytree(trained["base"].parent, base_with_mix)
    shutil.copyfile(trained["sft"] / "retrieval_mix.json", base_with_mix / "final" / "retrieval_mix.json")
    with pytest.raises(ReleaseError, match="--sft .* is not a tuned model"):
        make_release(trained["base"], base_with_mix / "final", trained["data"], tmp_path / "r")
    run = tmp_path / "runs" / "pretrain-copy"
    shutil.copytree(trained["base"].parent, run)
    (run / "manifest.json").write_text('{"stage": "pretrain", "format_version": 1}')
    with pytest.raises(DnaHlmError, match="holds a 'pretrain' stage"):
        make_release(trained["base"], trained["sft"], trained["data"], run)
    assert (run / "final" / "model.safetensors").is_file() and not (tmp_path / "r").exists()


def test_check_refuses_an_incomplete_manifest(tmp_path, trained):
    out = tmp_path / "released"
    make_release(trained["base"], trained["sft"], trained["data"], out)
    good = json.loads((out / "manifest.json").read_text())
    for m in ('{"stage": "release", "format_version": 1}', '{"stage": "release", "format_version": 1, "files": []}'):
        (out / "manifest.json").write_text(m)
        with pytest.raises(ReleaseError, match="is incomplete"):
            check_release(out, trained["data"])
    outside = tmp_path / "outside.txt"
    outside.write_text("not released")
    for name in ("../outside.txt", str(outside)):  # a file outside the release is never hashed as part of it
        bad = {**good, "files": {**good["files"], name: "0" * 64}}
        (out / "manifest.json").write_text(json.dumps(bad))
        with pytest.raises(ReleaseError, match="a file outside the release folder"):
            check_release(out, trained["data"])
