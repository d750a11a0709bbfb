"""Evaluation metrics: classification scores, open-text overlap, bootstrap intervals, a paired test.

Everything here is plain Python + numpy (no scipy): the exact binomial tail is summed with
integer binomial coefficients and the chi-square(1) tail is ``erfc(sqrt(x / 2))``.

* :func:`accuracy`, :func:`macro_f1` (mean F1 over the labels that occur in the gold or the
  predictions; a label never predicted has precision 0, as scikit-learn's ``zero_division=0``),
  :func:`mcc` (multi-class Matthews correlation, Gorodkin's R_K, as ``sklearn.metrics.matthews_corrcoef``).
* :func:`exact_match` and :func:`token_f1` use SQuAD's answer normalisation (lower case, punctuation
  and the articles a/an/the removed, whitespace collapsed); token F1 is the per-item F1 of the
  bag of word tokens, averaged over items.
* :func:`format_valid_rate`: the share of free generations that parsed to an allowed label.
* :func:`bootstrap_ci`: percentile interval of a statistic over item resamples (seeded).
* :func:`mcnemar`: paired test of two systems on the same items (exact two-sided binomial when
  the discordant count is below ``exact_below``, else chi-square with continuity correction).
* :func:`recall_at_k`: share of items with at least one of their first ``k`` neighbours carrying
  the gold label.

>>> accuracy(["a", "b", "b"], ["a", "b", "a"])
0.6666666666666666
>>> round(token_f1_one("DNA polymerase III subunit alpha", "DNA polymerase I"), 4)
0.5
>>> mcnemar([1, 1, 1, 0], [0, 0, 0, 0])["p_value"]
0.25
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------
# Closed-label classification
# --------------------------------------------------------------------------------------------


def accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Share of items with ``pred == gold`` (nan for no items)."""
    _same_length(gold, pred)
    if not len(gold):
        return float("nan")
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def _same_length(a: Sequence[Any], b: Sequence[Any]) -> None:
    if len(a) != len(b):
        raise ValueError(f"gold and predictions differ in length ({len(a)} vs {len(b)})")


def confusion(gold: Sequence[Any], pred: Sequence[Any], labels: Sequence[Any] | None = None) -> tuple[np.ndarray, list[Any]]:
    """``(C, labels)`` with ``C[i, j]`` = items of gold label ``labels[i]`` predicted ``labels[j]``.

    ``labels`` defaults to the sorted union of gold and predicted values (``None`` predictions, e.g.
    an unparsed generation, become their own column ``None`` placed last).
    """
    _same_length(gold, pred)
    if labels is None:
        vals = set(gold) | set(pred)
        labels = sorted((v for v in vals if v is not None), key=str) + ([None] if None in vals else [])
    labels = list(labels)
    pos = {lab: i for i, lab in enumerate(labels)}
    c = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred):
        if g in pos and p in pos:
            c[pos[g], pos[p]] += 1
    return c, labels


