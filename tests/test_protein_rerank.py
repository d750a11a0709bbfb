"""Tests for dnahlm_rag.protein_rerank: the diagonal re-scorer."""
from __future__ import annotations

import doctest
import random

import numpy as np
import pytest

import dnahlm_rag.protein_rerank as pr
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.protein_rerank import AMINO_ACIDS, DiagonalConfig, DiagonalScorer, blosum62, encode, words


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
    """Best ungapped segment over every diagonal that shares a k-mer word (slow, obvious)."""
    q, t, m = encode(query), encode(target), blosum62()
    qw = {}
    for i, w in enumerate(words(q, k)):
        if w >= 0:
            qw.setdefault(int(w), []).append(i)
    diags = {i - j for j, w in enumerate(words(t, k)) if w >= 0 for i in qw.get(int(w), [])}
    if not diags:
        return 0.0
    self_score = max(1.0, float(sum(m[a, a] for a in q)))
    return max(_kadane(q, t, d, m) for d in diags) / self_score


def test_doctest() -> None:
    assert doctest.testmod(pr).failed == 0


def test_self_score_is_one_and_blosum_is_symmetric() -> None:
    rng = random.Random(1)
    p = _random_protein(rng, 150)
    assert DiagonalScorer([p]).score(p, [0])[0] == pytest.approx(1.0)
    m = blosum62()
    assert m.shape == (21, 21) and (m == m.T).all() and m[AMINO_ACIDS.index("W"), AMINO_ACIDS.index("W")] == 11


def test_homolog_with_substitutions_outranks_composition_matched_decoy() -> None:
    rng = random.Random(2)
    query = _random_protein(rng, 250)
    homolog = _mutate(rng, query, 0.5)  # about 50% identity: below what cosine of 3-mers sees well
    homolog = homolog[:100] + homolog[103:]  # and a 3-residue deletion
    decoy = "".join(rng.sample(homolog, len(homolog)))  # same composition, no order
    s = DiagonalScorer([decoy, homolog]).score(query, [0, 1])
    assert s[1] > 2 * s[0]
    assert s[1] > 0.1
    # the deletion splits the alignment over two diagonals: summing two recovers both pieces
    two = DiagonalScorer([decoy, homolog], DiagonalConfig(diagonals=2)).score(query, [0, 1])
    assert two[1] > 1.5 * s[1]


@pytest.mark.parametrize("k", [2, 3])
def test_every_diagonal_kept_matches_the_reference(k: int) -> None:
    rng = random.Random(3)
    query = _random_protein(rng, 80)
    targets = [_mutate(rng, query, 0.4), _random_protein(rng, 60), "MK", "X" * 30,
               _random_protein(rng, 20) + query[10:50] + "*" + _random_protein(rng, 7), query[::-1]]
    s = DiagonalScorer(targets, DiagonalConfig(k=k, diagonals=10 ** 6, combine="max"))
    got = s.score(query, range(len(targets)))
    want = [_reference(query, t, k) for t in targets]
    np.testing.assert_allclose(got, want)


def test_order_of_targets_does_not_matter() -> None:
    rng = random.Random(4)
    query = _random_protein(rng, 120)
    targets = [_mutate(rng, query, r) for r in (0.2, 0.5, 0.8)] + [_random_protein(rng, 300)]
    s = DiagonalScorer(targets)
    fwd = s.score(query, [0, 1, 2, 3])
    np.testing.assert_allclose(s.score(query, [3, 2, 1, 0]), fwd[::-1])
    assert fwd[0] > fwd[1] > fwd[2]


@pytest.mark.parametrize("query", ["", "M", "MK", "XXXXXXXX", "*" * 40, "mktayiakqrq"])
def test_empty_short_and_odd_queries_do_not_crash(query: str) -> None:
    s = DiagonalScorer(["MKTAYIAKQRQISFVKSHFSRQ", "MK", ""])
    out = s.score(query, [0, 1, 2])
    assert out.shape == (3,) and (out >= 0).all()
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
