"""Site-window embedding: base-by-base one-hot of a window centred on a site, weighted by what each
base tells about the site's label.

For tasks whose items are fixed-length windows centred on a candidate site (``splice``: 60 bases
with the exon/intron junction between 0-based positions 29 and 30), what matters is *which bases
sit where* relative to the site, which a k-mer profile throws away (its kNN vote stayed at the
majority rate on splice). Here a window of ``length`` bases becomes two blocks, then the whole
vector is L2-normalised:

- the one-hot of the base at each position ``i`` (0-based), ``4 * length`` numbers, each times the
  weight of that (position, base);
- the one-hot of each adjacent pair of bases at positions ``(i, i + 1)``, ``16 * (length - 1)``
  numbers, each times the weight of that (position, pair) and ``pair_weight`` (0 leaves the block
  out). Pairs carry what single bases cannot: which bases occur *together* (the GT-A/G of a
  donor, runs of pyrimidines before an acceptor).

The inner product of two windows is thus the sum of the squared weights of the (position, base)
and (position, pair) features they share. Two weightings (``SiteConfig.weighting``):

- ``"mi"`` (default): fitted on labelled train windows (:meth:`SiteEmbedder.fit` with labels).
  The weight of a feature is ``sqrt(MI)``, where MI (bits) is the mutual information between the
  feature's indicator and the label over the train windows, so the similarity of two windows is
  the information their shared features carry about the label (the feature-weighted overlap of
  memory-based learners). It learns that the GT of a donor and the AG and pyrimidine tract of an
  acceptor matter, and the far flanks hardly.
- ``"gauss"``: no fitting; every base at ``i`` weighs ``w_i = exp(-((i - c) / sigma)^2 / 2)``,
  with ``c = (length - 1) / 2`` the centre (``sigma`` in bases); a pair at ``(i, i + 1)`` weighs
  ``w`` at ``i + 1/2``.

Weightings and ``pair_weight`` were compared on the splice VALID split and by 5-fold
cross-validation over train + valid (docs/benchmarks.md, "Site-window retrieval"), never on test.

Conventions: the query is centre-aligned to the window (base ``j`` of a sequence of length ``n``
goes to position ``j - n // 2 + length // 2``); bases that fall outside the window are dropped,
positions the query does not reach stay zero. Lower case counts as upper case; N and IUPAC codes
are zero rows (no evidence), and so is every pair that holds one. The window is read as given: unlike the k-mer embedder this one is
strand-specific, since a site window is oriented (a donor read backwards is not a donor). A
sequence with no A/C/G/T in the window is the zero vector.

>>> e = SiteEmbedder(SiteConfig(length=6, sigma=2.0, weighting="gauss"))
>>> v = e.embed(["ACGTAC", "acgtac", "NNNNNN"])
>>> bool((v[0] == v[1]).all()), float(abs(v[2]).sum()), v.shape
(True, 0.0, (3, 104))
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
VERSION = 3  # 3: the adjacent-pair block (2: single bases only)

WEIGHTINGS = ("mi", "gauss")


@dataclass
class SiteConfig:
    """Parameters of :class:`SiteEmbedder` (stored in the index manifest)."""

    length: int = 60  # window length in bases (the splice windows are 60)
    weighting: str = "mi"  # mi: fitted on labelled windows | gauss: Gaussian around the centre
    sigma: float = 3.0  # the gauss weighting's width, in bases (best gauss width on splice valid)
    pair_weight: float = 1.5  # weight of the adjacent-pair block against single bases; 0: no pairs

    def check(self) -> None:
        if self.length < 1:
            raise DnaHlmError(f"site embedder: length must be >= 1, got {self.length}")
        if self.weighting not in WEIGHTINGS:
            raise DnaHlmError(f"site embedder: weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")
        if not self.sigma > 0:
            raise DnaHlmError(f"site embedder: sigma must be > 0 bases, got {self.sigma}")
        if not self.pair_weight >= 0:
            raise DnaHlmError(f"site embedder: pair_weight must be >= 0, got {self.pair_weight}")


def _placed(seq: str, length: int) -> tuple[np.ndarray, np.ndarray]:
    """0-based window positions and base codes (0..3) of the A/C/G/T of ``seq``, centre-aligned."""
    codes = _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
    pos = np.arange(len(codes)) - len(codes) // 2 + length // 2
    keep = (pos >= 0) & (pos < length) & (codes < 4)
    return pos[keep], codes[keep].astype(np.intp)


def _pairs(pos: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left positions ``i`` and pair codes ``4 * b_i + b_(i+1)`` (0..15) of the adjacent A/C/G/T pairs
    among :func:`_placed`'s output (a pair with an N or IUPAC base in it is absent)."""
    adj = np.flatnonzero(pos[1:] == pos[:-1] + 1)
    return pos[adj], codes[adj] * 4 + codes[adj + 1]


