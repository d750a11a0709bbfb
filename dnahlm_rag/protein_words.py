"""Exact amino-acid word search: cosine of sparse word profiles through an inverted file.

Homologous proteins of distant species share few long words, but the ones they share are rare
in the collection, which is what a homolog search needs. A dense profile cannot hold them:
there are 20^4 = 160,000 exact 4-mers. Here each protein is a sparse vector over those words
(log tf, idf from the collection, as in :mod:`dnahlm_rag.protein_embed`), and the collection is
stored as an inverted file: for each word, the proteins that hold it and their weights (CSR
arrays, written with safetensors). A query's score against every protein is the sum over its own
words of query weight x posting weight, the exact cosine, summed by a compiled loop (numba) over
the postings of the query's words only; the top ``k`` are picked through a histogram of the
scores, so only the rows near the top are sorted. A 300-residue query touches about 75,000
postings with the default patterns; an exact search of 40k proteins takes about 0.5 ms here
(stop 27: 0.9 ms for a query's two ORFs, against 1.5 ms with SciPy's sparse product and
``argpartition``, bench/bench_align_budget.py).

Words are read through one or more ``patterns`` (``1`` = a position of the word): the default is
contiguous 4-mers (``1111``) and spaced 4-mers that skip the middle residue (``11011``), so a
substitution breaks only some of the words around it (a spaced seed, as in PatternHunter). Each
pattern is its own block of word ids, L2-normalised on its own and weighted ``1/sqrt(blocks)``:
the score is the mean of the blocks' cosines, itself a cosine in [0, 1].

Chosen on the validation organisms (bench/bench_protein.py, docs/benchmarks.md). Product F1 of
the top hit after the diagonal re-scoring of the top 50 (:mod:`dnahlm_rag.protein_rerank`) was
0.323 with exact aa20 4-mers, 0.244 with the dense Murphy-10 3-mer profile searched by FAISS, and
0.29-0.32 with reduced-alphabet 4-6-mers, spaced 4-5-mers and unions of two designs, in units of
the ORF's self-score. Ranked by E-value, 4-mers alone give 0.327 on 513 validation queries and
4-mers with ``11011`` 0.340 (with ``1010101`` or ``110011`` instead: 0.338, 0.335; a third block,
0.346, at 1.5x the search time).

Residues outside the 20 (``X``, ``*``, ...) break words; lower case is upper-cased. A protein
with no whole word scores 0 against everything and gets no hits.

>>> w = WordIndex.build(["MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAKQRQ", "GGGGGGGGGG"])
>>> scores, ids = w.search(["MKTAYIAKQRQISFVKSHFSRQ"], k=3)
>>> [int(i) for i in ids[0]], [round(float(s), 3) for s in scores[0]]
([0, 1, -1], [1.0, 0.531, 0.0])
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DnaHlmError
from .protein_embed import ALPHABETS, KmerBlock, _block_words, _joined

#: Bumped whenever the scores change for the same proteins and config.
VERSION = 2  # 2: several patterns (blocks), each normalised on its own
WORDS_FILE = "words.safetensors"


@dataclass(frozen=True)
class WordConfig:
    """Which words: ``alphabet`` (a key of :data:`~dnahlm_rag.protein_embed.ALPHABETS`) read
    through each of ``patterns`` (``1`` = a position of the word; ``"1111"`` = contiguous
    4-mers, ``"11011"`` = 4 residues of a 5-residue window, the middle one skipped)."""

    alphabet: str = "aa20"
    patterns: tuple[str, ...] = ("1111", "11011")

    def check(self) -> None:
        if not self.patterns or len(set(self.patterns)) != len(self.patterns):
            raise DnaHlmError(f"word patterns {self.patterns!r}: give one or more distinct patterns")
        for pattern in self.patterns:
            KmerBlock(self.alphabet, pattern).check()
        if self.n_words >= 2 ** 31:
            raise DnaHlmError(f"{self.alphabet} words of patterns {self.patterns} do not fit in int32 ids")

    @cached_property
    def offsets(self) -> np.ndarray:
        """int64 first word id of each pattern's block, then the total: ``(len(patterns) + 1,)``."""
        sizes = [len(ALPHABETS[self.alphabet]) ** p.count("1") for p in self.patterns]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def n_words(self) -> int:
        return int(self.offsets[-1])


