"""Metrics against hand-computed values and, where installed, scikit-learn as the reference."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from dnahlm_rag import metrics as M

GOLD = ["a", "a", "a", "b", "b", "c"]
PRED = ["a", "a", "b", "b", "c", "c"]


def test_accuracy_and_confusion_golden():
    assert M.accuracy(GOLD, PRED) == pytest.approx(4 / 6)
    c, labels = M.confusion(GOLD, PRED)
    assert labels == ["a", "b", "c"]
    assert c.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_macro_f1_golden():
    # a: tp2 fp0 fn1 -> 0.8; b: tp1 fp1 fn1 -> 0.5; c: tp1 fp1 fn0 -> 2/3
    assert M.macro_f1(GOLD, PRED) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # a label never predicted counts with F1 0
    assert M.macro_f1(["x", "y"], ["x", "x"]) == pytest.approx((2 / 3 + 0) / 2)


def test_mcc_golden():
    # c=4, s=6, t=(3,2,1), p=(2,2,2): (24 - 12) / sqrt((36-12)(36-14))
    assert M.mcc(GOLD, PRED) == pytest.approx(12 / math.sqrt(24 * 22))
    assert M.mcc(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == pytest.approx(1.0)
    assert M.mcc(["a", "b", "a", "b"], ["b", "a", "b", "a"]) == pytest.approx(-1.0)
    assert M.mcc(["a", "a"], ["a", "a"]) == 0.0  # one class only


def test_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(3)
    for _ in range(20):
        labels = ["x", "y", "z", "w"][: rng.randint(2, 4)]
        n = rng.randint(5, 60)
        gold = [rng.choice(labels) for _ in range(n)]
        pred = [g if rng.random() < 0.5 else rng.choice(labels) for g in gold]
        assert M.accuracy(gold, pred) == pytest.approx(sk.accuracy_score(gold, pred))
        assert M.macro_f1(gold, pred) == pytest.approx(sk.f1_score(gold, pred, average="macro", zero_division=0))
        assert M.mcc(gold, pred) == pytest.approx(sk.matthews_corrcoef(gold, pred))


def test_token_f1_and_exact_match_golden():
    assert M.normalize_text("The DNA-binding protein, HU.") == "dnabinding protein hu"
    # pred {dna, polymerase, i}, gold {dna, polymerase, iii, subunit, alpha}: 2 common, P 2/3, R 2/5
    assert M.token_f1_one("DNA polymerase I", "DNA polymerase III subunit alpha") == pytest.approx(2 * (2 / 3) * 0.4 / (2 / 3 + 0.4))
    assert M.token_f1_one("", "") == 1.0
    assert M.token_f1_one("", "x") == 0.0
    assert M.token_f1_one("a", "the") == 1.0  # both only articles: both empty after normalisation
    assert M.exact_match(["Lysine permease", "hypothetical protein"], ["lysine  permease.", None]) == 0.5
    assert M.token_f1(["y z"], ["x y"]) == pytest.approx(0.5)
    assert M.token_f1(["b c"], ["a b"]) == pytest.approx(2 / 3)  # "a" is an article
    assert M.format_valid_rate(["a", None, "b", None]) == 0.5


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    x = np.array([1] * 70 + [0] * 30, dtype=float)
    lo, hi = M.mean_ci(x, n_resamples=2000, seed=1)
    assert lo < 0.7 < hi
    # the normal-approximation half-width is 1.96 * sqrt(.7 * .3 / 100) = 0.0898
    assert (hi - lo) / 2 == pytest.approx(0.0898, abs=0.012)
    assert M.mean_ci(x, n_resamples=500, seed=1) == M.mean_ci(x, n_resamples=500, seed=1)
    lo2, hi2 = M.bootstrap_ci(lambda idx: float(x[idx].mean()), len(x), n_resamples=2000, seed=1)
    assert lo2 == pytest.approx(lo, abs=0.02) and hi2 == pytest.approx(hi, abs=0.02)
    assert math.isnan(M.mean_ci([], 10)[0])


def test_mcnemar_exact_and_chi_square():
    # 3 discordant, all favouring A: exact two-sided p = 2 * (1/2)^3 = 0.25
    r = M.mcnemar([1, 1, 1, 0, 1], [0, 0, 0, 0, 1])
    assert (r["a_only"], r["b_only"], r["method"]) == (3, 0, "exact binomial")
    assert r["p_value"] == pytest.approx(0.25)
    # b10=5, b01=1: 2 * (1 + 6) / 64 = 0.21875
    a = [1] * 5 + [0] * 1
    b = [0] * 5 + [1] * 1
    assert M.mcnemar(a, b)["p_value"] == pytest.approx(0.21875)
    # large: b10=40, b01=20 -> chi2 = 19^2/60 = 6.0167, p = 0.014175 (chi2 1 df)
    a = [1] * 40 + [0] * 20 + [1] * 10
    b = [0] * 40 + [1] * 20 + [1] * 10
    r = M.mcnemar(a, b)
    assert r["statistic"] == pytest.approx(361 / 60)
    assert r["p_value"] == pytest.approx(0.014175, abs=2e-5)
    stats = pytest.importorskip("scipy.stats")
    assert r["p_value"] == pytest.approx(stats.chi2.sf(361 / 60, 1))
    assert M.binom_two_sided(3, 10) == pytest.approx(stats.binomtest(3, 10, 0.5).pvalue)
    assert M.mcnemar([1, 0], [1, 0])["p_value"] == 1.0  # no discordant pairs


def test_recall_at_k_and_knn_vote():
    nb = [["a", "b", "c"], ["b", "b", "a"], ["c", "c", "c"]]
    gold = ["c", "a", "a"]
    assert M.recall_at_k(nb, gold, 1) == 0.0
    assert M.recall_at_k(nb, gold, 3) == pytest.approx(2 / 3)
    assert M.recall_at_k([["DNA gyrase."]], ["dna gyrase"], 1, same=M.exact_match_one) == 1.0
    assert M.knn_vote(["a", "b", "b"], 3) == "b"
    assert M.knn_vote(["a", "b", "c"], 3) == "a"  # tie: the nearest
    assert M.knn_vote(["b", "a", "a", "b"], 4) == "b"
    assert M.knn_vote([], 3) is None
    assert M.majority_label(["x", "y", "y", "x"]) == "x"


def test_paired_permutation_golden_and_properties():
    # 6 items differ, all in A's favour: exact two-sided p = 2 / 2**6 = 0.03125 (resampling estimate)
    a, b = [1, 1, 1, 1, 1, 1, 0.5, 0.5], [0, 0, 0, 0, 0, 0, 0.5, 0.5]
    r = M.paired_permutation(a, b, n_resamples=20_000, seed=1)
    assert r["differing"] == 6 and r["mean_difference"] == pytest.approx(0.75)
    assert r["p_value"] == pytest.approx(0.03125, abs=0.006)
    assert M.paired_permutation(b, a, seed=1)["p_value"] == pytest.approx(M.paired_permutation(a, b, seed=1)["p_value"], abs=0.01)
    assert M.paired_permutation([0.3, 0.2], [0.3, 0.2])["p_value"] == 1.0  # nothing differs
    mixed = M.paired_permutation([1, 0, 1, 0], [0, 1, 0, 1])  # balanced wins: no evidence
    assert mixed["p_value"] == 1.0 and mixed["mean_difference"] == 0.0
    with pytest.raises(ValueError):
        M.paired_permutation([1, 2], [1])


def test_best_constant_answer_maximises_mean_token_f1_on_the_fit_labels():
    train = ["putative protein"] * 2 + ["DNA gyrase subunit A", "DNA gyrase subunit B", "ribosomal protein L2"]
    fit = ["putative kinase", "putative transporter", "DNA gyrase subunit A", "ribosomal protein S3"]
    best, f1 = M.best_constant_answer(train, fit)
    # "putative protein": 0.5 + 0.5 + 0 + 0.4 (P 1/2, R 1/3) over 4 = 0.35; "putative" alone 0.333,
    # "DNA gyrase subunit A" 0.25, "ribosomal protein L2" 0.167
    assert (best, f1) == ("putative protein", pytest.approx(0.35))
    cands = ["DNA gyrase subunit A", "ribosomal protein L2", "protein", "putative", "dna gyrase", "gyrase subunit"]
    assert all(sum(M.token_f1_one(c, g) for g in fit) / len(fit) < f1 for c in cands)
    # a word pair can win when no whole label does
    assert M.best_constant_answer(["a b c d", "x y z w"], ["b c", "b c q"])[0] == "b c"
    with pytest.raises(ValueError):
        M.best_constant_answer([], fit)
