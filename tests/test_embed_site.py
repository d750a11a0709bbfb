"""Site-window embedding: centre alignment, gauss and mi weights, bad bases, state, index round trip,
splice neighbours."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

from dnahlm_rag.embed.site import SiteConfig, SiteEmbedder
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.index import IndexConfig, SegmentIndex, build_index
from dnahlm_rag.instruct import TrainNeighbours, train_neighbours
from dnahlm_rag.metrics import knn_vote

from rag_fixtures import random_dna


def test_vectors_are_unit_and_case_blind() -> None:
    e = SiteEmbedder(SiteConfig(length=20, sigma=3.0, weighting="gauss"))
    s = random_dna(random.Random(0), 20)
    v = e.embed([s, s.lower()])
    assert v.shape == (2, 80 + 16 * 19) and v.dtype == np.float32  # 20 bases, 19 adjacent pairs
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0) and (v[0] == v[1]).all()


def test_bases_near_the_centre_weigh_most() -> None:
    e = SiteEmbedder(SiteConfig(length=20, sigma=3.0, weighting="gauss"))
    base = "A" * 20
    near = base[:10] + "C" + base[11:]  # position 10: next to the centre (9.5)
    far = "C" + base[1:]  # position 0: far from it
    v = e.embed([base, near, far])
    assert v[0] @ v[2] > v[0] @ v[1]  # a change far from the site costs less similarity


def test_n_and_iupac_are_no_evidence_and_all_n_is_zero() -> None:
    e = SiteEmbedder(SiteConfig(length=8, sigma=2.0, weighting="gauss"))
    v = e.embed(["ACGTNRYA", "ACGTAAAA", "NNNNNNNN", ""])
    assert float(np.abs(v[2]).sum()) == 0.0 and float(np.abs(v[3]).sum()) == 0.0
    raw, pairs = v[0][:32].reshape(8, 4), v[0][32:].reshape(7, 16)
    assert (raw[4:7] == 0).all() and (raw[[0, 1, 2, 3, 7]] > 0).any(axis=1).all()  # N, R, Y: zero rows
    assert (pairs[3:7] == 0).all() and (pairs[:3] > 0).any(axis=1).all()  # so is every pair holding one
    assert pairs[0, 4 * 0 + 1] > 0  # the pair at (0, 1) is A then C

def test_other_lengths_are_centre_aligned() -> None:
    e = SiteEmbedder(SiteConfig(length=10, sigma=100.0, weighting="gauss"))
    core = "ACGTACGTAC"
    longer = "TTT" + core + "GGG"  # the same 10 bases around the same centre
    shorter = core[2:8]  # the middle 6 bases
    v = e.embed([core, longer, shorter])
    assert np.allclose(v[0], v[1], atol=1e-6)
    raw = v[2][:40].reshape(10, 4)
    assert (raw[[0, 1, 8, 9]] == 0).all() and (raw[2:8] > 0).any(axis=1).all()


def test_bad_config_names_the_key() -> None:
    with pytest.raises(DnaHlmError, match="sigma"):
        SiteEmbedder(SiteConfig(sigma=0))
    with pytest.raises(DnaHlmError, match="length"):
        SiteEmbedder(SiteConfig(length=0))
    with pytest.raises(DnaHlmError, match="weighting"):
        SiteEmbedder(SiteConfig(weighting="idf"))
    with pytest.raises(DnaHlmError, match="pair_weight"):
        SiteEmbedder(SiteConfig(pair_weight=-1))


def test_mi_weights_need_labels_and_information() -> None:
    seqs = ["ACGT", "ACGA"]
    with pytest.raises(DnaHlmError, match="labels"):
        SiteEmbedder(SiteConfig(length=4)).fit(seqs)
    with pytest.raises(DnaHlmError, match="not fitted"):
        SiteEmbedder(SiteConfig(length=4)).embed(seqs)
    with pytest.raises(DnaHlmError, match="tells the labels apart"):
        SiteEmbedder(SiteConfig(length=4)).fit(seqs, ["x", "x"])


def test_mi_weights_pick_the_informative_bases() -> None:
    """Only position 30 (G in donors) tells the labels apart: every other base weighs nothing."""
    rng = random.Random(5)
    rows = [random_dna(rng, 60) for _ in range(200)]
    labels = ["donor" if i % 2 else "other" for i in range(200)]
    seqs = [s[:30] + ("G" if lab == "donor" else "C") + s[31:] for s, lab in zip(rows, labels)]
    e = SiteEmbedder(SiteConfig()).fit(seqs, labels)
    w = e.weights
    assert w[30, 2] == pytest.approx(1.0, abs=1e-6) and w[30, 1] == pytest.approx(1.0, abs=1e-6)  # 1 bit each
    assert w[30, [0, 3]].max() == 0.0 and np.delete(w, 30, axis=0).max() < 0.25  # chance MI of random bases
    back = SiteEmbedder.from_state(e.state())
    assert np.array_equal(back.embed(seqs[:5]), e.embed(seqs[:5]))


def test_pairs_see_what_single_bases_cannot() -> None:
    """The label is whether positions 29 and 30 hold the same base: no single base tells, the pair does."""
    rng = random.Random(7)
    def rows(n: int) -> tuple[list[str], list[str]]:
        seqs, labels = [], []
        for i in range(n):
            s = list(random_dna(rng, 60))
            s[30] = s[29] if i % 2 else rng.choice([b for b in "ACGT" if b != s[29]])
            seqs.append("".join(s))
            labels.append("same" if i % 2 else "different")
        return seqs, labels
    (tr, ytr), (te, yte) = rows(800), rows(200)

    def knn1(cfg: SiteConfig) -> float:
        e = SiteEmbedder(cfg).fit(tr, ytr)
        best = (e.embed(te) @ e.embed(tr).T).argmax(axis=1)
        return float(np.mean([ytr[j] == y for j, y in zip(best, yte)]))

    with_pairs, singles = knn1(SiteConfig()), knn1(SiteConfig(pair_weight=0))
    assert with_pairs > 0.9 and singles < 0.7, (with_pairs, singles)
    e = SiteEmbedder(SiteConfig()).fit(tr, ytr)
    assert e.pair_weights.shape == (59, 16) and e.pair_weights[29].min() > np.delete(e.pair_weights, 29, 0).max()
    assert SiteEmbedder(SiteConfig(pair_weight=0)).dim == 240 and e.dim == 240 + 59 * 16
    back = SiteEmbedder.from_state(e.state())
    assert np.array_equal(back.embed(te[:5]), e.embed(te[:5]))
    with pytest.raises(DnaHlmError, match="pair_weights of shape"):
        SiteEmbedder.from_state({**e.state(), "pair_weights": None})


def _junction_rows(n: int, seed: int) -> list[dict]:
    """Random 60-base windows: donors carry GT at [30, 32), acceptors AG at [28, 30), others neither."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        s = list(random_dna(rng, 60))
        label = ("donor", "acceptor", "neither")[i % 3]
        if label == "donor":
            s[30:32] = "GT"
        elif label == "acceptor":
            s[28:30] = "AG"
        else:
            s[28:32] = rng.choice(["CCTT", "TTCC", "ACCA"])
        rows.append({"id": f"r{i}", "seq": "".join(s), "label": label})
    return rows


