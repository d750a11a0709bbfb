"""Tests for dnahlm_rag.protein_rerank: the diagonal re-scorer."""
from __future__ import annotations

import doctest
import random

import numpy as np
import pytest

import dnahlm_rag.protein_rerank as pr
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.protein_rerank import (AMINO_ACIDS, KA_K, KA_LAMBDA, DiagonalConfig, DiagonalScorer, blosum62, encode,
                                       words)


def _random_protein(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(AMINO_ACIDS) for _ in range(n))


def _mutate(rng: random.Random, p: str, share: float) -> str:
    """``p`` with about ``share`` of its residues replaced by random other residues."""
    return "".join(rng.choice(AMINO_ACIDS.replace(a, "")) if rng.random() < share else a for a in p)


def _kadane(q: np.ndarray, t: np.ndarray, d: int, m: np.ndarray) -> int:
    best = run = 0
    for i in range(max(d, 0), min(len(q), len(t) + d)):
        run = max(0, run + int(m[q[i], t[i - d]]))
        best = max(best, run)
    return best


def _reference(query: str, target: str, k: int) -> float:
    """Best ungapped segment (raw score) over every diagonal that shares a k-mer word (slow, obvious)."""
    q, t, m = encode(query), encode(target), blosum62()
    qw = {}
    for i, w in enumerate(words(q, k)):
        if w >= 0:
            qw.setdefault(int(w), []).append(i)
    diags = {i - j for j, w in enumerate(words(t, k)) if w >= 0 for i in qw.get(int(w), [])}
    if not diags:
        return 0.0
    return float(max(_kadane(q, t, d, m) for d in diags))


def test_doctest() -> None:
    assert doctest.testmod(pr).failed == 0


def test_self_match_scores_the_blosum_diagonal_and_its_evalue() -> None:
    rng = random.Random(1)
    p = _random_protein(rng, 150)
    s = DiagonalScorer([p, p[:60]])
    m = blosum62()
    raw = float(sum(m[a, a] for a in encode(p)))
    assert s.raw(p, [0])[0] == raw
    # -log10 E, E = K m n exp(-lambda S): the same segment in a longer pair is less significant
    assert s.score(p, [0])[0] == pytest.approx((KA_LAMBDA * raw - np.log(KA_K * 150 * 150)) / np.log(10))
    assert s.score(p[:60], [1])[0] == pytest.approx((KA_LAMBDA * s.raw(p[:60], [1])[0] - np.log(KA_K * 60 * 60)) / np.log(10))
    m = blosum62()
    assert m.shape == (21, 21) and (m == m.T).all() and m[AMINO_ACIDS.index("W"), AMINO_ACIDS.index("W")] == 11


def test_homolog_with_substitutions_outranks_composition_matched_decoy() -> None:
    rng = random.Random(2)
    query = _random_protein(rng, 250)
    homolog = _mutate(rng, query, 0.5)  # about 50% identity: below what cosine of 3-mers sees well
    homolog = homolog[:100] + homolog[103:]  # and a 3-residue deletion
    decoy = "".join(rng.sample(homolog, len(homolog)))  # same composition, no order
    scorer = DiagonalScorer([decoy, homolog])
    s = scorer.raw(query, [0, 1])
    assert s[1] > 2 * s[0]
    sig = scorer.score(query, [0, 1])
    assert sig[1] > 10 and sig[0] < 2  # E < 1e-10 for the homolog, chance level for the decoy
    # the deletion splits the alignment over two diagonals: summing two recovers both pieces
    two = DiagonalScorer([decoy, homolog], DiagonalConfig(diagonals=2)).raw(query, [0, 1])
    assert two[1] > 1.5 * s[1]


def test_rank_puts_the_homolog_first_and_keeps_ties_in_candidate_order() -> None:
    rng = random.Random(3)
    query = _random_protein(rng, 200)
    homolog = _mutate(rng, query, 0.3)
    decoy = "".join(rng.sample(homolog, len(homolog)))
    scorer = DiagonalScorer([decoy, homolog, homolog])  # rows 1 and 2 are the same protein: a tie
    ranked = scorer.rank(query, [2, 0, 1])
    assert [t for t, _ in ranked] == [2, 1, 0] and ranked[0][1] == ranked[1][1] > ranked[2][1]
    assert [t for t, _ in scorer.rank(query, [1, 2, 0])] == [1, 2, 0]
    assert scorer.rank(query, []) == []


