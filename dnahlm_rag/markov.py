"""Order-k Markov baseline for DNA, in bits per base (``dnahlm markov``).

``P(b_i | b_{i-k} .. b_{i-1}) = (count(context, b) + alpha) / (count(context) + 4 alpha)``, counted on
the training DNA. Each line is its own sequence: its first bases use the longest context available
(order ``min(i, k)``), so every base of a line is scored. Only plain ``ACGT`` lines are expected
(the data contract); other characters are an error.

The order ``k`` and the smoothing ``alpha`` are chosen on a validation part of the TRAINING DNA
(the last ``val_fraction`` of its lines), never on the held-out DNA; then the model is refitted on
all training lines and scored once on the held-out lines.

>>> m = MarkovModel.fit(["ACGTACGTACGT" * 20], k=2, alpha=0.1)
>>> round(m.bits_per_base(["ACGTACGT"]), 2) < 1.0
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DnaHlmError, InvalidSequenceError

_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _LUT[_b] = _i


def encode_bases(seq: str) -> np.ndarray:
    """``ACGT`` -> ``0..3`` as uint8; anything else raises :class:`InvalidSequenceError`."""
    a = _LUT[np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)]
    if (a == 255).any():
        pos = int(np.argmax(a == 255))
        raise InvalidSequenceError(f"Markov baseline: character {seq[pos]!r} at position {pos} is not A, C, G or T")
    return a


def _context_codes(a: np.ndarray, k: int) -> np.ndarray:
    """For positions ``k..n-1``: the integer code of the ``k`` bases before each position."""
    n = len(a)
    codes = np.zeros(n - k, dtype=np.int64)
    for j in range(k):
        codes = codes * 4 + a[j:n - k + j]
    return codes


@dataclass
class MarkovModel:
    """Counts for every order ``0..k`` (line starts use the shorter contexts); ``counts[o]``: int64[4**o, 4]."""

    k: int
    alpha: float
    counts: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def fit(cls, lines: list[str], k: int, alpha: float = 0.5) -> "MarkovModel":
        """Count order ``k`` over all positions; lower orders are its marginals (for line starts)."""
        top = np.zeros(4 ** (k + 1), dtype=np.int64)
        for line in lines:
            a = encode_bases(line)
            if len(a) > k:
                top += np.bincount(_context_codes(a, k) * 4 + a[k:], minlength=4 ** (k + 1))
        top4 = top.reshape(-1, 4)
        counts = [top4.reshape(4 ** (k - o), 4 ** o, 4).sum(axis=0) for o in range(k)] + [top4]
        return cls(k=k, alpha=alpha, counts=counts)

    def log2_probs(self, line: str) -> np.ndarray:
        """log2 P of each base of ``line`` (float64[len(line)])."""
        a = encode_bases(line)
        out = np.empty(len(a), dtype=np.float64)
        for i in range(min(self.k, len(a))):  # line start: shorter contexts
            c = self.counts[i][_context_codes(a[: i + 1], i)[0]] if i else self.counts[0][0]
            out[i] = math.log2((c[a[i]] + self.alpha) / (c.sum() + 4 * self.alpha))
        if len(a) > self.k:
            c = self.counts[self.k]
            ctx = _context_codes(a, self.k)
            num = c[ctx, a[self.k:]] + self.alpha
            den = c[ctx].sum(axis=1) + 4 * self.alpha
            out[self.k:] = np.log2(num / den)
        return out

    def bits_per_base(self, lines: list[str]) -> float:
        """Mean ``-log2 P`` over every base of ``lines``."""
        total = 0.0
        n = 0
        for line in lines:
            lp = self.log2_probs(line)
            total -= float(lp.sum())
            n += len(lp)
        return total / n if n else float("nan")


K_MAX = 12  # counts of order 12 take 537 MB; order 13 would take 2.1 GB


@dataclass
class MarkovConfig:
    """The search space of the baseline."""

    k_max: int = 12  # 4**12 contexts x 4 counts = 537 MB int64 at k=12; the search stops earlier when val gets worse
    alphas: tuple[float, ...] = (0.01, 0.1, 0.5, 1.0)
    val_fraction: float = 0.05  # last part of the TRAINING lines used to choose k and alpha


def fit_best(train: list[str], cfg: MarkovConfig = MarkovConfig(), progress: bool = False) -> tuple[MarkovModel, dict[str, Any]]:
    """Choose ``k`` and ``alpha`` on the tail of ``train``; refit on all of ``train``; return it and the search log."""
    from tqdm import tqdm

    if not 0 <= cfg.k_max <= K_MAX:
        raise DnaHlmError(f"the largest Markov order (--k-max) must lie in 0..{K_MAX}, got {cfg.k_max}")
    if not train:
        raise DnaHlmError("Markov baseline: no training DNA lines")
    cut = max(1, int(len(train) * (1 - cfg.val_fraction)))
    fit_part, val_part = train[:cut], train[cut:] or train[-1:]
    search: list[dict[str, Any]] = []
    best: tuple[float, int, float] | None = None
    worse_in_a_row = 0
    for k in tqdm(range(cfg.k_max + 1), desc="markov k", disable=not progress, leave=False):
        m = MarkovModel.fit(fit_part, k)
        row_best = math.inf
        for alpha in cfg.alphas:
            m.alpha = alpha
            bpb = m.bits_per_base(val_part)
            search.append({"k": k, "alpha": alpha, "val_bits_per_base": round(bpb, 5)})
            row_best = min(row_best, bpb)
            if best is None or bpb < best[0]:
                best = (bpb, k, alpha)
        worse_in_a_row = worse_in_a_row + 1 if best is not None and row_best > best[0] else 0
        if worse_in_a_row >= 2:  # two orders past the optimum: larger k only overfits more
            break
    assert best is not None
    _, k, alpha = best
    model = MarkovModel.fit(train, k, alpha)
    return model, {"k": k, "alpha": alpha, "val_bits_per_base": round(best[0], 5), "search": search,
                   "fit_bases": sum(map(len, train)), "val_lines": len(val_part)}


def baseline_report(train: list[str], heldout: list[str], cfg: MarkovConfig = MarkovConfig(), progress: bool = False) -> dict[str, Any]:
    """Fit the best order-k model on ``train`` and score it on ``heldout`` (bits per base)."""
    model, info = fit_best(train, cfg, progress=progress)
    return {"k": info["k"], "alpha": info["alpha"], "heldout_bits_per_base": round(model.bits_per_base(heldout), 5),
            "heldout_bases": sum(map(len, heldout)), "train_bases": info["fit_bases"],
            "train_val_bits_per_base": info["val_bits_per_base"], "search": info["search"]}
