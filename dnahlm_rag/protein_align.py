"""Gapped re-scoring of protein candidates: Smith-Waterman local alignment with affine gaps.

The protein word index proposes candidates by the cosine of shared words; :class:`AlignScorer`
ranks them as BLAST ranks its hits, by the significance of a gapped local alignment:

* score ``S``: the Smith-Waterman score of the query against each candidate under BLOSUM62 with
  BLAST's protein gap costs, existence 11 and extension 1 (a gap of g residues costs 11 + g;
  parasail's ``open`` is the first residue's cost, so it is given 12; until stop 26 it was given 11,
  BLAST's 10/1, under the 11/1 statistics below), computed by parasail's SIMD striped kernel with
  a query profile built once per query (about 20-30 microseconds for two 330-residue proteins
  here), 8-bit lanes first and 16-bit where they saturate;
* significance: ``-log10 E`` with ``E = K m n exp(-lambda S)``, BLAST's gapped Karlin-Altschul
  values for those settings (``lambda`` = 0.267, ``K`` = 0.041), ``m`` and ``n`` the query's and
  the candidate's lengths in residues; higher is better, 2 means E = 0.01, and it compares across
  the ORFs of one query.

It replaced the ungapped diagonal score of :mod:`dnahlm_rag.protein_rerank` for the product
neighbours and ``ask``'s protein hits in stop 25: on the product task's validation organisms the
top hit's token F1 went from 0.290 (diagonal, top 50) to 0.305 (alignment, top 50) and 0.315
(top 200), where blastx scores 0.327; the diagonal score gains nothing from deeper lists, the
alignment does, because remote homologs keep their score across indels (docs/benchmarks.md,
"Protein-level retrieval", phase 8). Residues outside BLOSUM62's alphabet score as ``X``.

>>> s = AlignScorer(["MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAKQRQ", "QRSFHSKVFSIQRQKAIYATKM"])
>>> [int(x) for x in s.raw("MKTAYIAKQRQISFVKSHFSRQ", [0, 1, 2])]  # self, a half, reversed
[109, 54, 18]
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DnaHlmError
from .protein_rerank import DiagonalScorer, ranked

#: Word candidates re-scored per query by ``ask``'s retriever (the word index's top N, merged over
#: the query's ORFs), through the seed filter (``rescorer="seeded"``, :mod:`dnahlm_rag.protein_seeds`).
#: Validation organisms, bench/bench_protein.py (300 CDS): seeded over the top 300 / 500 / 1,000:
#: product F1 0.310 / 0.316 / 0.324; every candidate aligned, stop 25's default: top 50 0.316, top
#: 200 0.319. bench/bench_align_budget.py (600 validation CDS; best-aligned product, no threshold):
#: seeded 0.334 / 0.336 / 0.342, the aligned top 50 0.331; CPU 5.1 / 5.6 / 7.6 ms per query against
#: 4.4 ms for the aligned top 50 (1/50 of blastx: about 5.4 ms). 500: no worse than stop 25's default
#: on either valid measure, at about its speed; 1,000, the best on valid, costs a third more.
#: docs/benchmarks.md, "Protein-level retrieval", phase 9.
DEFAULT_RERANK = 500
#: The same for a coding task's train neighbours (``product``: evaluation, tuning prompts, ``ask
#: --task product``), where no speed goal binds: on the product task's valid split (1,436 items)
#: the top neighbour's product token F1 (bench_protein's tokens) is 0.349 aligning the top 200
#: (the default of stop 25) and 0.338 / 0.346 / 0.351 / 0.357 through the seed filter over the top
#: 200 / 500 / 1,000 / 2,000, at 6.2 ms per item for the first and 2.3 / 3.5 / 6.4 / 12.1 ms for the
#: others: 1,000 matches the old cost (the neighbours of all 18,798 train CDS take about 2 min).
TASK_RERANK = 1000
#: seeded: protein_seeds.SeededScorer (the default: AlignScorer where an ungapped seed calls for it);
#: align: AlignScorer on every candidate; diagonal: protein_rerank.DiagonalScorer (ungapped)
RESCORERS = ("seeded", "align", "diagonal")
#: BLAST's gap existence and extension costs: a gap of g residues costs GAP_OPEN + g * GAP_EXTEND
GAP_OPEN, GAP_EXTEND = 11, 1
#: Least score whose 8-bit alignment saturates (parasail 2.6 here, 3,000 random pairs: 244 was the
#: least saturated score, 243 the greatest unsaturated): a target known to score at least this
#: goes straight to the 16-bit kernel (the same score, without the wasted 8-bit pass)
SATURATES_8 = 244
#: Karlin-Altschul statistics of gapped BLOSUM62 with gaps 11/1 (BLAST's values, per raw score unit)
KA_LAMBDA_GAPPED, KA_K_GAPPED = 0.267, 0.041


def significance(raw: np.ndarray, m: int, n: np.ndarray) -> np.ndarray:
    """float64 ``-log10 E`` of raw scores ``raw`` (BLOSUM62 units) for a query of ``m`` residues
    against targets of ``n`` residues (module doc); lengths below 1 count as 1."""
    nn = np.maximum(1, np.asarray(n, dtype=np.float64))
    return (KA_LAMBDA_GAPPED * np.asarray(raw, dtype=np.float64) - np.log(KA_K_GAPPED * max(1, m) * nn)) / math.log(10.0)


_NOT_BLOSUM = re.compile(r"[^ARNDCQEGHILKMFPSTWYVBZX*]")


def _clean(protein: str) -> str:
    return _NOT_BLOSUM.sub("X", protein.upper())


class AlignScorer:
    """Smith-Waterman significance of a query protein against collection proteins (module doc)."""

    def __init__(self, proteins: Sequence[str]) -> None:
        import parasail

        self._parasail = parasail
        self.proteins = [_clean(p) for p in proteins]

    def __len__(self) -> int:
        return len(self.proteins)

    def raw(self, query: str, targets: Sequence[int] | np.ndarray, at_least: np.ndarray | None = None) -> np.ndarray:
        """float64 Smith-Waterman score (BLOSUM62 units) of ``query`` against each collection
        protein in ``targets`` (positions); 0.0 for an empty query or target. ``at_least``: a
        known lower bound of each score (an ungapped segment's, say); where it reaches
        :data:`SATURATES_8` the 16-bit kernel runs first (only speed changes)."""
        t_idx = [int(t) for t in targets]
        if t_idx and (min(t_idx) < 0 or max(t_idx) >= len(self)):
            raise DnaHlmError(f"target positions must lie in [0, {len(self)})")
        out = np.zeros(len(t_idx), dtype=np.float64)
        q = _clean(query)
        if not q or not t_idx:
            return out
        ps = self._parasail
        first = GAP_OPEN + GAP_EXTEND  # parasail's open: the cost of a gap's first residue
        profile8 = profile16 = None  # query profiles, made on first use
        wide = np.zeros(len(t_idx), dtype=bool) if at_least is None else np.asarray(at_least) >= SATURATES_8
        for r, t in enumerate(t_idx):
            target = self.proteins[t]
            if not target:
                continue
            res = None
            if not wide[r]:
                profile8 = profile8 or ps.profile_create_8(q, ps.blosum62)
                res = ps.sw_striped_profile_8(profile8, target, first, GAP_EXTEND)
            if res is None or res.saturated:
                profile16 = profile16 or ps.profile_create_16(q, ps.blosum62)
                res = ps.sw_striped_profile_16(profile16, target, first, GAP_EXTEND)
            out[r] = res.score
        return out

    def score(self, query: str, targets: Sequence[int] | np.ndarray, at_least: np.ndarray | None = None) -> np.ndarray:
        """float64 ``-log10 E`` of ``query`` against each of ``targets`` (module doc); ``at_least``
        as in :meth:`raw`."""
        n = np.array([len(self.proteins[int(t)]) for t in targets], dtype=np.float64)
        return significance(self.raw(query, targets, at_least), len(query), n)

    def rank(self, query: str, targets: Sequence[int]) -> list[tuple[int, float]]:
        """``(target, -log10 E)`` of each of ``targets``, best first; equal scores keep the order
        of ``targets`` (the candidate finder's)."""
        return ranked(targets, self.score(query, targets))


def make_rescorer(name: str, proteins: Sequence[str]) -> Any:
    """The re-scorer ``name`` of :data:`RESCORERS` over ``proteins``: each gives ``score`` (-log10 E
    per target) and ``rank`` (best first)."""
    if name == "seeded":
        from .protein_seeds import SeededScorer

        return SeededScorer(proteins)
    if name == "align":
        return AlignScorer(proteins)
    if name == "diagonal":
        return DiagonalScorer(proteins)
    raise DnaHlmError(f"unknown re-scorer {name!r}: expected one of {', '.join(RESCORERS)}")
