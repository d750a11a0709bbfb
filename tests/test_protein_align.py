"""Gapped re-scoring of protein candidates (dnahlm_rag/protein_align.py)."""
from __future__ import annotations

import doctest
import random

import numpy as np
import pytest

import dnahlm_rag.protein_align as pa
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.protein_align import SATURATES_8, AlignScorer, make_rescorer
from dnahlm_rag.protein_rerank import DiagonalScorer

AA = "ACDEFGHIKLMNPQRSTVWY"


def _protein(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(AA) for _ in range(n))


def test_doctest() -> None:
    assert doctest.testmod(pa).failed == 0


def test_an_indel_costs_the_alignment_a_gap_but_splits_the_ungapped_diagonal():
    """A homolog with a 5-residue insertion in its middle: the gapped score keeps both halves, the
    best single diagonal only one, so only the alignment ranks it above a half-length exact copy."""
    rng = random.Random(0)
    query = _protein(rng, 200)
    indel = query[:100] + _protein(rng, 5) + query[100:]
    half = query[:120] + _protein(rng, 80)
    targets = [indel, half]
    align = AlignScorer(targets).raw(query, [0, 1])
    assert align[0] > align[1]
    diag = DiagonalScorer(targets).raw(query, [0, 1])
    assert diag[0] < diag[1]


def test_scores_saturating_8_bits_fall_back_to_16_and_evalues_compare_lengths():
    rng = random.Random(1)
    p = _protein(rng, 400)
    s = AlignScorer([p, p[:60], _protein(rng, 400)])
    raw = s.raw(p, [0, 1, 2])
    assert raw[0] > 1000  # far beyond 8-bit lanes (127): the 16-bit kernel ran
    assert raw[1] < raw[0] and raw[2] < 60
    score = s.score(p, [0, 1, 2])
    assert score[0] > score[1] > 5 > score[2]  # -log10 E: the whole copy, a 60-residue copy, chance
    assert [t for t, _ in s.rank(p, [2, 1, 0])] == [0, 1, 2]


def test_a_lower_bound_only_picks_the_kernel_never_the_score(monkeypatch):
    rng = random.Random(2)
    p = _protein(rng, 300)
    targets = [p, p[:120], p[:40] + _protein(rng, 200), _protein(rng, 300)]
    s = AlignScorer(targets)
    plain = s.raw(p, [0, 1, 2, 3])
    calls = []
    real = s._parasail.sw_striped_profile_8
    monkeypatch.setattr(s._parasail, "sw_striped_profile_8", lambda *a: calls.append(1) or real(*a))
    for bound in ([0, 0, 0, 0], [SATURATES_8, SATURATES_8, 0, 0], [10_000] * 4):
        calls.clear()
        assert list(s.raw(p, [0, 1, 2, 3], at_least=np.array(bound))) == list(plain)
        assert len(calls) == sum(b < SATURATES_8 for b in bound)  # the 8-bit pass skipped where it would saturate
    assert plain[0] >= SATURATES_8 and plain[3] < SATURATES_8


def test_odd_residues_empty_sequences_and_bad_positions():
    s = AlignScorer(["MKTAYUAKQRQ*", "", "mktayiakqrq"])
    raw = s.raw("MKTAYIAKQRQ", [0, 1, 2])
    assert raw[1] == 0.0 and raw[2] == raw.max() > raw[0] > 0  # lower case read as residues; U as X
    assert np.all(s.raw("", [0, 2]) == 0.0)
    with pytest.raises(DnaHlmError, match="target positions"):
        s.raw("MKT", [3])


def test_make_rescorer_names_both_and_refuses_others():
    assert isinstance(make_rescorer("align", ["MK"]), AlignScorer)
    assert isinstance(make_rescorer("diagonal", ["MK"]), DiagonalScorer)
    with pytest.raises(DnaHlmError, match="unknown re-scorer"):
        make_rescorer("blast", ["MK"])


def test_a_gap_of_g_residues_costs_11_plus_g_as_in_blast() -> None:
    """BLAST's 11/1: gap existence 11, extension 1 per residue, the statistics' own setting."""
    query = "W" * 20  # W/W scores 11 in BLOSUM62
    targets = ["W" * 10 + "A" + "W" * 10, "W" * 10 + "AA" + "W" * 10]
    assert [int(x) for x in AlignScorer(targets).raw(query, [0, 1])] == [220 - 12, 220 - 13]
