"""Canonical k-mer profile embedding: fast, strand-blind, numpy only.

A sequence becomes one L2-normalised float32 vector built from two kinds of block:

* **composition blocks**, one per ``k`` in ``exact_ks`` (default 3 and 4): counts of *canonical*
  k-mers (a k-mer and its reverse complement are one column: 32 and 136 columns), turned into
  term frequencies, weighted by a smoothed IDF ``log((1 + N) / (1 + df)) + 1`` fitted on the
  indexed corpus, centred on the corpus mean (so the block scores deviations from typical
  composition: GC content, codon bias) and L2-normalised;
* **a homology block**: canonical words hashed with a random sign into ``hash_dim`` buckets
  (signed feature hashing keeps inner products unbiased). Words are contiguous k-mers
  (``hashed_ks``) and/or *spaced seeds* (``spaced_seeds``, palindromic masks so that both strands
  read the same positions). The default seed ``11011011011`` reads the first two bases of four
  consecutive codons, which survive synonymous third-position changes: on held-out CDS of other
  species it found the BLAST top hit about 2-3x as often as contiguous 8- and 12-mers (measured
  in bench/bench_retrieval.py). Bucket frequencies are standardised with the corpus mean and
  standard deviation per bucket, then L2-normalised.

The blocks are concatenated with weights: block ``i`` is scaled by ``sqrt(w_i / sum(w))``, so the
inner product of two embeddings is the weighted mean of the blocks' cosines, in [-1, 1].

K-mers containing anything but A, C, G, T (IUPAC codes, N) are skipped. The whole sequence is
used, however long. Because only canonical k-mers are counted, a sequence and its reverse
complement give bit-identical vectors. A block with no k-mer at all (a sequence shorter than
``k``) is the zero vector.

>>> e = KmerEmbedder().fit(["ACGTACGGTTAGCATTGACCA", "GGGCCCAATTATATCCGG", "ACGTTTGCAAGCT"])
>>> v = e.embed(["ACGTTGCA", "TGCAACGT"])
>>> bool((v[0] == v[1]).all()), v.dtype.name
(True, 'float32')
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DnaHlmError

#: Bumped whenever the vectors this module produces change for the same input and params.
VERSION = 1

_CODE = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
    _CODE[ord(chr(_b).lower())] = _i

# Odd 64-bit multipliers for the multiplicative hash (fixed: part of the format).
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)
_SIGN_MULT = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass
class KmerConfig:
    """Parameters of :class:`KmerEmbedder` (stored in the index manifest)."""

    exact_ks: list[int] = field(default_factory=lambda: [3, 4])  # composition blocks (k <= 8)
    hashed_ks: list[int] = field(default_factory=list)  # contiguous k-mers in the homology block (k <= 31)
    # Spaced seeds hashed into the homology block: palindromic masks; "11011011011011" reads the
    # first two bases of five codons (in frame on either strand), which survive synonymous changes.
    spaced_seeds: list[str] = field(default_factory=lambda: ["11011011011"])
    hash_dim: int = 1024  # buckets of the homology block (a power of two)
    # Standardise the homology block's bucket frequencies (corpus mean and std per bucket):
    # frequent words (common amino-acid pairs, low complexity) stop making unrelated genes look alike.
    hashed_standardize: bool = True
    exact_weight: float = 0.1  # weight of all composition blocks together
    hashed_weight: float = 0.9  # weight of the homology block
    chunk_bases: int = 4_000_000  # bases encoded per vectorised chunk (memory bound)

    @property
    def _hashed(self) -> bool:
        return bool(self.hashed_ks or self.spaced_seeds)

    def check(self) -> None:
        if any(not 1 <= k <= 8 for k in self.exact_ks):
            raise DnaHlmError(f"kmer exact_ks must lie in 1..8, got {self.exact_ks}")
        if any(not 1 <= k <= 31 for k in self.hashed_ks):
            raise DnaHlmError(f"kmer hashed_ks must lie in 1..31, got {self.hashed_ks}")
        for p in self.spaced_seeds:
            if not p or set(p) - {"0", "1"} or p != p[::-1] or p[0] != "1" or p.count("1") > 31:
                raise DnaHlmError(f"kmer spaced seed {p!r} must be a palindromic 0/1 mask starting with 1 (at most 31 ones)")
        if self._hashed and (self.hash_dim <= 0 or self.hash_dim & (self.hash_dim - 1)):
            raise DnaHlmError(f"kmer hash_dim must be a power of two, got {self.hash_dim}")
        if not self.exact_ks and not self._hashed:
            raise DnaHlmError("kmer embedding needs at least one k")
        used = (self.exact_weight if self.exact_ks else 0.0) + (self.hashed_weight if self._hashed else 0.0)
        if not (self.exact_weight >= 0 and self.hashed_weight >= 0 and used > 0):  # NaN fails too
            raise DnaHlmError(f"kmer exact_weight and hashed_weight must be >= 0, and the used blocks' weights "
                              f"sum to more than 0; got {self.exact_weight} and {self.hashed_weight}")
        if self.chunk_bases < 1:
            raise DnaHlmError(f"kmer chunk_bases must be >= 1, got {self.chunk_bases}")


def _canonical_table(k: int) -> tuple[np.ndarray, int]:
    """Map every k-mer code (base-4, A=0..T=3) to its canonical column; return (table, n_columns)."""
    n = 4**k
    codes = np.arange(n, dtype=np.int64)
    rc = np.zeros(n, dtype=np.int64)
    x = codes.copy()
    for _ in range(k):
        rc = rc * 4 + (3 - (x & 3))
        x >>= 2
    canon = np.minimum(codes, rc)
    uniq, col = np.unique(canon, return_inverse=True)
    return col.astype(np.int64), len(uniq)


def _encode(seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ``seqs`` as base codes (A0 C1 G2 T3, other 4) with one separator (4) after each.

    Returns (codes, seq_index_of_each_position).
    """
    raw = "\x00".join(seqs) + "\x00"
    codes = _CODE[np.frombuffer(raw.encode("ascii", errors="replace"), dtype=np.uint8)]
    lens = np.fromiter((len(s) + 1 for s in seqs), dtype=np.int64, count=len(seqs))
    owner = np.repeat(np.arange(len(seqs), dtype=np.int64), lens)
    return codes, owner


