"""Search-effort calibration of approximate indexes (dnahlm_rag/ann_effort.py) and its use at build."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dnahlm_rag.ann_effort import EFFORTS, calibrate, recall_at
from dnahlm_rag.errors import RecipeError
from dnahlm_rag.index import (FaissConfig, IndexConfig, SegmentIndex, _make_faiss, build_index, check_index_config,
                              load_records)

from rag_fixtures import make_segments


def _spread(n: int, d: int, seed: int) -> np.ndarray:
    """Unit vectors with no cluster structure: the hard case for a partition (as cross-species queries are)."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_recall_at_counts_shared_ids_and_ignores_missing():
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at(exact, exact) == 1.0
    assert recall_at(np.array([[4, 3, 9, -1], [-1, -1, -1, -1]]), exact) == pytest.approx(0.25)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_calibration_raises_effort_until_the_target_recall(kind):
    x, q = _spread(3000, 32, 0), _spread(300, 32, 1)
    index = _make_faiss(x, FaissConfig(kind=kind, nprobe=1, ef_search=16, hnsw_m=8))
    cal = calibrate(index, kind, x, q, target=0.95)
    assert cal.met and cal.recall >= 0.95
    efforts = [e for e, _, _ in cal.curve]
    assert efforts == sorted(efforts) and len(efforts) >= 2  # the first effort did not suffice here
    assert all(r < 0.95 for _, r, _ in cal.curve[:-1])  # the least effort that meets it
    # the index keeps the chosen effort, and searching at it gives the recall measured
    assert (index.nprobe if kind == "ivf" else index.hnsw.efSearch) == cal.effort
    import faiss

    exact = faiss.IndexFlatIP(32)
    exact.add(x)
    assert recall_at(index.search(q, 10)[1], exact.search(q, 10)[1]) == pytest.approx(cal.recall, abs=1e-4)


def test_an_unreachable_target_keeps_the_largest_effort_and_says_so():
    x, q = _spread(2000, 32, 0), _spread(100, 32, 1)
    index = _make_faiss(x, FaissConfig(kind="ivf", nlist=40))
    cal = calibrate(index, "ivf", x, q, target=1.01)
    assert not cal.met and cal.effort == 40  # capped at the list count, where IVF is exact
    assert cal.recall == pytest.approx(1.0)
    assert cal.curve[-1][0] == 40 and cal.curve[0][0] == EFFORTS["ivf"][0]


def test_build_chooses_the_effort_on_held_out_records_and_load_uses_it(tmp_path):
    data = tmp_path / "data"
    make_segments(data / "segments.jsonl", n=120)
    docs, source = load_records(data, splits=["train"])
    held_out, _ = load_records(data, splits=["valid"])
    cfg = IndexConfig(embedder="kmer")
    cfg.faiss.kind, cfg.faiss.nlist, cfg.faiss.nprobe = "ivf", 8, 1
    m = build_index(docs, tmp_path / "ivf", cfg, source, held_out=held_out, show_progress=False)
    cal = m["faiss"]["calibration"]
    assert cal["kind"] == "ivf" and cal["queries"] == len(held_out) and cal["met"]
    assert m["faiss"]["nprobe"] == cal["effort"] and cal["recall"] >= 0.98
    assert json.loads((tmp_path / "ivf" / "manifest.json").read_text())["faiss"]["nprobe"] == cal["effort"]
    assert SegmentIndex.load(tmp_path / "ivf").index.nprobe == cal["effort"]
    # without held-out records (or with target 0) the recipe's effort stays and nothing is claimed
    m = build_index(docs, tmp_path / "ivf2", cfg, source, show_progress=False)
    assert m["faiss"]["calibration"] is None and m["faiss"]["nprobe"] == 1


def test_recipe_checks_the_target_recall():
    cfg = IndexConfig()
    cfg.faiss.target_recall = 1.5
    with pytest.raises(RecipeError, match="target_recall"):
        check_index_config(cfg)


def test_index_build_cli_reports_the_chosen_effort(tmp_path):
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    make_segments(tmp_path / "data" / "segments.jsonl", n=120)
    args = ["index", "build", "--data", str(tmp_path / "data"), "--embedder", "kmer", "--kind", "hnsw",
            "--out-root", str(tmp_path / "indexes")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "search effort ef_search = " in res.output and "24 held-out valid records" in res.output
    m = json.loads((tmp_path / "indexes" / "segments" / "manifest.json").read_text())
    assert m["faiss"]["ef_search"] == m["faiss"]["calibration"]["effort"]
    # the valid split indexed too: nothing held out, the recipe's effort, said in one line
    res = CliRunner().invoke(app, args + ["--splits", "train,valid", "--name", "both"])
    assert res.exit_code == 0, res.output
    assert "the valid split is indexed" in res.output
    assert json.loads((tmp_path / "indexes" / "both" / "manifest.json").read_text())["faiss"]["calibration"] is None
