"""The seed filter in front of the gapped alignment (dnahlm_rag/protein_seeds.py)."""
from __future__ import annotations

import doctest
import random

import numpy as np
import pytest

import dnahlm_rag.protein_seeds as ps
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.protein_align import AlignScorer, make_rescorer
from dnahlm_rag.protein_seeds import SeededScorer, SeedFilter, blosum62_24, encode, word_ids

AA = "ACDEFGHIKLMNPQRSTVWY"


def _protein(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(AA) for _ in range(n))


def _mutant(rng: random.Random, p: str, share: float) -> str:
    """``p`` with ``share`` of its residues replaced at random."""
    return "".join(rng.choice(AA) if rng.random() < share else x for x in p)


def _reference(query: str, target: str) -> int:
    """The filter's score, spelt out: the diagonal with the most shared 3-mers (first reached in
    target-then-query order), then the best ungapped segment along it."""
    words = {}
    for i in range(len(query) - 2):
        if all(c in AA for c in query[i:i + 3]):
            words.setdefault(query[i:i + 3], []).append(i)
    count: dict[int, int] = {}
    best, best_d = 0, 0
    for j in range(len(target) - 2):
        for i in words.get(target[j:j + 3], []):
            d = j - i
            count[d] = count.get(d, 0) + 1
            if count[d] > best:
                best, best_d = count[d], d
    if not best:
        return 0
    m, q, t = blosum62_24(), encode(query), encode(target)
    run = top = 0
    for i in range(max(0, -best_d), min(len(query), len(target) - best_d)):
        run = max(0, run + int(m[q[i], t[i + best_d]]))
        top = max(top, run)
    return top


def test_doctest() -> None:
    assert doctest.testmod(ps).failed == 0


def test_words_stay_inside_their_protein_and_skip_odd_residues() -> None:
    w = word_ids(encode("ACDXEF" + "GHI"), np.array([6, 9]))
    code = {a: ps.LETTERS.index(a) for a in "ACDGHI"}  # base 20 in LETTERS order
    assert w[0] == (code["A"] * 20 + code["C"]) * 20 + code["D"]
    assert list(w[1:6]) == [-1, -1, -1, -1, -1]  # CDX, DXE, XEF hold X; EF and F run past the end
    assert w[6] == (code["G"] * 20 + code["H"]) * 20 + code["I"] and list(w[7:]) == [-1, -1]


def test_filter_equals_its_definition_on_random_and_related_proteins() -> None:
    rng = random.Random(3)
    query = _protein(rng, 150)
    targets = [_protein(rng, rng.randint(20, 300)) for _ in range(20)]
    targets += [_mutant(rng, query, s) for s in (0.1, 0.3, 0.5)]
    targets += [_protein(rng, 40) + _mutant(rng, query[30:120], 0.2) + _protein(rng, 10), "AC", ""]
    got = SeedFilter(targets).ungapped(query, list(range(len(targets))))
    assert [int(x) for x in got] == [_reference(query, t) for t in targets]
    assert got[20] > got[21] > got[22] > max(got[:20])  # fewer substitutions, longer ungapped segment


def test_the_ungapped_score_is_a_lower_bound_of_the_alignment() -> None:
    rng = random.Random(4)
    query = _protein(rng, 200)
    targets = [_mutant(rng, query, s) for s in np.linspace(0, 0.8, 12)]
    targets += [query[:90] + _protein(rng, 7) + query[90:]]  # an insertion: two diagonals
    t = list(range(len(targets)))
    u = SeedFilter(targets).ungapped(query, t)
    sw = AlignScorer(targets).raw(query, t)
    assert np.all(u <= sw) and u[0] == sw[0]  # the exact copy has no gap to gain from
    assert u[-1] < sw[-1]  # the gapped alignment bridges the insertion


def test_seeded_scorer_aligns_the_deep_homolog_and_only_what_it_must() -> None:
    rng = random.Random(5)
    query = _protein(rng, 250)
    targets = [_protein(rng, 250) for _ in range(120)]
    targets[100] = _mutant(rng, query, 0.45)  # a homolog far down the candidate list
    order = list(range(120))
    s = SeededScorer(targets, always=10, min_bound=2.0)
    score = s.score(query, order)
    assert int(np.argmax(score)) == 100 and score[100] > 10
    assert 10 <= s.aligned < 20  # the first 10, the homolog, and few chance seeds
    full = AlignScorer(targets).score(query, order)
    aligned = np.arange(120) < 10
    aligned[100] = True
    np.testing.assert_allclose(score[aligned], full[aligned])  # aligned: the alignment's own score
    assert np.all(score[~aligned] <= full[~aligned] + 1e-9)  # the rest: a bound, never above it
    assert [t for t, _ in s.rank(query, order)][0] == 100


def test_bad_input_is_clear_and_empty_input_scores_zero() -> None:
    f = SeedFilter(["MKTAYIAKQRQ*", "", "mktayiakqrq", "XXXXXXXX"])
    u = f.ungapped("MKTAYIAKQRQ", [0, 1, 2, 3])
    assert u[1] == 0 and u[3] == 0 and u[2] == u[0] > 0  # lower case read as residues
    assert np.all(f.ungapped("MK", [0, 2]) == 0)  # shorter than a word
    assert f.ungapped("MKTAYIAKQRQ", []).size == 0
    with pytest.raises(DnaHlmError, match="target positions"):
        f.ungapped("MKTAYIAKQRQ", [4])
    s = make_rescorer("seeded", ["MKTAYIAKQRQISFVKSHFSRQ", ""])
    assert s.score("", [0, 1]).shape == (2,)
    assert len(SeedFilter([])) == 0


def test_always_can_be_given_per_call() -> None:
    rng = random.Random(6)
    query = _protein(rng, 120)
    targets = [_protein(rng, 120) for _ in range(30)]
    s = SeededScorer(targets, always=10, min_bound=50.0)  # no seed reaches 50: only `always` aligned
    s.score(query, list(range(30)))
    assert s.aligned == 10
    s.score(query, list(range(30)), always=3)
    assert s.aligned == 13
    s.score(query, list(range(30)), always=0)
    assert s.aligned == 13