def _kmer_codes(codes: np.ndarray, k: int, pattern: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Canonical codes of all valid k-mers in ``codes`` and their start positions.

    A window is valid when it holds only A/C/G/T; the canonical code is min(forward, reverse
    complement), both in base 4. With ``pattern`` (a palindromic mask such as ``"11011"``, so
    that the reverse complement reads the same positions) only the ``1`` positions form the word
    (a spaced seed) and ``k`` must be the pattern's length.
    """
    offsets = [j for j, ch in enumerate(pattern or "1" * k) if ch == "1"]
    m = len(codes) - k + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    bad = np.concatenate([[0], np.cumsum(codes == 4)])
    valid = (bad[k : k + m] - bad[:m]) == 0
    c = np.where(codes == 4, 0, codes)
    fwd = np.zeros(m, dtype=np.int64)
    rc = np.zeros(m, dtype=np.int64)
    for j, o in enumerate(offsets):
        w = c[o : o + m]
        fwd = (fwd << 2) | w
        rc |= (3 - w) << (2 * j)
    pos = np.flatnonzero(valid)
    return np.minimum(fwd, rc)[pos], pos


class KmerEmbedder:
    """Canonical k-mer profile embedder; :meth:`fit` on the corpus, then :meth:`embed`.

    The fitted state (IDF and mean per composition block) is plain JSON (:meth:`state`,
    :meth:`from_state`), saved beside the index.
    """

    name = "kmer"
    version = VERSION

    def __init__(self, config: KmerConfig | None = None) -> None:
        self.config = config or KmerConfig()
        self.config.check()
        self._tables = {k: _canonical_table(k) for k in self.config.exact_ks}
        self.idf: dict[int, np.ndarray] = {}
        self.mean: dict[int, np.ndarray] = {}
        self.hashed_mean: np.ndarray | None = None
        self.hashed_std: np.ndarray | None = None

    # -- shape -------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        d = sum(n for _, n in self._tables.values())
        return d + (self.config.hash_dim if self.config._hashed else 0)

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    @property
    def fitted(self) -> bool:
        need_h = self.config._hashed and self.config.hashed_standardize
        return all(k in self.idf for k in self.config.exact_ks) and (not need_h or self.hashed_mean is not None)

    # -- raw counts ----------------------------------------------------------------------------
    def _counts(self, seqs: Sequence[str], hashed_block: bool = True) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
        """Raw canonical counts per exact k (n x cols, float64) and the signed hashed block."""
        n = len(seqs)
        codes, owner = _encode(seqs)
        exact: dict[int, np.ndarray] = {}
        for k, (table, cols) in self._tables.items():
            canon, pos = _kmer_codes(codes, k)
            flat = owner[pos] * cols + table[canon]
            exact[k] = np.bincount(flat, minlength=n * cols).reshape(n, cols).astype(np.float64)
        hashed = None
        if self.config._hashed and hashed_block:
            D = self.config.hash_dim
            shift = np.uint64(64 - int(np.log2(D)))
            hashed = np.zeros(n * D, dtype=np.float64)
            words = [(k, None, k) for k in self.config.hashed_ks]
            words += [(len(p), p, 32 + i) for i, p in enumerate(self.config.spaced_seeds)]
            for k, pattern, salt in words:
                canon, pos = _kmer_codes(codes, k, pattern)
                # Salt per word kind so that the same code of different kinds lands elsewhere.
                x = canon.astype(np.uint64) + np.uint64(salt) * np.uint64(0x100000001B3)
                bucket = ((x * _HASH_MULT) >> shift).astype(np.int64)
                sign = (((x * _SIGN_MULT) >> np.uint64(63)).astype(np.float64)) * 2.0 - 1.0
                hashed += np.bincount(owner[pos] * D + bucket, weights=sign, minlength=n * D)
            hashed = hashed.reshape(n, D)
        return exact, hashed

    def _chunks(self, seqs: Sequence[str]):
        start, size = 0, 0
        for i, s in enumerate(seqs):
            size += len(s)
            if size >= self.config.chunk_bases:
                yield start, i + 1
                start, size = i + 1, 0
        if start < len(seqs):
            yield start, len(seqs)

    # -- fit / embed -----------------------------------------------------------------------------
    def fit(self, seqs: Sequence[str]) -> "KmerEmbedder":
        """Fit IDF and mean of each composition block on the corpus ``seqs``; returns self."""
        if not seqs:
            raise DnaHlmError("cannot fit the k-mer embedder on an empty collection")
        ks = self.config.exact_ks
        df = {k: np.zeros(self._tables[k][1]) for k in ks}
        tf_sum = {k: np.zeros(self._tables[k][1]) for k in ks}
        n_total = len(seqs)
        hs = self.config._hashed and self.config.hashed_standardize
        h_sum = np.zeros(self.config.hash_dim)
        h_sq = np.zeros(self.config.hash_dim)
        for a, b in self._chunks(seqs):
            exact, hashed = self._counts(seqs[a:b], hashed_block=hs)
            if hashed is not None:
                f = _freq(hashed)
                h_sum += f.sum(axis=0)
                h_sq += (f * f).sum(axis=0)
            for k in ks:
                df[k] += (exact[k] > 0).sum(axis=0)
                tot = exact[k].sum(axis=1, keepdims=True)
                tf_sum[k] += np.divide(exact[k], tot, out=np.zeros_like(exact[k]), where=tot > 0).sum(axis=0)
        self.idf = {k: (np.log((1.0 + n_total) / (1.0 + df[k])) + 1.0) for k in ks}
        # IDF is constant per column, so the mean TF-IDF vector is IDF times the mean TF.
        self.mean = {k: self.idf[k] * tf_sum[k] / n_total for k in ks}
        if hs:
            mu = h_sum / n_total
            sd = np.sqrt(np.maximum(h_sq / n_total - mu * mu, 0.0))
            self.hashed_mean, self.hashed_std = mu, np.maximum(sd, 1e-12 + sd.mean() * 1e-3)
        return self

    def _tfidf(self, k: int, counts: np.ndarray) -> np.ndarray:
        tot = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, tot, out=np.zeros_like(counts), where=tot > 0) * self.idf[k]

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        """Embed upper- or lower-case DNA strings; returns ``(len(seqs), dim)`` float32, unit rows."""
        if not self.fitted:
            raise DnaHlmError("the k-mer embedder is not fitted: fit it on a corpus or load an index")
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        for a, b in self._chunks(seqs):
            out[a:b] = self._embed_chunk(seqs[a:b])
        return out

    def _embed_chunk(self, seqs: Sequence[str]) -> np.ndarray:
        exact, hashed = self._counts(seqs)
        cfg = self.config
        total_w = (cfg.exact_weight if cfg.exact_ks else 0.0) + (cfg.hashed_weight if cfg._hashed else 0.0)
        blocks = []
        per_exact = (cfg.exact_weight / len(cfg.exact_ks)) if cfg.exact_ks else 0.0
        for k in cfg.exact_ks:
            has = exact[k].sum(axis=1, keepdims=True) > 0
            x = np.where(has, self._tfidf(k, exact[k]) - self.mean[k], 0.0)
            blocks.append(_unit(x) * np.sqrt(per_exact / total_w))
        if hashed is not None:
            if cfg.hashed_standardize:
                assert self.hashed_mean is not None and self.hashed_std is not None
                has = np.abs(hashed).sum(axis=1, keepdims=True) > 0
                hashed = np.where(has, (_freq(hashed) - self.hashed_mean) / self.hashed_std, 0.0)
            blocks.append(_unit(hashed) * np.sqrt(cfg.hashed_weight / total_w))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    # -- persistence (JSON, no pickle) --------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "config": self.params,
            "idf": {str(k): v.tolist() for k, v in self.idf.items()},
            "mean": {str(k): v.tolist() for k, v in self.mean.items()},
            "hashed_mean": None if self.hashed_mean is None else self.hashed_mean.tolist(),
            "hashed_std": None if self.hashed_std is None else self.hashed_std.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "KmerEmbedder":
        if state.get("name") != cls.name or state.get("version") != cls.version:
            raise DnaHlmError(
                f"k-mer embedder state is {state.get('name')} v{state.get('version')}, "
                f"this code reads {cls.name} v{cls.version}: rebuild the index"
            )
        e = cls(KmerConfig(**state["config"]))
        e.idf = {int(k): np.asarray(v, dtype=np.float64) for k, v in state["idf"].items()}
        e.mean = {int(k): np.asarray(v, dtype=np.float64) for k, v in state["mean"].items()}
        if state.get("hashed_mean") is not None:
            e.hashed_mean = np.asarray(state["hashed_mean"], dtype=np.float64)
            e.hashed_std = np.asarray(state["hashed_std"], dtype=np.float64)
        if not e.fitted:
            raise DnaHlmError("k-mer embedder state lacks IDF for some k: rebuild the index")
        return e

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.state()))


def _freq(x: np.ndarray) -> np.ndarray:
    """Rows divided by their total absolute mass (signed bucket counts -> frequencies)."""
    tot = np.abs(x).sum(axis=1, keepdims=True)
    return np.divide(x, tot, out=np.zeros_like(x), where=tot > 0)


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)