def test_site_neighbours_share_the_junction_label() -> None:
    train, test = _junction_rows(300, 1), _junction_rows(60, 2)
    site = train_neighbours("splice", train)
    assert site.level == "site" and isinstance(site, TrainNeighbours)
    kmer = TrainNeighbours(train)

    def acc(nb) -> float:
        hits = nb.search([r["seq"] for r in test], k=1)
        return float(np.mean([train[h[0][0]]["label"] == r["label"] for h, r in zip(hits, test)]))

    assert acc(site) >= 0.9 and acc(site) > acc(kmer) + 0.3  # k-mer profiles cannot see where the GT is


def test_site_index_round_trip(tmp_path: Path) -> None:
    docs = [{**r, "split": "train"} for r in _junction_rows(30, 3)]
    cfg = IndexConfig(embedder="site")
    out = tmp_path / "indexes" / "splice"
    m = build_index(docs, out, cfg, {"task": "splice"}, show_progress=False)
    assert m["level"] == "dna" and m["embedder"]["seq"] == {
        "name": "site", "version": 3, "params": {"length": 60, "weighting": "mi", "sigma": 3.0, "pair_weight": 1.5}}
    assert sorted(p.name for p in out.iterdir()) == ["docstore.jsonl", "embedder.json", "index.faiss", "manifest.json"]
    idx = SegmentIndex.load(out, expect_embedder="site")
    hit = idx.search([docs[4]["seq"]], k=1)[0][0]
    assert hit.doc["id"] == docs[4]["id"] and hit.score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(DnaHlmError, match="labelled windows"):  # mi weights need labels
        build_index([{**d, "label": None} for d in docs], tmp_path / "x", cfg, {}, show_progress=False)


@pytest.mark.realdata
def test_on_real_splice_valid_site_neighbours_beat_kmer_profiles(tmp_path_factory) -> None:
    """The reason splice uses the site embedder with mi weights, on the real StatLog windows (r-cran-mlbench from the
    Debian archive, split as the default data recipe splits it; nothing from test is read)."""
    from dnahlm_rag.data.fetch import apt_available, fetch_packages
    from dnahlm_rag.data.recipe import load_data_recipe
    from dnahlm_rag.data.splits import stratified_split
    from dnahlm_rag.data.statlog import read_statlog

    if not apt_available():
        pytest.skip("apt-get/dpkg-deb not available")
    cache = Path(os.environ.get("DNAHLM_CACHE") or tmp_path_factory.mktemp("cache"))
    fetch_packages(["r-cran-mlbench"], cache, progress=False)
    rda = next((cache / "extracted" / "r-cran-mlbench").rglob("DNA.rda"))
    recipe = load_data_recipe("default")
    split = stratified_split(read_statlog(rda), recipe.splice.valid_fraction, recipe.splice.test_fraction, recipe.seed)
    train, valid = split["train"], split["valid"]

    def knn3(nb) -> float:
        hits = nb.search([r["seq"] for r in valid], k=3)
        best = [knn_vote([train[i]["label"] for i, _ in h], 3) for h in hits]
        return float(np.mean([b == r["label"] for b, r in zip(best, valid)]))

    site, kmer = knn3(train_neighbours("splice", train)), knn3(TrainNeighbours(train))
    gauss = knn3(TrainNeighbours(train, embedder=SiteEmbedder(SiteConfig(weighting="gauss"))))
    assert site >= 0.92 and gauss >= 0.85 and kmer < 0.65, (site, gauss, kmer)
