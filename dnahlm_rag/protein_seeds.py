"""Seed filter before the gapped alignment: BLAST's two stages, over the word index's candidates.

A Smith-Waterman score costs about 40 microseconds per candidate here (parasail's SIMD kernel,
bench/bench_align_budget.py), so aligning the word index's top 1,000 costs 40 ms, and a query may
align only about 50 within issue 7's budget (1/50 of blastx's CPU time). Yet on the validation
organisms the best-aligned of the top 1,000 names the product better than the best of the top 50
(token F1 0.354 against 0.331): the homologs that matter are often far down the word ranking.
BLAST's answer is to align only where an ungapped seed extension says it is worth it, and so does
:class:`SeededScorer`:

1. :class:`SeedFilter` (compiled with numba, about 2.5 microseconds per candidate): the query's
   exact amino-acid 3-mers (the 20 standard residues) are looked up along each candidate; the
   diagonal (candidate position minus query position) holding the most shared 3-mers is taken,
   first found on ties, and its maximal-scoring ungapped segment under BLOSUM62 is the
   candidate's ungapped score ``u`` (0 when no 3-mer is shared). ``u`` is a lower bound of the
   Smith-Waterman score, so ``-log10 E`` computed from ``u`` with the gapped statistics of
   :mod:`dnahlm_rag.protein_align` is a lower bound of the candidate's significance.
2. The first ``always`` candidates (the word ranking's best) and every candidate whose bound
   reaches ``min_bound`` are aligned (:class:`~dnahlm_rag.protein_align.AlignScorer`); the others
   keep their bound, which lies below ``min_bound``: insignificant either way.

Chosen on the validation organisms (600 CDS, bench/bench_align_budget.py; docs/benchmarks.md,
"Protein-level retrieval", phase 9): over the word index's top 1,000, ``always`` 10 and
``min_bound`` 2 (E = 0.01) make about 22 alignments per query for a product F1 of 0.342 (the
best-aligned candidate, no threshold; all 1,000 aligned: 0.354; the top 50 aligned: 0.331); 25
instead of 10 gave 0.002 more for 15 more alignments, a bound of 1.5 or 2.5 no more.

Coordinates: positions are 0-based; a diagonal is ``target position - query position``.

>>> f = SeedFilter(["MKTAYIAKQRQISFVKSHFSRQ", "GGGGGGGGGGGG", "AAAMKTAYIAKQRQ"])
>>> [int(x) for x in f.ungapped("MKTAYIAKQRQ", [0, 1, 2])]  # prefix, no shared word, shifted copy
[54, 0, 54]
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import DnaHlmError
from .protein_align import AlignScorer, significance
from .protein_rerank import ranked

#: Letters of the score matrix, parasail's and NCBI's order; anything else reads as X.
LETTERS = "ARNDCQEGHILKMFPSTWYVBZX*"
_X = LETTERS.index("X")
_LUT = np.full(256, _X, dtype=np.uint8)
for _i, _a in enumerate(LETTERS):
    _LUT[ord(_a)] = _i
    _LUT[ord(_a.lower())] = _i
WORD = 3  # seed length (residues): 8,000 words of the 20 standard residues
ALWAYS = 10  # candidates aligned whatever their seed: the word ranking's best
MIN_BOUND = 2.0  # -log10 E bound from the ungapped segment above which a candidate is aligned


@lru_cache(maxsize=1)
def blosum62_24() -> np.ndarray:
    """(24, 24) int32 BLOSUM62 over :data:`LETTERS` (Biopython's copy of NCBI's matrix)."""
    from Bio.Align import substitution_matrices

    m = substitution_matrices.load("BLOSUM62")
    return np.array([[int(m[a][b]) for b in LETTERS] for a in LETTERS], dtype=np.int32)


def encode(protein: str) -> np.ndarray:
    """uint8 codes of a protein in :data:`LETTERS` order (0-19: the standard residues)."""
    return _LUT[np.frombuffer(protein.encode("ascii", "replace"), dtype=np.uint8)]


def word_ids(codes: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """int16 id (base 20) of the 3-mer starting at each position of concatenated proteins
    ``codes``, -1 where it holds a non-standard residue or runs past its protein's end
    (``ends``: exclusive end offset of each protein)."""
    n = codes.size
    w = np.zeros(n, dtype=np.int32)
    bad = np.zeros(n, dtype=bool)
    for o in range(WORD):
        c = np.full(n, 20, dtype=np.int32)
        c[:n - o] = codes[o:]
        w = w * 20 + np.minimum(c, 19)
        bad |= c >= 20
    for o in range(1, WORD):  # the last WORD - 1 starts of each protein run past its end
        at = ends - o
        bad[at[at >= 0]] = True
    w[bad] = -1
    return w.astype(np.int16)


@lru_cache(maxsize=1)
def _kernels():
    """The compiled kernels. numba compiles them on first use (about 3 s) and keeps the machine
    code in its own cache beside this module (``__pycache__``, as Python keeps ``.pyc`` files;
    about 0.6 s to load in a new process); it is no project data."""
    from numba import njit

    @njit(cache=True)
    def query_table(q):  # pragma: no cover - compiled
        """CSR table word -> query positions of the query's 3-mers."""
        n = len(q) - WORD + 1
        counts = np.zeros(20 ** WORD + 1, np.int32)
        ids = np.full(max(n, 0), -1, np.int32)
        for i in range(max(n, 0)):
            w = 0
            for o in range(WORD):
                c = q[i + o]
                if c >= 20:
                    w = -1
                    break
                w = w * 20 + c
            if w >= 0:
                ids[i] = w
                counts[w + 1] += 1
        ptr = np.cumsum(counts).astype(np.int32)  # int32: the 8,001 entries fit in L1 cache
        pos = np.empty(ptr[-1], np.int32)
        fill = ptr[:-1].copy()
        for i in range(max(n, 0)):
            if ids[i] >= 0:
                pos[fill[ids[i]]] = i
                fill[ids[i]] += 1
        return ptr, pos

    @njit(cache=True)
    def ungapped(q, ptr, pos, words, codes, offsets, targets, matrix):  # pragma: no cover - compiled
        """Best-diagonal ungapped segment score of the query against each target (module doc)."""
        out = np.zeros(len(targets), np.int32)
        lq = len(q)
        longest = 0
        for t in targets:
            longest = max(longest, offsets[t + 1] - offsets[t])
        count = np.zeros(lq + longest + 1, np.int32)
        touched = np.empty(lq + longest + 1, np.int32)
        for r in range(len(targets)):
            a = offsets[targets[r]]
            lt = offsets[targets[r] + 1] - a
            n_touched, best, best_d = 0, 0, 0
            for j in range(lt):
                w = words[a + j]
                if w < 0:
                    continue
                for p in range(ptr[w], ptr[w + 1]):
                    d = j - pos[p] + lq  # diagonal, shifted to be >= 1
                    c = count[d] + 1
                    count[d] = c
                    if c == 1:
                        touched[n_touched] = d
                        n_touched += 1
                    if c > best:
                        best, best_d = c, d
            for x in range(n_touched):
                count[touched[x]] = 0
            if best == 0:
                continue
            off = best_d - lq
            run, top = 0, 0
            for i in range(max(0, -off), min(lq, lt - off)):  # Kadane along the diagonal
                run += matrix[q[i], codes[a + i + off]]
                if run < 0:
                    run = 0
                elif run > top:
                    top = run
            out[r] = top
        return out

    return query_table, ungapped