def _word_pairs(proteins: Sequence[str], config: WordConfig) -> tuple[np.ndarray, np.ndarray]:
    """(protein number, word id) of every whole word of every protein, block by block; a block's
    word ids start at its offset (:attr:`WordConfig.offsets`)."""
    raw, doc = _joined(proteins)
    docs, words = [], []
    for pattern, offset in zip(config.patterns, config.offsets):
        d, w = _block_words(raw, doc, KmerBlock(config.alphabet, pattern))
        docs.append(d)
        words.append(w.astype(np.int64) + offset)
    return np.concatenate(docs), np.concatenate(words)


def _unit_weights(d: np.ndarray, w: np.ndarray, tf: np.ndarray, idf: np.ndarray, n_docs: int,
                  offsets: np.ndarray) -> np.ndarray:
    """float32 (1 + ln tf) * idf of unique (doc ``d``, word ``w``) pairs, unit norm per doc and
    block (``offsets``), times ``1 / sqrt(blocks)``."""
    n_blocks = len(offsets) - 1
    unit = d * n_blocks + np.searchsorted(offsets, w, side="right") - 1
    val = (1.0 + np.log(tf)) * idf[w]
    norm = np.sqrt(np.bincount(unit, weights=val * val, minlength=n_docs * n_blocks))
    return (val / np.where(norm > 0, norm, 1.0)[unit] / np.sqrt(n_blocks)).astype(np.float32)