def macro_f1(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Unweighted mean of per-label F1 over the labels seen in ``gold`` or ``pred`` (``None`` excluded).

    A label with no true positives has F1 0 (precision or recall undefined counts as 0).
    """
    c, labels = confusion(gold, pred)
    if not len(gold):
        return float("nan")
    f1s = []
    for i, lab in enumerate(labels):
        if lab is None:
            continue
        tp = c[i, i]
        fp = c[:, i].sum() - tp
        fn = c[i, :].sum() - tp
        denom = 2 * tp + fp + fn
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s)) if f1s else float("nan")


def mcc(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Multi-class Matthews correlation (R_K): ``(c s - sum p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2))``.

    ``c`` correct items, ``s`` items, ``t_k`` / ``p_k`` the gold / predicted counts of label ``k``.
    0 when a denominator factor is 0 (one class only), as scikit-learn.
    """
    c, _ = confusion(gold, pred)
    s = float(c.sum())
    if s == 0:
        return float("nan")
    t = c.sum(axis=1).astype(float)
    p = c.sum(axis=0).astype(float)
    num = float(np.trace(c)) * s - float(p @ t)
    den = math.sqrt((s * s - float(p @ p)) * (s * s - float(t @ t)))
    return num / den if den else 0.0


def format_valid_rate(parsed: Sequence[Any]) -> float:
    """Share of generations that parsed (not ``None``)."""
    return sum(p is not None for p in parsed) / len(parsed) if len(parsed) else float("nan")


def majority_label(train_labels: Sequence[Any]) -> Any:
    """The most frequent label (ties: the one seen first)."""
    counts = Counter(train_labels)
    if not counts:
        raise ValueError("no training labels")
    best = max(counts.values())
    return next(lab for lab in train_labels if counts[lab] == best)


# --------------------------------------------------------------------------------------------
# Open text (SQuAD-style)
# --------------------------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_text(s: str) -> str:
    """SQuAD answer normalisation: lower case, punctuation removed, articles removed, spaces collapsed."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match_one(pred: str, gold: str) -> bool:
    return normalize_text(pred) == normalize_text(gold)


def token_f1_one(pred: str, gold: str) -> float:
    """F1 of the word-token bags of ``pred`` and ``gold`` after :func:`normalize_text`.

    Two empty answers score 1; one empty answer scores 0.
    """
    p, g = normalize_text(pred).split(), normalize_text(gold).split()
    if not p or not g:
        return float(p == g)
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def best_constant_answer(train_labels: Sequence[str], fit_labels: Sequence[str], candidates: int = 200,
                         max_fit: int = 1000, seed: int = 0) -> tuple[str, float]:
    """The single answer that scores the highest mean token F1 (:func:`token_f1_one`) on
    ``fit_labels`` (at most ``max_fit`` of them, a seeded sample), and that F1.

    Candidates: the ``candidates`` most frequent of ``train_labels`` and the ``candidates`` most
    frequent word unigrams and bigrams of those labels (normalised), in that order; ties go to the
    earlier candidate. An open task's baseline that shows how much of its token F1 one generic
    answer ("putative protein") earns without looking at the sequence.
    """
    import random

    if not train_labels or not fit_labels:
        raise ValueError("best_constant_answer needs train and fit labels")
    fit = list(fit_labels)
    if len(fit) > max_fit:
        fit = random.Random(seed).sample(fit, max_fit)
    grams: Counter[str] = Counter()
    for lab in train_labels:
        w = normalize_text(str(lab)).split()
        grams.update(w)
        grams.update(" ".join(p) for p in zip(w, w[1:]))
    cands = list(dict.fromkeys([str(x) for x, _ in Counter(map(str, train_labels)).most_common(candidates)]
                               + [g for g, _ in grams.most_common(candidates)]))
    gold = [Counter(normalize_text(str(g)).split()) for g in fit]

    def mean_f1(c: str) -> float:  # token_f1_one over ``fit``, with the gold bags normalised once
        p = Counter(normalize_text(c).split())
        n_p, tot = sum(p.values()), 0.0
        for g in gold:
            same = sum((p & g).values())
            if same and n_p:
                pr, rc = same / n_p, same / sum(g.values())
                tot += 2 * pr * rc / (pr + rc)
            elif not n_p and not g:
                tot += 1.0
        return tot / len(gold)

    scored = [(mean_f1(c), -i, c) for i, c in enumerate(cands)]
    f1, _, best = max(scored)
    return best, f1


def exact_match(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """Mean exact match after normalisation (a ``None`` prediction is wrong)."""
    _same_length(gold, pred)
    if not len(gold):
        return float("nan")
    return sum(p is not None and exact_match_one(p, g) for g, p in zip(gold, pred)) / len(gold)


def token_f1(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """Mean per-item token F1 (a ``None`` prediction scores 0)."""
    _same_length(gold, pred)
    if not len(gold):
        return float("nan")
    return float(np.mean([token_f1_one(p, g) if p is not None else 0.0 for g, p in zip(gold, pred)]))


# --------------------------------------------------------------------------------------------
# Uncertainty and paired comparison
# --------------------------------------------------------------------------------------------


def bootstrap_ci(stat: Callable[[np.ndarray], float], n_items: int, n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(indices)`` over ``n_resamples`` item resamples.

    ``stat`` receives an int array of ``n_items`` indices drawn with replacement and returns the
    statistic on those items. Resamples where the statistic is nan are dropped. Seeded: the same
    ``seed`` gives the same interval.
    """
    if n_items == 0 or n_resamples <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    vals = np.array([stat(rng.integers(0, n_items, n_items)) for _ in range(n_resamples)], dtype=float)
    vals = vals[~np.isnan(vals)]
    if not len(vals):
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def mean_ci(values: Sequence[float], n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Bootstrap interval of the mean of per-item ``values`` (vectorised)."""
    v = np.asarray(values, dtype=float)
    if not len(v) or n_resamples <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for a in range(0, n_resamples, 256):  # chunks keep memory at 256 x n
        b = min(n_resamples, a + 256)
        means[a:b] = v[rng.integers(0, len(v), (b - a, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided p of ``k`` successes in ``n`` fair coin flips: ``min(1, 2 P(X <= min(k, n-k)))``."""
    if n == 0:
        return 1.0
    m = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(m + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def mcnemar(a_correct: Sequence[bool | int], b_correct: Sequence[bool | int], exact_below: int = 25) -> dict[str, Any]:
    """Paired McNemar test of systems A and B on the same items.

    ``b10``: items A got right and B wrong; ``b01``: A wrong, B right. With ``b10 + b01 <
    exact_below`` the p-value is the exact two-sided binomial (``n = b10 + b01``, ``p = 1/2``);
    otherwise chi-square with continuity correction, ``(|b10 - b01| - 1)^2 / (b10 + b01)``, 1 df.
    """
    _same_length(a_correct, b_correct)
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    b10 = int((a & ~b).sum())
    b01 = int((~a & b).sum())
    n = b10 + b01
    if n < exact_below:
        return {"a_only": b10, "b_only": b01, "method": "exact binomial", "statistic": None,
                "p_value": binom_two_sided(b10, n)}
    chi2 = (abs(b10 - b01) - 1) ** 2 / n
    return {"a_only": b10, "b_only": b01, "method": "chi-square, continuity corrected", "statistic": chi2,
            "p_value": math.erfc(math.sqrt(chi2 / 2))}


def paired_permutation(a_scores: Sequence[float], b_scores: Sequence[float], n_resamples: int = 10_000,
                       seed: int = 0) -> dict[str, Any]:
    """Paired sign-flip permutation test of systems A and B on per-item scores (e.g. token F1).

    Under the null the sign of each item's difference ``a - b`` is a fair coin; the two-sided
    p-value is ``(1 + #{|mean of sign-flipped d| >= |mean d|}) / (1 + n_resamples)``. Items where
    A and B score the same carry no information and do not change the p-value.
    """
    _same_length(a_scores, b_scores)
    d = np.asarray(a_scores, dtype=float) - np.asarray(b_scores, dtype=float)
    d = d[d != 0]
    method = f"paired sign-flip permutation ({n_resamples} resamples)"
    if not len(d):
        return {"mean_difference": 0.0, "differing": 0, "method": method, "p_value": 1.0}
    obs = abs(d.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    for lo in range(0, n_resamples, 1024):
        signs = rng.integers(0, 2, (min(1024, n_resamples - lo), len(d))) * 2 - 1
        hits += int((np.abs((signs * d).mean(axis=1)) >= obs - 1e-12).sum())
    return {"mean_difference": float(d.sum() / len(a_scores)), "differing": int(len(d)), "method": method,
            "p_value": (1 + hits) / (1 + n_resamples)}


# --------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------


def recall_at_k(neighbour_labels: Sequence[Sequence[Any]], gold: Sequence[Any], k: int,
                same: Callable[[Any, Any], bool] | None = None) -> float:
    """Share of items whose first ``k`` neighbours include one carrying the gold label.

    ``same(neighbour_label, gold)`` decides a match (default ``==``; e.g. :func:`exact_match_one`
    for open-text labels).
    """
    _same_length(neighbour_labels, gold)
    if not len(gold):
        return float("nan")
    eq = same or (lambda x, y: x == y)
    return sum(any(eq(lab, g) for lab in labs[:k]) for labs, g in zip(neighbour_labels, gold)) / len(gold)


def knn_vote(neighbour_labels: Sequence[Any], k: int) -> Any:
    """Most frequent label among the first ``k`` neighbours; ties go to the label of the nearer neighbour.

    ``None`` when there are no neighbours.
    """
    labs = list(neighbour_labels[:k])
    if not labs:
        return None
    counts = Counter(labs)
    best = max(counts.values())
    return next(lab for lab in labs if counts[lab] == best)


__all__ = [
    "accuracy", "confusion", "macro_f1", "mcc", "format_valid_rate", "majority_label", "normalize_text",
    "exact_match_one", "token_f1_one", "exact_match", "token_f1", "bootstrap_ci", "mean_ci", "binom_two_sided",
    "mcnemar", "recall_at_k", "knn_vote",
]