def test_evalue_ranks_a_gene_above_a_short_orfs_chance_hit() -> None:
    """The reason scores are E-values: a short ORF's chance hit covers more of *its* ORF than a
    real homolog covers of a long gene, so a score in units of the ORF's self-score ranks it first."""
    rng = random.Random(7)
    gene = _random_protein(rng, 400)
    homolog = _mutate(rng, gene, 0.6)
    short = _random_protein(rng, 35)
    chance = _random_protein(rng, 150) + short[10:20] + _random_protein(rng, 150)  # 10 residues shared
    s = DiagonalScorer([homolog, chance])
    m = blosum62()
    self_gene, self_short = (float(sum(m[a, a] for a in encode(x))) for x in (gene, short))
    raw_gene, raw_short = s.raw(gene, [0])[0], s.raw(short, [1])[0]
    assert raw_short / self_short > raw_gene / self_gene  # the old unit gets this backwards (the test can fail)
    assert s.score(gene, [0])[0] > s.score(short, [1])[0] + 5


@pytest.mark.parametrize("k", [2, 3])
def test_every_diagonal_kept_matches_the_reference(k: int) -> None:
    rng = random.Random(3)
    query = _random_protein(rng, 80)
    targets = [_mutate(rng, query, 0.4), _random_protein(rng, 60), "MK", "X" * 30,
               _random_protein(rng, 20) + query[10:50] + "*" + _random_protein(rng, 7), query[::-1]]
    s = DiagonalScorer(targets, DiagonalConfig(k=k, diagonals=10 ** 6, combine="max"))
    got = s.raw(query, range(len(targets)))
    want = [_reference(query, t, k) for t in targets]
    np.testing.assert_allclose(got, want)


def test_order_of_targets_does_not_matter() -> None:
    rng = random.Random(4)
    query = _random_protein(rng, 120)
    targets = [_mutate(rng, query, r) for r in (0.2, 0.5, 0.8)] + [_random_protein(rng, 300)]
    s = DiagonalScorer(targets)
    fwd = s.score(query, [0, 1, 2, 3])
    np.testing.assert_allclose(s.score(query, [3, 2, 1, 0]), fwd[::-1])
    np.testing.assert_allclose(s.raw(query, [3, 2, 1, 0]), s.raw(query, [0, 1, 2, 3])[::-1])
    assert fwd[0] > fwd[1] > fwd[2]


@pytest.mark.parametrize("query", ["", "M", "MK", "XXXXXXXX", "*" * 40, "mktayiakqrq"])
def test_empty_short_and_odd_queries_do_not_crash(query: str) -> None:
    s = DiagonalScorer(["MKTAYIAKQRQISFVKSHFSRQ", "MK", ""])
    out = s.raw(query, [0, 1, 2])
    assert out.shape == (3,) and (out >= 0).all()
    assert np.isfinite(s.score(query, [0, 1, 2])).all()
    assert s.score(query, []).shape == (0,)


def test_lower_case_query_scores_like_upper_case() -> None:
    s = DiagonalScorer(["MKTAYIAKQRQISFVKSHFSRQ"])
    assert s.score("mktayiakqrq", [0])[0] == pytest.approx(s.score("MKTAYIAKQRQ", [0])[0])


def test_empty_collection_and_bad_positions() -> None:
    assert len(DiagonalScorer([])) == 0
    s = DiagonalScorer(["MKTAYIAKQRQ"])
    with pytest.raises(DnaHlmError):
        s.score("MKTAYIAKQRQ", [1])
    with pytest.raises(DnaHlmError):
        DiagonalScorer(["MK"], DiagonalConfig(k=0))
    with pytest.raises(DnaHlmError):
        DiagonalScorer(["MK"], DiagonalConfig(combine="mean"))
