"""Site-window embedding: base-by-base one-hot of a window centred on a site, weighted near it.

For tasks whose items are fixed-length windows centred on a candidate site (``splice``: 60 bases
with the exon/intron junction between 0-based positions 29 and 30), what matters is *which base
sits where* relative to the site, which a k-mer profile throws away (its kNN vote stayed at the
majority rate on splice). Here a window of ``length`` bases becomes ``4 * length`` numbers: at
position ``i`` (0-based) the one-hot of the base times ``w_i = exp(-((i - c) / sigma)^2 / 2)``,
with ``c = (length - 1) / 2`` the centre, then L2-normalised. The inner product of two vectors is
a similarity that counts agreeing bases, those near the site most. ``sigma`` (bases) was chosen
on the splice VALID split (docs/benchmarks.md, "Site-window retrieval"), never on test.

Conventions: the query is centre-aligned to the window (base ``j`` of a sequence of length ``n``
goes to position ``j - n // 2 + length // 2``); bases that fall outside the window are dropped,
positions the query does not reach stay zero. Lower case counts as upper case; N and IUPAC codes
are zero rows (no evidence). The window is read as given: unlike the k-mer embedder this one is
strand-specific, since a site window is oriented (a donor read backwards is not a donor). A
sequence with no A/C/G/T in the window is the zero vector.

>>> e = SiteEmbedder(SiteConfig(length=6, sigma=2.0))
>>> v = e.embed(["ACGTAC", "acgtac", "NNNNNN"])
>>> bool((v[0] == v[1]).all()), float(abs(v[2]).sum()), v.shape
(True, 0.0, (3, 24))
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DnaHlmError
from .kmer import _CODE  # byte -> 0..3 for A/C/G/T (either case), 4 for anything else

#: Bumped whenever the vectors this module produces change for the same input and params.
VERSION = 1


@dataclass
class SiteConfig:
    """Parameters of :class:`SiteEmbedder` (stored in the index manifest)."""

    length: int = 60  # window length in bases (the splice windows are 60)
    sigma: float = 3.0  # Gaussian weight's width around the centre, in bases (chosen on splice valid)

    def check(self) -> None:
        if self.length < 1:
            raise DnaHlmError(f"site embedder: length must be >= 1, got {self.length}")
        if not self.sigma > 0:
            raise DnaHlmError(f"site embedder: sigma must be > 0 bases, got {self.sigma}")


class SiteEmbedder:
    """Centre-weighted positional one-hot of a site window (module docstring)."""

    name = "site"
    version = VERSION

    def __init__(self, config: SiteConfig | None = None) -> None:
        self.config = config or SiteConfig()
        self.config.check()
        n = self.config.length
        self.weights = np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / self.config.sigma) ** 2).astype(np.float32)

    @property
    def dim(self) -> int:
        return 4 * self.config.length

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def fit(self, seqs: Sequence[str]) -> SiteEmbedder:
        """Nothing to fit (the vectors depend on the sequence alone); kept for the embedder interface."""
        return self

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        """``(len(seqs), 4 * length)`` float32, rows L2-normalised (zero rows stay zero)."""
        n = self.config.length
        out = np.zeros((len(seqs), n, 4), dtype=np.float32)
        for row, s in enumerate(seqs):
            codes = _CODE[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)]
            pos = np.arange(len(codes)) - len(codes) // 2 + n // 2
            keep = (pos >= 0) & (pos < n) & (codes < 4)
            out[row, pos[keep], codes[keep]] = self.weights[pos[keep]]
        flat = out.reshape(len(seqs), 4 * n)
        norms = np.linalg.norm(flat, axis=1, keepdims=True)
        return np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 0)
