"""Fast re-scoring of protein candidates: FASTA-style shared words on one diagonal, then an
ungapped BLOSUM62 extension.

The protein index proposes candidates by k-mer profile cosine, which ranks by composition and
cannot tell a homolog from a protein with similar words in another order. A homolog shares
words *in register*: word hits of query position ``i`` and target position ``j`` pile up on one
diagonal ``i - j``. :class:`DiagonalScorer` re-scores a query protein against a few candidates:

1. exact ``k``-mer words (20-letter alphabet; ``X``, ``*`` and other non-residues break words)
   shared by the query and each candidate, found with sorted arrays (no Python loop per word);
2. hits binned by diagonal; the ``diagonals`` diagonals with the most hits per candidate kept
   (a diagonal needs at least ``min_hits`` hits);
3. along each kept diagonal, the best-scoring ungapped segment under BLOSUM62 (maximum-sum
   subarray of the residue-pair scores over the whole overlap, all candidates at once);
4. score = the significance of the best kept segment (``combine``: the kept diagonals' segment
   scores summed, a crude stand-in for gapped alignment, or their maximum): ``-log10 E`` with the
   Karlin-Altschul E-value of an ungapped local alignment, ``E = K m n exp(-lambda S)`` (``S`` the
   raw BLOSUM62 score, ``m`` and ``n`` the query's and the candidate's lengths in residues;
   ``lambda`` = 0.3176 and ``K`` = 0.134, BLAST's ungapped BLOSUM62 values). Higher is better;
   2 means E = 0.01. Unlike a score in units of the query's self-score, it can be compared across
   queries of different lengths, such as the ORFs of one query.

The defaults (one diagonal, 3-mers) were chosen on the validation organisms of
``bench/bench_protein.py``; there it re-ranks the protein index's top 50 as well as a full
Smith-Waterman alignment (Biopython ``PairwiseAligner``, BLOSUM62, gaps 11/1) does: product F1
0.244 against 0.242 (test: 0.286 and 0.286), at about 1 ms per query where the aligner
needs 80-100 ms for the top 10 alone.
Summing 3 diagonals, or taking the best of 5, or 2-mers, did no better. The E-value replaced the
segment score divided by the ORF's self-score (2026-11-30): when a query has several ORFs, a weak
hit on a short ORF no longer outranks a strong one on the real gene (validation product F1 of the
shipped retriever 0.323 -> 0.342 in bench/bench_protein.py, docs/benchmarks.md phase 5).

Positions are 0-based residue indices; :meth:`DiagonalScorer.raw` gives raw BLOSUM62 units. Every
operation is vectorised over the candidates (a few tens of numpy calls per query: well under
1 ms for 20-50 candidates of a few hundred residues).

>>> s = DiagonalScorer(["MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAKQRQ", "QRSFHSKVFSIQRQKAIYATKM"])
>>> [int(x) for x in s.raw("MKTAYIAKQRQISFVKSHFSRQ", [0, 1, 2])]  # self, a half, reversed
[109, 54, 15]
>>> [round(float(x), 1) for x in s.score("MKTAYIAKQRQISFVKSHFSRQ", [0, 1, 2])]  # -log10 E
[13.2, 5.9, 0.3]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import DnaHlmError

AMINO_ACIDS = "ARNDCQEGHILKMFPSTWYV"  # BLOSUM62's order
#: Karlin-Altschul statistics of ungapped BLOSUM62 (BLAST's values, per raw score unit)
KA_LAMBDA, KA_K = 0.3176, 0.134
_OTHER = 20  # code of every non-residue (X, *, B, Z, U, O, gaps): breaks words, scores _OTHER_SCORE
_OTHER_SCORE = -4
_LUT = np.full(256, _OTHER, dtype=np.uint8)
for _i, _a in enumerate(AMINO_ACIDS):
    _LUT[ord(_a)] = _i
    _LUT[ord(_a.lower())] = _i


def ranked(targets: Sequence[int], scores: Sequence[float] | np.ndarray) -> list[tuple[int, float]]:
    """``(target, score)`` pairs best first; equal scores keep the order of ``targets``."""
    order = sorted(range(len(scores)), key=lambda r: -float(scores[r]))
    return [(int(targets[r]), float(scores[r])) for r in order]


@lru_cache(maxsize=1)
def blosum62() -> np.ndarray:
    """(21, 21) int32 BLOSUM62 over :data:`AMINO_ACIDS` plus one row/column (-4) for anything else."""
    from Bio.Align import substitution_matrices

    m = substitution_matrices.load("BLOSUM62")
    out = np.full((21, 21), _OTHER_SCORE, dtype=np.int32)
    for i, a in enumerate(AMINO_ACIDS):
        for j, b in enumerate(AMINO_ACIDS):
            out[i, j] = int(m[a][b])
    return out


def encode(protein: str) -> np.ndarray:
    """uint8 codes of a protein: 0-19 for the residues of :data:`AMINO_ACIDS`, 20 for anything else."""
    return _LUT[np.frombuffer(protein.encode("ascii", "replace"), dtype=np.uint8)]


def words(codes: np.ndarray, k: int) -> np.ndarray:
    """int64 ``k``-mer words (base 20) starting at each position ``0 .. len - k``; -1 where the
    window holds a non-residue. Empty when ``len(codes) < k``."""
    n = len(codes) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    w = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    for o in range(k):
        c = codes[o:o + n]
        w = w * 20 + c
        bad |= c == _OTHER
    w[bad] = -1
    return w


@dataclass(frozen=True)
class DiagonalConfig:
    """Settings of :class:`DiagonalScorer` (chosen on the validation organisms, docs/benchmarks.md)."""

    k: int = 3            # word length (residues, 20-letter alphabet)
    diagonals: int = 1    # best diagonals per candidate (by word hits) extended; 1 was best on valid
    min_hits: int = 1     # word hits a diagonal needs to count
    combine: str = "sum"  # how the kept diagonals' segment scores combine: sum | max


class DiagonalScorer:
    """Re-scores candidates of a fixed protein collection against query proteins (module doc).

    ``proteins`` are the collection's sequences (one-letter codes), addressed by their position.
    """

    def __init__(self, proteins: Sequence[str], config: DiagonalConfig | None = None) -> None:
        self.config = config or DiagonalConfig()
        if self.config.k < 1 or self.config.diagonals < 1 or self.config.min_hits < 1:
            raise DnaHlmError(f"bad diagonal scorer settings {self.config}: k, diagonals and min_hits must be >= 1")
        if self.config.combine not in ("sum", "max"):
            raise DnaHlmError(f"unknown combine {self.config.combine!r}: expected 'sum' or 'max'")
        lens = np.fromiter((len(p) for p in proteins), dtype=np.int64, count=len(proteins))
        self.starts = np.zeros(len(proteins) + 1, dtype=np.int64)
        np.cumsum(lens, out=self.starts[1:])
        self.codes = encode("".join(proteins)) if len(proteins) else np.empty(0, dtype=np.uint8)
        self.matrix = blosum62()
        # the word starting at each residue of the collection; words running past their protein's
        # end, or holding a non-residue, are the "no word" code 20**k (a table slot that never hits)
        k = self.config.k
        self.no_word = 20 ** k
        w = np.full(len(self.codes), self.no_word, dtype=np.int32)
        cw = words(self.codes, k)
        w[:len(cw)] = np.where(cw >= 0, cw, self.no_word)
        ends = self.starts[1:]
        for o in range(1, k):  # the last k-1 positions of each protein
            pos = ends - o
            pos = pos[pos >= self.starts[:-1]]
            w[pos] = self.no_word
        self.words = w

    def __len__(self) -> int:
        return len(self.starts) - 1

    def score(self, query: str, targets: Sequence[int] | np.ndarray) -> np.ndarray:
        """float64 ``-log10 E`` of ``query`` against each collection protein in ``targets``
        (positions): the E-value of :meth:`raw`'s segment score for these lengths (module doc).
        Where no diagonal has ``min_hits`` word hits the raw score is 0 and this ``-log10(K m n)``."""
        t_idx = np.asarray(targets, dtype=np.int64)
        raw = self.raw(query, t_idx)
        m = max(1, len(query))
        n = np.maximum(1, self.starts[t_idx + 1] - self.starts[t_idx]) if len(t_idx) else np.ones(0)
        return (KA_LAMBDA * raw - np.log(KA_K * m * n)) / np.log(10.0)

    def rank(self, query: str, targets: Sequence[int]) -> list[tuple[int, float]]:
        """``(target, -log10 E)`` of each of ``targets``, best first; equal scores keep the order
        of ``targets`` (the candidate finder's)."""
        return ranked(targets, self.score(query, targets))

    def raw(self, query: str, targets: Sequence[int] | np.ndarray) -> np.ndarray:
        """float64 raw BLOSUM62 score of the best kept segment(s) of ``query`` against each
        collection protein in ``targets`` (positions); 0.0 where no diagonal has ``min_hits`` word hits."""
        t_idx = np.asarray(targets, dtype=np.int64)
        out = np.zeros(len(t_idx), dtype=np.float64)
        if len(t_idx) and (t_idx.min() < 0 or t_idx.max() >= len(self)):
            raise DnaHlmError(f"target positions must lie in [0, {len(self)})")
        k = self.config.k
        q = encode(query)
        qw = words(q, k)
        qw_pos = np.flatnonzero(qw >= 0)
        if len(t_idx) == 0 or len(qw_pos) == 0:
            return out
        # the query's words as a table: word -> count and the slice of its positions in q_pos
        q_cnt = np.bincount(qw[qw_pos], minlength=self.no_word + 1)
        q_first = np.cumsum(q_cnt) - q_cnt
        q_pos = qw_pos[np.argsort(qw[qw_pos], kind="stable")]

        # every candidate's residues, concatenated: cand (which candidate), j (position in it)
        t_len = self.starts[t_idx + 1] - self.starts[t_idx]
        t_off = np.zeros(len(t_idx) + 1, dtype=np.int64)
        np.cumsum(t_len, out=t_off[1:])
        cand = np.repeat(np.arange(len(t_idx)), t_len)
        glob = np.arange(int(t_off[-1])) + (self.starts[t_idx] - t_off[:-1])[cand]
        tw = self.words[glob]

        # word hits (i in query, j in target)
        n_hit = q_cnt[tw]
        src = np.flatnonzero(n_hit)
        if len(src) == 0:
            return out
        n_src = n_hit[src]
        src_rep = np.repeat(src, n_src)
        first = np.cumsum(n_src) - n_src
        hit_i = q_pos[np.repeat(q_first[tw[src]] - first, n_src) + np.arange(len(src_rep))]
        hit_c = cand[src_rep]
        hit_j = src_rep - t_off[hit_c]

        # diagonals d = i - j + (max target length - 1) >= 0, binned per candidate
        shift = int(t_len.max()) - 1
        width = len(q) + shift
        counts = np.bincount(hit_c * width + hit_i - hit_j + shift, minlength=len(t_idx) * width)
        counts = counts.reshape(len(t_idx), width)
        nd = min(self.config.diagonals, width)
        if nd == 1:
            best = counts.argmax(axis=1)[:, None]
        elif nd < width:
            best = np.argpartition(-counts, nd - 1, axis=1)[:, :nd]
        else:
            best = np.broadcast_to(np.arange(width), (len(t_idx), width))
        keep = np.take_along_axis(counts, best, axis=1) >= self.config.min_hits
        c_sel, d_sel = np.nonzero(keep)
        if len(c_sel) == 0:
            return out
        diag = best[c_sel, d_sel] - shift  # i - j
        seg = self._ungapped(q, diag, t_idx[c_sel], t_len[c_sel])
        if self.config.combine == "sum":
            np.add.at(out, c_sel, seg)
        else:
            np.maximum.at(out, c_sel, seg)
        return out

    def _ungapped(self, q: np.ndarray, diag: np.ndarray, tpos: np.ndarray, tlen: np.ndarray) -> np.ndarray:
        """Best ungapped segment score along each diagonal ``i - j = diag`` of query ``q`` against
        collection protein ``tpos`` (length ``tlen``): max-sum subarray, all diagonals at once."""
        i0 = np.maximum(diag, 0)
        j0 = i0 - diag
        n = np.maximum(np.minimum(len(q) - i0, tlen - j0), 0)
        # one extra leading slot per diagonal holds the prefix sum 0 (the empty segment)
        off = np.zeros(len(diag) + 1, dtype=np.int64)
        np.cumsum(n + 1, out=off[1:])
        which = np.repeat(np.arange(len(diag)), n + 1)
        step = np.arange(int(off[-1])) - off[which]  # 0 = the leading slot
        inner = step > 0
        s = np.zeros(len(step), dtype=np.int64)
        w, st = which[inner], step[inner] - 1
        s[inner] = self.matrix[q[i0[w] + st], self.codes[self.starts[tpos[w]] + j0[w] + st]]
        # segmented prefix sums: global cumsum minus the cumsum at each diagonal's leading slot
        cs = np.cumsum(s)
        cs -= cs[off[:-1]][which]
        # segmented running minimum: push each later diagonal below every earlier one
        big = int(np.abs(self.matrix).max()) * (int(n.max()) + 1) * 2 + 1
        lowered = cs - big * which
        run_min = np.minimum.accumulate(lowered) + big * which
        gain = cs - run_min
        return np.maximum.reduceat(gain, off[:-1]).astype(np.float64)
