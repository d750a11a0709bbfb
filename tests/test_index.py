"""Index folders: build/load round trip, atomic writes, load-time checks, exact vs approximate."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.index import (FaissConfig, IndexConfig, SegmentIndex, _make_faiss, build_index, load_records,
                              protein_records)
from dnahlm_rag.seq import reverse_complement

from rag_fixtures import build_small_index, make_segments, make_task, mutate

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("idx")
    return root, build_small_index(root)


def test_round_trip_and_manifest(built) -> None:
    root, folder = built
    assert sorted(p.name for p in folder.iterdir()) == ["docstore.jsonl", "embedder.json", "index.faiss", "manifest.json"]
    idx = SegmentIndex.load(folder, expect_embedder="kmer")
    m = idx.manifest
    assert m["stage"] == "index" and m["metric"] == "inner_product" and m["kind"] == "flat"
    assert m["embedder"]["seq"]["name"] == "kmer" and m["embedder"]["seq"]["version"] == 1
    assert m["dim"] == idx.embedder.dim and m["count"] == len(idx) == 24  # 3 of every 5 segments are train
    assert set(m["files"]) == {"index.faiss", "docstore.jsonl", "embedder.json"}
    assert len(m["source"]["files"]["segments.jsonl"]) == 64
    # only train segments: no test item can retrieve itself
    assert {d["split"] for d in idx.docs} == {"train"}
    # a mutated reverse-complemented copy of a train segment finds it first
    rng = random.Random(3)
    doc = idx.docs[5]
    hit = idx.search([reverse_complement(mutate(rng, doc["seq"], 0.03))], k=3)[0][0]
    assert hit.doc["id"] == doc["id"] and hit.score > 0.5 and hit.rank == 0


def test_write_is_atomic(built, monkeypatch) -> None:
    root, folder = built
    before = (folder / "index.faiss").read_bytes()
    import faiss

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", boom)
    docs, source = load_records(root / "data")
    with pytest.raises(RuntimeError, match="disk full"):
        build_index(docs, folder, IndexConfig(embedder="kmer"), source, show_progress=False)
    assert (folder / "index.faiss").read_bytes() == before
    assert not [p for p in folder.parent.iterdir() if p.name.endswith(".tmp")]
    SegmentIndex.load(folder)


def _copy(folder, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(folder, dst)
    return dst


def test_truncated_faiss_file_is_a_clear_error(built, tmp_path) -> None:
    f = _copy(built[1], tmp_path)
    data = (f / "index.faiss").read_bytes()
    (f / "index.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(DnaHlmError, match="index.faiss does not match its manifest hash"):
        SegmentIndex.load(f)


def test_corrupt_faiss_with_matching_hash_is_a_clear_error(built, tmp_path) -> None:
    from dnahlm_rag.atomic import sha256_file

    f = _copy(built[1], tmp_path)
    (f / "index.faiss").write_bytes(b"not a faiss index at all")
    m = json.loads((f / "manifest.json").read_text())
    m["files"]["index.faiss"] = sha256_file(f / "index.faiss")
    (f / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DnaHlmError, match="cannot read index.faiss"):
        SegmentIndex.load(f)


def test_edited_docstore_and_missing_manifest_are_errors(built, tmp_path) -> None:
    f = _copy(built[1], tmp_path)
    with open(f / "docstore.jsonl", "a") as fh:
        fh.write('{"id": "extra"}\n')
    with pytest.raises(DnaHlmError, match="docstore.jsonl does not match"):
        SegmentIndex.load(f)
    (f / "manifest.json").unlink()
    with pytest.raises(DnaHlmError, match="no manifest.json"):
        SegmentIndex.load(f)
    with pytest.raises(DnaHlmError, match="no index at"):
        SegmentIndex.load(tmp_path / "nowhere")


def test_query_with_nothing_to_compare_gets_no_hits(built) -> None:
    idx = SegmentIndex.load(built[1])
    hits = idx.search(["NNNNNNNNNNNNRYKM", idx.docs[0]["seq"]], k=3)
    assert hits[0] == [] and len(hits[1]) == 3  # all-N: no arbitrary score-0 neighbours


def test_wrong_embedder_is_a_clear_error(built) -> None:
    with pytest.raises(DnaHlmError, match="built with embedder 'kmer', not 'lm'"):
        SegmentIndex.load(built[1], expect_embedder="lm")


def test_task_index_keeps_labels(tmp_path) -> None:
    folder = build_small_index(tmp_path, task="feature_type", name="ft")
    idx = SegmentIndex.load(folder)
    assert idx.manifest["source"]["task"] == "feature_type" and len(idx) == 30
    assert {d["label"] for d in idx.docs} == {"CDS", "tRNA", "rRNA"}
    with pytest.raises(DnaHlmError, match="no task 'nope'"):
        load_records(tmp_path / "data", task="nope")


def test_bad_records_are_errors_naming_the_record(tmp_path) -> None:
    rows = make_segments(tmp_path / "data" / "segments.jsonl", n=5)
    rows[0]["seq"] = "ACGTQ"
    (tmp_path / "data" / "segments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DnaHlmError, match=f"record {rows[0]['id']}.*not DNA"):
        load_records(tmp_path / "data")
    with pytest.raises(DnaHlmError, match="nothing to index"):
        load_records(tmp_path / "data", splits=["nosuchsplit"])
    with pytest.raises(DnaHlmError, match="segments.jsonl not found"):
        load_records(tmp_path / "empty")


def test_approximate_indexes_agree_with_exact(tmp_path) -> None:
    # clustered unit vectors (as real embeddings are): IVF, HNSW and PQ recall@10 vs flat >= 0.95
    import faiss

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 64))
    x = centres[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = x[:200] + 0.05 * rng.normal(size=(200, 64)).astype(np.float32)
    _, exact = _make_faiss(x, FaissConfig(kind="flat")).search(q, 10)
    for kind in ("ivf", "hnsw", "pq"):
        index = _make_faiss(x, FaissConfig(kind=kind, nprobe=16))
        _, approx = index.search(q, 10)
        recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
        assert recall >= 0.95, (kind, recall)
        faiss.write_index(index, str(tmp_path / f"{kind}.faiss"))  # FAISS's own file, read back the same
        assert np.array_equal(faiss.read_index(str(tmp_path / f"{kind}.faiss")).search(q, 10)[1], approx)
    # pq re-ranks exactly: with every vector a candidate it is exact search
    _, all_cands = _make_faiss(x, FaissConfig(kind="pq", k_factor=400)).search(q, 10)
    assert np.mean(all_cands == exact) > 0.99
    with pytest.raises(DnaHlmError, match="pq index needs at least 624 vectors"):
        _make_faiss(x[:100], FaissConfig(kind="pq"))
    odd = np.ascontiguousarray(x[:, :63])  # 63 dims: one dimension per code
    assert _make_faiss(odd, FaissConfig(kind="pq")).ntotal == 4000


def test_kmer_text_index_and_question_fusion(tmp_path) -> None:
    folder = build_small_index(tmp_path, embedder="kmer+text", name="kt")
    idx = SegmentIndex.load(folder, expect_embedder="kmer+text")
    assert idx.manifest["embedder"]["fusion"] == {"seq_weight": 0.8, "text_weight": 0.2}
    seq = idx.docs[0]["seq"]
    plain = idx.search([seq], k=len(idx))[0]
    asked = idx.search([seq], ["Which ribosomal RNA is this?"], k=len(idx))[0]
    assert plain[0].doc["id"] == idx.docs[0]["id"] and plain[0].score == pytest.approx(1.0, abs=1e-4)
    # the question moves rRNA descriptions up among the rest
    rank = lambda hits: np.mean([h.rank for h in hits if h.doc["type"] == "rRNA"])  # noqa: E731
    assert rank(asked) < rank(plain)


def test_protein_records_keep_only_cds() -> None:
    docs = [{"id": "a", "type": "CDS", "organism": "Mycoplasma genitalium", "seq": "ATG" + "TGA" * 12 + "TAA"},
            {"id": "b", "type": "tRNA", "organism": "x", "seq": "ACGT" * 20},
            {"id": "c", "type": "CDS", "organism": "x", "seq": "ATGTAA"}]
    out = protein_records(docs, min_aa=10)
    assert [d["id"] for d in out] == ["a"] and out[0]["table"] == 4 and out[0]["protein"] == "M" + "W" * 12
    with pytest.raises(DnaHlmError, match="nothing to index at the protein level"):
        protein_records(docs[1:], min_aa=10)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["embedder"].pop("seq"), "is malformed \\(KeyError: 'seq'\\)"),
    (lambda m: m.__setitem__("faiss", "flat"), "is malformed \\(AttributeError"),
    (lambda m: m["embedder"].__setitem__("fusion", {"zzz": 1}), "is malformed \\(TypeError"),
    (lambda m: m.__setitem__("files", {}), "lists no hash of index.faiss and docstore.jsonl"),
])
def test_malformed_manifest_sections_are_one_line_errors(built, tmp_path, edit, match) -> None:
    """A hand-edited manifest once gave a KeyError/TypeError traceback, or (no file hashes) loaded unchecked."""
    f = _copy(built[1], tmp_path)
    m = json.loads((f / "manifest.json").read_text())
    edit(m)
    (f / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DnaHlmError, match=match):
        SegmentIndex.load(f)


def test_records_that_are_not_utf8_or_whose_seq_is_no_string_are_errors(tmp_path) -> None:
    from dnahlm_rag.index import read_jsonl

    rows = make_segments(tmp_path / "data" / "segments.jsonl", n=5)
    p = tmp_path / "data" / "segments.jsonl"
    p.write_bytes(json.dumps(rows[0]).encode() + b"\n" + "\ufeff{}".encode("utf-16"))
    with pytest.raises(DnaHlmError, match="segments.jsonl:2: not UTF-8 text"):
        list(read_jsonl(p))
    rows[0]["seq"] = None
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DnaHlmError, match=f"record {rows[0]['id']}: 'seq' is null, expected a string of DNA"):
        load_records(tmp_path / "data", splits=[rows[0]["split"]])
    with pytest.raises(DnaHlmError, match="no records in split\\(s\\) nosuchsplit of .*segments.jsonl$"):
        load_records(tmp_path / "data", splits=["nosuchsplit"])


def test_out_of_range_faiss_recipe_numbers_are_errors(tmp_path) -> None:
    from dnahlm_rag.errors import RecipeError
    from dnahlm_rag.index import check_index_config

    cfg = IndexConfig(embedder="kmer")
    check_index_config(cfg)
    cfg.faiss.nprobe = 0
    with pytest.raises(RecipeError, match="'faiss.nprobe': must be >= 1, got 0"):
        check_index_config(cfg)
    cfg.faiss.nprobe, cfg.faiss.ef_search = 32, -3
    with pytest.raises(RecipeError, match="'faiss.ef_search'"):
        build_index([], tmp_path / "x", cfg, {})
    assert not (tmp_path / "x").exists()


def test_cli_index_build_refuses_bad_names_splits_and_outputs_before_any_work(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from dnahlm_rag import index as index_mod
    from dnahlm_rag.cli.app import app

    make_task(tmp_path / "data", "promoter")
    monkeypatch.setattr(index_mod, "build_index", lambda *a, **k: pytest.fail("no embedding for a bad command"))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    base = ["index", "build", "--data", str(tmp_path / "data"), "--task", "promoter", "--embedder", "kmer",
            "--out-root", str(tmp_path / "indexes")]
    for extra, message in ((["--name", "../escape"], "give a plain folder name"), (["--name", "."], "plain folder name"),
                           (["--name", ""], "plain folder name"), (["--splits", ",,"], "names no split"),
                           (["--out-root", str(blocker)], "afile is a file, not a folder")):
        r = CliRunner().invoke(app, base + extra)
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, (extra, r.output)
    assert not (tmp_path / "escape").exists() and blocker.read_text() == "x"