def _weights(doc: np.ndarray, word: np.ndarray, n_docs: int, idf: np.ndarray, config: WordConfig
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique (doc, word) pairs sorted by doc then word, with their unit-norm weights."""
    n_words = np.int64(idf.size)
    key, tf = np.unique(doc * n_words + word, return_counts=True)
    d, w = key // n_words, key % n_words
    return d, w, _unit_weights(d, w, tf, idf, n_docs, config.offsets)


@lru_cache(maxsize=1)
def _kernel() -> Any:
    """The compiled search loop (numba: compiled on first use, about 2 s, then kept in numba's
    cache beside this module, as :mod:`dnahlm_rag.protein_seeds` keeps its kernels)."""
    from numba import njit

    @njit(cache=True)
    def top_rows(qw, qv, bounds, ptr, rows, vals, n_rows, out_scores, out_ids):  # pragma: no cover - compiled
        """For each query i (words ``qw[bounds[i]:bounds[i+1]]``, weights ``qv``): weight x
        posting summed over its words' postings into one float64 score per row, in word order
        (as a sparse vector-matrix product sums them); then the top ``k`` rows with a positive
        score, best first, lower row first on ties, into row i of ``out_scores`` / ``out_ids``.
        The k-th score is bracketed by a histogram of the scores (cosines, in [0, 1]), so only
        the rows of its bin and above are sorted."""
        k = out_ids.shape[1]
        n_bins = 4096
        acc = np.zeros(n_rows, np.float64)
        hist = np.zeros(n_bins, np.int64)
        for i in range(len(bounds) - 1):
            for x in range(bounds[i], bounds[i + 1]):
                w, v = qw[x], qv[x]
                for p in range(ptr[w], ptr[w + 1]):
                    acc[rows[p]] += v * vals[p]
            hist[:] = 0
            for r in range(n_rows):  # no branch: zeros count in bin 0 (not read unless needed)
                hist[min(n_bins - 1, int(acc[r] * n_bins))] += 1
            low, m = 0, 0  # the lowest bin needed, and the rows in it and above
            for b in range(n_bins - 1, 0, -1):
                m += hist[b]
                if m >= k:
                    low = b
                    break
            if low == 0:  # fewer than k rows above bin 0: bin 0's positive rows too
                m = 0
                for r in range(n_rows):
                    m += acc[r] > 0.0
            edge = max(low / n_bins, 5e-324)  # exact: n_bins is a power of 2; > 0 in bin 0
            cand = np.empty(m, np.int64)  # ascending rows
            sc = np.empty(m, np.float64)
            j = 0
            for r in range(n_rows):
                if acc[r] >= edge and j < m:  # always j < m (the same test as the bin's); a guard
                    cand[j], sc[j] = r, acc[r]
                    j += 1
            acc[:] = 0.0
            if m > k:  # the k-th best score; the rows above it, then those equal to it, lowest first
                cut = np.partition(sc, m - k)[m - k]
                keep = np.empty(k, np.int64)
                a, b = 0, int(np.sum(sc > cut))  # next slot for a row above the cut, for one equal to it
                for j in range(m):
                    if sc[j] > cut:
                        keep[a] = j
                        a += 1
                    elif sc[j] == cut and b < k:
                        keep[b] = j
                        b += 1
                cand, sc = cand[keep], sc[keep]
            order = np.argsort(-sc, kind="mergesort")  # stable: rows ascending within a score
            for j in range(order.size):
                out_scores[i, j] = sc[order[j]]
                out_ids[i, j] = cand[order[j]]
        return out_scores

    return top_rows


class WordIndex:
    """Inverted file of a protein collection's words (module doc); rows are addressed by position."""

    def __init__(self, config: WordConfig, idf: np.ndarray, ptr: np.ndarray, rows: np.ndarray,
                 vals: np.ndarray, n_rows: int) -> None:
        config.check()
        if idf.size != config.n_words or ptr.size != config.n_words + 1 or rows.size != vals.size \
                or int(ptr[-1]) != rows.size or (rows.size and int(rows.max()) >= n_rows):
            raise DnaHlmError("word index arrays are inconsistent with each other or the config: rebuild the index")
        self.config, self.idf, self.ptr, self.rows, self.vals, self.n_rows = config, idf, ptr, rows, vals, n_rows

    def __len__(self) -> int:
        return self.n_rows

    @classmethod
    def build(cls, proteins: Sequence[str], config: WordConfig | None = None) -> "WordIndex":
        """Index ``proteins`` (one-letter codes); the idf is learnt from them."""
        config = config or WordConfig()
        config.check()
        n, n_words = len(proteins), config.n_words
        doc, word = _word_pairs(proteins, config)
        # one sort: unique (word, protein) pairs, ordered by word then protein = the postings order
        key, tf = np.unique(word * np.int64(max(n, 1)) + doc, return_counts=True)
        w, d = key // max(n, 1), key % max(n, 1)
        df = np.bincount(w, minlength=n_words)
        idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        val = _unit_weights(d, w, tf, idf, n, config.offsets)
        ptr = np.zeros(n_words + 1, dtype=np.int64)
        np.cumsum(df, out=ptr[1:])
        return cls(config, idf, ptr, d.astype(np.int32), val, n)

    def search(self, proteins: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by cosine for each query protein: ``(scores float32, ids int64)``, each
        ``(n, k)``, best first (equal scores: the lower row first); ids are -1 (score 0) where
        fewer than ``k`` rows share a word."""
        k = max(1, min(k, self.n_rows)) if self.n_rows else 1
        scores = np.zeros((len(proteins), k), dtype=np.float32)
        ids = np.full((len(proteins), k), -1, dtype=np.int64)
        if not self.n_rows or not len(proteins):
            return scores, ids
        doc, word = _word_pairs(proteins, self.config)
        qd, qw, qv = _weights(doc, word, len(proteins), self.idf, self.config)
        bounds = np.searchsorted(qd, np.arange(len(proteins) + 1))
        _kernel()(qw, qv.astype(np.float64), bounds, self.ptr, self.rows, self.vals, self.n_rows, scores, ids)
        return scores, ids

    def describe(self) -> dict[str, Any]:
        return {"name": "words", "version": VERSION, **asdict(self.config),
                "postings": int(self.rows.size), "rows": self.n_rows}

    def save(self, path: str | Path) -> None:
        """Write the arrays with safetensors (no pickle); the config goes in its metadata."""
        from safetensors.numpy import save_file

        save_file({"idf": self.idf, "ptr": self.ptr, "rows": self.rows, "vals": self.vals}, str(path),
                  metadata={"alphabet": self.config.alphabet, "patterns": ",".join(self.config.patterns),
                            "version": str(VERSION), "n_rows": str(self.n_rows)})

    @classmethod
    def load(cls, path: str | Path) -> "WordIndex":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                arrays = {name: f.get_tensor(name) for name in ("idf", "ptr", "rows", "vals")}
        except Exception as e:  # safetensors raises its own error types for a bad header
            raise DnaHlmError(f"cannot read word index {path} ({str(e).splitlines()[0][:100]}): rebuild the index") from None
        if meta.get("version") != str(VERSION):
            raise DnaHlmError(f"word index {path} is version {meta.get('version')}, this code reads {VERSION}: rebuild it")
        cfg = WordConfig(meta.get("alphabet", ""), tuple(meta.get("patterns", "").split(",")))
        return cls(cfg, arrays["idf"], arrays["ptr"], arrays["rows"], arrays["vals"], int(meta.get("n_rows", -1)))
