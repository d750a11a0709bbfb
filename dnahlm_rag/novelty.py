"""Is a query unlike what a task knows? A warning from the nearest neighbour's similarity.

Retrieval always returns neighbours, however far. A 16S gene of a genus outside the task's 40
labels still gets the "nearest" genus, often with every neighbour agreeing. :class:`NoveltyCheck`
compares the query's best neighbour with those of the task's VALID queries (items of organisms
or species kept out of the train rows, as a new query would be): when it is less similar than
for all but ``quantile`` of them, the answer gets a provenance line saying so. The general
segment index (no task) gets no check: calibrated the same way on valid segments, it flagged only
8% of base-shuffled test segments, since chance protein hits of non-coding segments set a low bar.

Scores are compared within one level: the finder's ``level`` of the best neighbour (``protein``:
``-log10 E``; otherwise a cosine), each level with its own threshold, fitted only when at least
``min_per_level`` valid queries reached that level. The quantile (5%) was set before measuring;
what the check catches is measured by ``bench/bench_novelty.py`` (docs/benchmarks.md).
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

QUANTILE = 0.05  # flag queries whose best neighbour is below this quantile of the valid queries'
MIN_PER_LEVEL = 20
SHORT = 0.8  # a query shorter than this share of the valid rows' median length is compared at its length
LENGTH_STEP = 1.25  # queries within this factor of length share one length-matched calibration
# closed tasks about one kind of sequence: a query over LONGER times their longest valid row is said
# to be of another kind (a 954-base gene asked which amino acid it carries as a tRNA)
LENGTH_TASKS = frozenset({"splice", "promoter", "trna_aa", "genus_16s", "feature_type"})
LONGER = 2.0
HINTS = {"genus_16s": " (a genus not among the task's labels?)",
         "product": " (a protein with no homolog among them?)"}


def best_neighbour(docs: Sequence[Any]) -> tuple[str, float] | None:
    """(level, score) of the first (best) neighbour: ``level_score`` at its level when the
    retriever fuses levels, else ``score``; None without neighbours."""
    if not docs:
        return None
    m = docs[0].metadata
    return str(m.get("level") or "dna"), float(m.get("level_score", m.get("score", 0.0)))


def level_thresholds(retriever: Any, seqs: Sequence[str], quantile: float = QUANTILE,
                     min_per_level: int = MIN_PER_LEVEL) -> tuple[dict[str, float], dict[str, int]]:
    """Per level, the ``quantile`` of the best neighbour's score over ``seqs`` (levels reached by
    at least ``min_per_level`` of them), and how many reached each level."""
    by_level: dict[str, list[float]] = {}
    for docs in retriever.retrieve_many(list(seqs), k=1) if seqs else []:
        best = best_neighbour(docs)
        if best is not None:
            by_level.setdefault(best[0], []).append(best[1])
    th = {lv: float(np.quantile(v, quantile)) for lv, v in by_level.items() if len(v) >= min_per_level}
    return th, {lv: len(v) for lv, v in by_level.items()}


@dataclass
class NoveltyCheck:
    """Per-level thresholds on the best neighbour's score (module docstring).

    A shorter query has a less similar best neighbour however familiar it is (a 500-base piece of
    a 16S gene against whole genes), so a query shorter than ``SHORT`` of the valid rows' median
    length is compared with the valid rows cut to its length (a window at a seeded random offset
    of each; one calibration per factor ``LENGTH_STEP`` of length, made on first use)."""

    task: str
    thresholds: dict[str, float] = field(default_factory=dict)  # level -> score below which a query is novel
    counts: dict[str, int] = field(default_factory=dict)  # level -> valid queries it was fitted on
    quantile: float = QUANTILE
    valid: list[str] = field(default_factory=list, repr=False)  # for length-matched calibrations
    retriever: Any = field(default=None, repr=False, compare=False)
    by_length: dict[int, dict[str, float]] = field(default_factory=dict, repr=False)  # length bin -> thresholds
    median_length: float = 0.0  # of the valid rows, bases (0: no valid rows kept)

    @classmethod
    def fit(cls, task: str, retriever: Any, valid_seqs: Sequence[str], quantile: float = QUANTILE,
            min_per_level: int = MIN_PER_LEVEL) -> NoveltyCheck:
        """Thresholds from ``retriever``'s best neighbour of each valid sequence (normalised DNA)."""
        th, counts = level_thresholds(retriever, valid_seqs, quantile, min_per_level)
        median = float(np.median([len(s) for s in valid_seqs])) if valid_seqs else 0.0
        return cls(task, th, counts, quantile, list(valid_seqs), retriever, median_length=median)

    @property
    def length_range(self) -> tuple[int, int]:
        """Shortest and longest valid row kept, bases ((0, 0) without any)."""
        lengths = [len(s) for s in self.valid]
        return (min(lengths), max(lengths)) if lengths else (0, 0)

    def length_note(self, length: int) -> str | None:
        """A provenance line when a query of ``length`` bases is over :data:`LONGER` times the
        task's longest validation sequence, for a task about one kind of sequence
        (:data:`LENGTH_TASKS`), else None."""
        lo, hi = self.length_range
        if self.task not in LENGTH_TASKS or not hi or length <= LONGER * hi:
            return None
        span = f"{lo}" if lo == hi else f"{lo}-{hi}"
        return (f"the sequence has {length} bases; the {self.task} task's validation sequences have {span}: it may "
                "not be the kind of sequence this task is about, so its labels may not apply")

    def thresholds_for(self, length: int | None) -> dict[str, float]:
        """The thresholds for a query of ``length`` bases (None: full length)."""
        if length is None or not self.valid or self.retriever is None or length >= SHORT * self.median_length:
            return self.thresholds
        b = int(math.log(max(length, 1)) / math.log(LENGTH_STEP))
        if b not in self.by_length:
            L = max(1, int(LENGTH_STEP ** b))  # at most the query's length
            rng = random.Random(b)
            cut = [s if len(s) <= L else s[(o := rng.randrange(len(s) - L + 1)):o + L] for s in self.valid]
            self.by_length[b] = level_thresholds(self.retriever, cut, self.quantile)[0]
        return self.by_length[b]

    def note(self, docs: Sequence[Any], length: int | None = None) -> str | None:
        """A provenance line when the best of ``docs`` (neighbours of a query of ``length`` bases)
        is below its level's threshold, else None."""
        best = best_neighbour(docs)
        thresholds = self.thresholds_for(length) if best is not None else {}
        if best is None or best[0] not in thresholds:
            return None
        level, score = best
        th = thresholds[level]
        if score >= th:
            return None
        unit = "-log10 E" if level == "protein" else "similarity"
        as_long = "" if thresholds is self.thresholds else " cut to the query's length"
        return (f"unlike the known sequences: the nearest neighbour ({unit} {score:.3g}) is further than for "
                f"{1 - self.quantile:.0%} of the {self.task} validation queries{as_long} (threshold {th:.3g}); the "
                f"answer may lie outside what the index covers{HINTS.get(self.task, '')}")
