"""Is a query unlike what a task knows? A warning from the nearest neighbour's similarity.

Retrieval always returns neighbours, however far. A 16S gene of a genus outside the task's 40
labels still gets the "nearest" genus, often with every neighbour agreeing. :class:`NoveltyCheck`
compares the query's best neighbour with those of the task's VALID queries (items of organisms
or species kept out of the train rows, as a new query would be): when it is less similar than
for all but ``quantile`` of them, the answer gets a provenance line saying so. The general
segment index (no task) gets no check: calibrated the same way on valid segments, it flagged only
6% of base-shuffled test segments, since chance protein hits of non-coding segments set a low bar.

Scores are compared within one level: the finder's ``level`` of the best neighbour (``protein``:
``-log10 E``; otherwise a cosine), each level with its own threshold, fitted only when at least
``min_per_level`` valid queries reached that level. The quantile (5%) was set before measuring;
what the check catches is measured by ``bench/bench_novelty.py`` (docs/benchmarks.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

QUANTILE = 0.05  # flag queries whose best neighbour is below this quantile of the valid queries'
MIN_PER_LEVEL = 20
HINTS = {"genus_16s": " (a genus not among the task's labels?)",
         "product": " (a protein with no homolog among them?)"}


def best_neighbour(docs: Sequence[Any]) -> tuple[str, float] | None:
    """(level, score) of the first (best) neighbour: ``level_score`` at its level when the
    retriever fuses levels, else ``score``; None without neighbours."""
    if not docs:
        return None
    m = docs[0].metadata
    return str(m.get("level") or "dna"), float(m.get("level_score", m.get("score", 0.0)))


@dataclass
class NoveltyCheck:
    """Per-level thresholds on the best neighbour's score (module docstring)."""

    task: str
    thresholds: dict[str, float] = field(default_factory=dict)  # level -> score below which a query is novel
    counts: dict[str, int] = field(default_factory=dict)  # level -> valid queries it was fitted on
    quantile: float = QUANTILE

    @classmethod
    def fit(cls, task: str, retriever: Any, valid_seqs: Sequence[str], quantile: float = QUANTILE,
            min_per_level: int = MIN_PER_LEVEL) -> NoveltyCheck:
        """Thresholds from ``retriever``'s best neighbour of each valid sequence (normalised DNA)."""
        by_level: dict[str, list[float]] = {}
        for docs in retriever.retrieve_many(list(valid_seqs), k=1) if valid_seqs else []:
            best = best_neighbour(docs)
            if best is not None:
                by_level.setdefault(best[0], []).append(best[1])
        th = {lv: float(np.quantile(v, quantile)) for lv, v in by_level.items() if len(v) >= min_per_level}
        return cls(task, th, {lv: len(v) for lv, v in by_level.items()}, quantile)

    def note(self, docs: Sequence[Any]) -> str | None:
        """A provenance line when the best of ``docs`` is below its level's threshold, else None."""
        best = best_neighbour(docs)
        if best is None or best[0] not in self.thresholds:
            return None
        level, score = best
        th = self.thresholds[level]
        if score >= th:
            return None
        unit = "-log10 E" if level == "protein" else "similarity"
        return (f"unlike the known sequences: the nearest neighbour ({unit} {score:.3g}) is further than for "
                f"{1 - self.quantile:.0%} of the {self.task} validation queries (threshold {th:.3g}); the answer may "
                f"lie outside what the index covers{HINTS.get(self.task, '')}")