def mutual_information(onehot: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """MI in bits between each indicator column of ``onehot`` (``(n, d)`` 0/1) and ``labels``.

    >>> x = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], dtype=np.float64)
    >>> np.round(mutual_information(x, ["a", "a", "b", "b"]), 3).tolist()
    [1.0, 0.0]
    """
    names = sorted(set(labels))
    y = np.zeros((len(labels), len(names)))
    y[np.arange(len(labels)), [names.index(str(v)) for v in labels]] = 1.0
    n = float(len(labels))
    ones = onehot.T @ y  # (d, classes): windows with the indicator set, per class
    zeros = y.sum(axis=0)[None, :] - ones
    p_class = y.sum(axis=0) / n
    mi = np.zeros(onehot.shape[1])
    for joint in (ones / n, zeros / n):
        p_value = joint.sum(axis=1, keepdims=True)
        ratio = np.divide(joint, p_value * p_class[None, :], out=np.ones_like(joint), where=joint > 0)
        mi += (joint * np.log2(ratio)).sum(axis=1)
    return np.maximum(mi, 0.0)


class SiteEmbedder:
    """Weighted positional one-hot of a site window (module docstring)."""

    name = "site"
    version = VERSION

    def __init__(self, config: SiteConfig | None = None) -> None:
        self.config = config or SiteConfig()
        self.config.check()
        n = self.config.length
        self.weights: np.ndarray | None = None  # (length, 4), set by fit for "mi"
        self.pair_weights: np.ndarray | None = None  # (length - 1, 16) times pair_weight; None: no pairs
        if self.config.weighting == "gauss":
            gauss = lambda x: np.exp(-0.5 * ((x - (n - 1) / 2) / self.config.sigma) ** 2)  # noqa: E731
            self.weights = np.repeat(gauss(np.arange(n))[:, None], 4, axis=1).astype(np.float32)
            if self.has_pairs:
                w = self.config.pair_weight * gauss(np.arange(n - 1) + 0.5)
                self.pair_weights = np.repeat(w[:, None], 16, axis=1).astype(np.float32)

    @property
    def has_pairs(self) -> bool:
        """Whether the vectors carry the adjacent-pair block."""
        return self.config.pair_weight > 0 and self.config.length > 1

    @property
    def supervised(self) -> bool:
        """Whether :meth:`fit` needs the train windows' labels."""
        return self.config.weighting == "mi"

    @property
    def dim(self) -> int:
        n = self.config.length
        return 4 * n + (16 * (n - 1) if self.has_pairs else 0)

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def fit(self, seqs: Sequence[str], labels: Sequence[str] | None = None) -> SiteEmbedder:
        """Fit the ``mi`` weights on labelled train windows (no-op for ``gauss``)."""
        if not self.supervised:
            return self
        if labels is None or len(labels) != len(seqs) or not seqs:
            raise DnaHlmError("site embedder: the mi weighting is fitted on train windows with their labels "
                              "(got none); use weighting = \"gauss\" for unlabelled windows")
        n, names = self.config.length, [str(v) for v in labels]
        singles = np.zeros((len(seqs), n * 4), dtype=np.float64)
        pairs = np.zeros((len(seqs), max(n - 1, 0) * 16 if self.has_pairs else 0), dtype=np.float64)
        for row, s in enumerate(seqs):
            pos, codes = _placed(s, n)
            singles[row, pos * 4 + codes] = 1.0
            if self.has_pairs:
                left, pc = _pairs(pos, codes)
                pairs[row, left * 16 + pc] = 1.0
        mi, mi_pairs = mutual_information(singles, names), mutual_information(pairs, names)
        if not mi.any() and not mi_pairs.any():
            raise DnaHlmError("site embedder: no base at any position tells the labels apart "
                              f"({len(set(names))} label(s) in {len(seqs)} windows)")
        self.weights = np.sqrt(mi).reshape(n, 4).astype(np.float32)
        if self.has_pairs:
            self.pair_weights = (self.config.pair_weight * np.sqrt(mi_pairs)).reshape(n - 1, 16).astype(np.float32)
        return self

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        """``(len(seqs), dim)`` float32 (single bases, then pairs), rows L2-normalised (zero rows stay zero)."""
        if self.weights is None:
            raise DnaHlmError("site embedder: the mi weighting is not fitted (fit it on labelled train windows)")
        n = self.config.length
        flat = np.zeros((len(seqs), self.dim), dtype=np.float32)
        for row, s in enumerate(seqs):
            pos, codes = _placed(s, n)
            flat[row, pos * 4 + codes] = self.weights[pos, codes]
            if self.pair_weights is not None:
                left, pc = _pairs(pos, codes)
                flat[row, 4 * n + left * 16 + pc] = self.pair_weights[left, pc]
        norms = np.linalg.norm(flat, axis=1, keepdims=True)
        return np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 0)

    # ---- JSON state (beside an index; no pickle) -------------------------------------------
    def state(self) -> dict[str, Any]:
        """The fitted embedder as JSON-ready data."""
        return {"name": self.name, "version": self.version, "config": self.params,
                "weights": None if self.weights is None else self.weights.tolist(),
                "pair_weights": None if self.pair_weights is None else self.pair_weights.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SiteEmbedder:
        if state.get("name") != cls.name or state.get("version") != cls.version:
            raise DnaHlmError(f"site embedder state is {state.get('name')} v{state.get('version')}, "
                              f"this code reads {cls.name} v{cls.version}: rebuild the index")
        e = cls(SiteConfig(**state["config"]))
        if e.supervised:
            w = np.asarray(state.get("weights") or [], dtype=np.float32)
            if w.shape != (e.config.length, 4):
                raise DnaHlmError(f"site embedder state: weights of shape {w.shape}, want ({e.config.length}, 4): "
                                  "rebuild the index")
            e.weights = w
            if e.has_pairs:
                pw = np.asarray(state.get("pair_weights") or [], dtype=np.float32)
                if pw.shape != (e.config.length - 1, 16):
                    raise DnaHlmError(f"site embedder state: pair_weights of shape {pw.shape}, want "
                                      f"({e.config.length - 1}, 16): rebuild the index")
                e.pair_weights = pw
        return e