class SeedFilter:
    """Ungapped best-diagonal scores of a query against collection proteins (module doc)."""

    def __init__(self, proteins: Sequence[str]) -> None:
        self.lengths = np.array([len(p) for p in proteins], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.codes = encode("".join(proteins)) if len(proteins) else np.zeros(0, dtype=np.uint8)
        self.words = word_ids(self.codes, self.offsets[1:])
        self._query_table, self._ungapped = _kernels()

    def __len__(self) -> int:
        return self.lengths.size

    def ungapped(self, query: str, targets: Sequence[int] | np.ndarray) -> np.ndarray:
        """int32 ungapped score (BLOSUM62 units) of ``query``'s best diagonal with each of
        ``targets`` (positions in the collection); 0 where no 3-mer is shared."""
        t = np.asarray(targets, dtype=np.int64).reshape(-1)
        if t.size and (t.min() < 0 or t.max() >= len(self)):
            raise DnaHlmError(f"target positions must lie in [0, {len(self)})")
        if not t.size or len(query) < WORD:
            return np.zeros(t.size, dtype=np.int32)
        q = encode(query)
        ptr, pos = self._query_table(q)
        return self._ungapped(q, ptr, pos, self.words, self.codes, self.offsets, t, blosum62_24())


class SeededScorer:
    """``-log10 E`` of a query against candidates, aligning only those the seeds call for: the
    first ``always`` and those whose ungapped bound reaches ``min_bound`` (module doc); same
    interface as :class:`~dnahlm_rag.protein_align.AlignScorer`."""

    def __init__(self, proteins: Sequence[str], always: int = ALWAYS, min_bound: float = MIN_BOUND,
                 aligner: Any = None) -> None:
        """``aligner``: what aligns (``score(query, targets, at_least=)``), by default an
        :class:`~dnahlm_rag.protein_align.AlignScorer` over ``proteins``; a bench passes one that
        keeps its alignments across calls."""
        self.aligner = aligner if aligner is not None else AlignScorer(proteins)
        self.seeds = SeedFilter(proteins)  # encode() reads letters as AlignScorer does: others as X
        self.always, self.min_bound = always, min_bound
        self.aligned = 0  # alignments made so far (for benches)

    def __len__(self) -> int:
        return len(self.seeds)

    def score(self, query: str, targets: Sequence[int] | np.ndarray, always: int | None = None) -> np.ndarray:
        """float64 ``-log10 E`` per target: the gapped alignment's where aligned, else the bound.
        ``always``: how many leading targets are aligned whatever their seeds (default: the
        scorer's own ``always``; a retriever that splits one query's candidates over its ORFs
        gives each ORF its share of the query's first ``always``)."""
        first = self.always if always is None else max(0, always)
        t = np.asarray(targets, dtype=np.int64).reshape(-1)
        bound = self.seeds.ungapped(query, t)
        out = significance(bound.astype(np.float64), len(query), self.seeds.lengths[t])
        align = out >= self.min_bound
        align[:first] = True
        if align.any():  # the bound also tells the aligner which scores need 16 bits
            out[align] = self.aligner.score(query, t[align], at_least=bound[align])
            self.aligned += int(align.sum())
        return out

    def rank(self, query: str, targets: Sequence[int]) -> list[tuple[int, float]]:
        """``(target, -log10 E)`` best first; ties keep the order of ``targets``."""
        return ranked(targets, self.score(query, targets))
