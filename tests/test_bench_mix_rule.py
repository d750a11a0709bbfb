"""The selection rules of bench/bench_mix_rule.py on hand-made correctness tables."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_mix_rule import mcnemar_exact, pick  # noqa: E402

from dnahlm_rag.retrieval_mix import GRID  # noqa: E402


def _table(n: int, best_extra: int, best_col: int = 5) -> np.ndarray:
    """``n`` items right at every weight but ``best_extra`` items right only at ``GRID[best_col]``."""
    ok = np.ones((n, len(GRID)), dtype=bool)
    ok[:best_extra] = False
    ok[:best_extra, best_col] = True
    return ok


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert abs(mcnemar_exact(0, 6) - 2 / 64) < 1e-12 and mcnemar_exact(6, 0) == mcnemar_exact(0, 6)
    assert mcnemar_exact(3, 3) == 1.0


def test_rules_pick_the_vote_unless_the_model_share_clearly_helps() -> None:
    small = _table(200, 2)   # weight 0.5 two items ahead of the vote: p = 0.5, 1% of 200
    assert GRID[pick("argmax", small)] == 0.5
    assert GRID[pick("vote-unless-p05", small)] == 1.0
    assert GRID[pick("vote-unless-1pct", small)] == 0.5
    large = _table(200, 8)   # eight items ahead: p = 0.008
    assert GRID[pick("vote-unless-p05", large)] == 0.5
    assert GRID[pick("vote", large)] == 1.0 and GRID[pick("model", large)] == 0.0
    tie = np.ones((10, len(GRID)), dtype=bool)
    assert GRID[pick("argmax", tie)] == 1.0  # ties go to the larger weight, as mix fit's
