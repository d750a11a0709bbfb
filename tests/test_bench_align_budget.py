"""The candidate bookkeeping of bench/bench_align_budget.py on hand-made lists."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_align_budget import Aligned, best_product, cascade_depth, merged, parasail_kernel, pick, seeded  # noqa: E402
from dnahlm_rag.protein_align import AlignScorer  # noqa: E402
from dnahlm_rag.protein_seeds import ALWAYS, SeededScorer  # noqa: E402


def test_merged_keeps_each_candidate_once_at_its_best_rank() -> None:
    # ORF 0 ranks 5, 7, 9; ORF 1 ranks 7, 3, 5: 7 is ORF 1's best, 5 ORF 0's, ties go to ORF 0
    assert merged([[5, 7, 9], [7, 3, 5]]) == [(5, 0), (7, 1), (3, 1), (9, 0)]
    assert merged([]) == [] and merged([[], []]) == []


def test_pick_cuts_each_design_and_keeps_the_first_designs_orf() -> None:
    a = [(1, 0), (2, 0), (3, 1)]
    b = [(3, 0), (4, 1), (5, 1)]
    assert pick([a, b], [2, 2]) == {1: 0, 2: 0, 3: 0, 4: 1}
    assert pick([a, b], [3, 1]) == {1: 0, 2: 0, 3: 1}


def test_cascade_goes_deeper_only_while_the_best_is_weak() -> None:
    al = np.array([1.0, 0.5, 9.0, 0.0, 0.0])
    assert cascade_depth(al, (2, 5), 2.0) == 5  # best of the first 2 is 1.0 < 2: go on
    assert cascade_depth(al, (3, 5), 2.0) == 3  # 9.0 within the first 3: stop there
    assert cascade_depth(np.array([]), (2, 5), 2.0) == 0


def test_best_product_skips_uninformative_names() -> None:
    products = ["hypothetical protein", "DNA gyrase subunit A", "uncharacterized protein"]
    assert best_product([0, 1, 2], products) == "DNA gyrase subunit A"
    assert best_product([0, 2], products) == "hypothetical protein"
    assert best_product([], products) is None


def test_kernels_agree_with_the_shipped_scorer() -> None:
    rng = random.Random(0)
    aa = "ACDEFGHIKLMNPQRSTVWY"
    q = "".join(rng.choice(aa) for _ in range(80))
    targets = [q[:40] + "".join(rng.choice(aa) for _ in range(30)), "".join(rng.choice(aa) for _ in range(90)), q]
    shipped = [int(x) for x in AlignScorer(targets).raw(q, [0, 1, 2])]
    for kind, bits in (("striped", "8+16"), ("scan", "16"), ("diag", "16")):
        assert parasail_kernel(kind, bits)(q, targets) == shipped


def test_seeded_scores_align_the_first_and_the_seeded_only() -> None:
    rng = random.Random(1)
    aa = "ACDEFGHIKLMNPQRSTVWY"
    q = "".join(rng.choice(aa) for _ in range(150))
    proteins = ["".join(rng.choice(aa) for _ in range(150)) for _ in range(ALWAYS + 10)]
    proteins[-1] = q  # an exact copy at the end of the list: its seed calls for an alignment
    cand = {t: 0 for t in range(len(proteins))}
    out, n = seeded(cand, [q], SeededScorer(proteins, aligner=Aligned(AlignScorer(proteins))))
    assert [t for t, _ in out] == list(range(len(proteins)))
    assert n == ALWAYS + 1 and max(out, key=lambda x: x[1])[0] == len(proteins) - 1
