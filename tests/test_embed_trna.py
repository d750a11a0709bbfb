"""tRNA embedding: anticodon reading on real tRNAs, bad input, similarity, neighbours, index."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from dnahlm_rag.embed.trna import TrnaConfig, TrnaEmbedder, find_anticodon
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.index import IndexConfig, SegmentIndex, build_index
from dnahlm_rag.instruct import TrainNeighbours, task_embedder, train_neighbours
from dnahlm_rag.metrics import knn_vote
from dnahlm_rag.seq import reverse_complement as rc

from rag_fixtures import mutate

# Published tRNA genes (5'->3', with the 3' CCA): E. coli tRNA-Phe and tRNA-fMet, yeast tRNA-Phe.
ECOLI_PHE = "GCCCGGATAGCTCAGTCGGTAGAGCAGGGGATTGAAAATCCCCGTGTCCTTGGTTCGATTCCGAGTCCGGGCACCA"
ECOLI_FMET = "CGCGGGGTGGAGCAGCCTGGTAGCTCGTCGGGCTCATAACCCGAAGGTCGTCGGTTCAAATCCGGCCCCCGCAACCA"
YEAST_PHE = "GCGGATTTAGCTCAGTTGGGAGAGCGCCAGACTGAAGATCTGGAGGTCCTGTGTTCGATCCACAGAATTCGCACCA"
@pytest.mark.parametrize("seq, anticodon, aa", [(ECOLI_PHE, "GAA", "F"), (ECOLI_FMET, "CAT", "M"),
                                                (YEAST_PHE, "GAA", "F")])
def test_reads_the_anticodon_of_real_trnas(seq: str, anticodon: str, aa: str) -> None:
    a = find_anticodon(seq)
    assert a is not None and (a.anticodon, a.amino_acid) == (anticodon, aa)
    assert seq[a.start:a.end] == anticodon and 30 <= a.start <= 36  # cloverleaf 34-36, D-loops vary
    assert find_anticodon(seq.lower()) == a
    # the arm sits 2 bases later behind a longer D-loop: found there
    b = find_anticodon(seq[:15] + "TT" + seq[15:])
    assert b is not None and (b.anticodon, b.start) == (anticodon, a.start + 2)


def test_nothing_to_read() -> None:
    assert find_anticodon("ACGTACGT") is None  # shorter than the 17-base arm
    a = find_anticodon(ECOLI_PHE)
    assert a is not None
    masked = ECOLI_PHE[:a.start] + "NNN" + ECOLI_PHE[a.end:]
    got = find_anticodon(masked)
    assert got is None or got.start != a.start  # an N anticodon is never decoded
    e = TrnaEmbedder()
    v = e.embed(["", "NNNNNNNNNNNNNNNNNNNNNNNNN", "ACGTACGT"])
    assert float(np.abs(v[:2]).sum()) == 0.0 and np.linalg.norm(v[2]) == pytest.approx(1.0)


def test_the_decoded_amino_acid_counts_most() -> None:
    """One base changed in the anticodon: to another Phe anticodon (AAA reads UUU) or to a Leu one
    (CAA reads UUG). The Phe variant stays nearer, though both differ from the original alike."""
    a = find_anticodon(ECOLI_PHE)
    assert a is not None
    same_aa = ECOLI_PHE[:a.start] + "AAA" + ECOLI_PHE[a.end:]
    other_aa = ECOLI_PHE[:a.start] + "CAA" + ECOLI_PHE[a.end:]
    assert find_anticodon(same_aa).amino_acid == "F" and find_anticodon(other_aa).amino_acid == "L"
    v = TrnaEmbedder().embed([ECOLI_PHE, same_aa, other_aa])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0) and v.shape[1] == TrnaEmbedder().dim == 21 + 64 + 256


def test_bad_config_names_the_key() -> None:
    with pytest.raises(DnaHlmError, match="lo"):
        TrnaEmbedder(TrnaConfig(lo=30, hi=20))
    with pytest.raises(DnaHlmError, match="k must"):
        TrnaEmbedder(TrnaConfig(k=0))
    with pytest.raises(DnaHlmError, match="kmer_weight"):
        TrnaEmbedder(TrnaConfig(kmer_weight=-1))
    with pytest.raises(DnaHlmError, match="table"):
        TrnaEmbedder(TrnaConfig(table=99))


def _trna_rows(n: int, seed: int, rate: float) -> list[dict]:
    """E. coli tRNA-Phe scaffolds mutated outside the anticodon (``rate`` per base) with a random
    anticodon each, labelled with the amino acid it decodes (table 11); stop anticodons skipped."""
    from dnahlm_rag.orfs import translate

    a = find_anticodon(ECOLI_PHE)
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        anti = "".join(rng.choice("ACGT") for _ in range(3))
        aa = translate(rc(anti))
        if aa == "*":
            continue
        s = mutate(rng, ECOLI_PHE[:a.start], rate) + anti + mutate(rng, ECOLI_PHE[a.end:], rate)
        rows.append({"id": f"t{len(rows)}", "seq": s, "label": aa})
    return rows


def test_trna_neighbours_share_the_amino_acid() -> None:
    train, test = _trna_rows(300, 1, 0.03), _trna_rows(60, 2, 0.03)
    nb = train_neighbours("trna_aa", train)
    assert task_embedder("trna_aa") == "trna" and nb.level == "trna"

    def acc(finder) -> float:
        hits = finder.search([r["seq"] for r in test], k=3)
        return float(np.mean([knn_vote([train[i]["label"] for i, _ in h], 3) == r["label"] for h, r in zip(hits, test)]))

    trna, kmer = acc(nb), acc(TrainNeighbours(train))
    assert trna >= 0.9 and trna > kmer + 0.3, (trna, kmer)  # the scaffolds' k-mers say little


def test_trna_index_round_trip(tmp_path: Path) -> None:
    docs = [{**r, "split": "train"} for r in _trna_rows(40, 3, 0.02)]
    out = tmp_path / "indexes" / "trna_aa"
    m = build_index(docs, out, IndexConfig(embedder="trna"), {"task": "trna_aa"}, show_progress=False)
    assert m["embedder"]["seq"]["name"] == "trna" and m["embedder"]["seq"]["params"]["k"] == 4
    idx = SegmentIndex.load(out, expect_embedder="trna")
    hit = idx.search([docs[7]["seq"]], k=1)[0][0]
    assert hit.doc["id"] == docs[7]["id"] and hit.score == pytest.approx(1.0, abs=1e-5)


def test_retriever_provenance_names_the_anticodon(tmp_path: Path) -> None:
    from dnahlm_rag.retriever import SegmentRetriever

    docs = [{**r, "split": "train"} for r in _trna_rows(20, 4, 0.02)]
    build_index(docs, tmp_path / "t", IndexConfig(embedder="trna"), {"task": "trna_aa"}, show_progress=False)
    r = SegmentRetriever(index_dir=str(tmp_path / "t"), k=2)
    (line,) = r.provenance(ECOLI_PHE)
    assert line.startswith("anticodon GAA at 33-36") and "reads UUC: F in table 11" in line
    assert "no anticodon arm" in r.provenance("ACGTACGT")[0]
    build_index(docs, tmp_path / "k", IndexConfig(embedder="kmer"), {"task": "trna_aa"}, show_progress=False)
    assert SegmentRetriever(index_dir=str(tmp_path / "k"), k=2).provenance(ECOLI_PHE) == []
