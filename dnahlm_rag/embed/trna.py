"""tRNA embedding: the anticodon a tRNA gene carries and the amino acid it decodes, then its k-mers.

A tRNA's amino acid is set by its anticodon, three bases in the loop of the anticodon arm; k-mer
profiles of whole tRNAs mostly see how related two organisms are (their kNN vote named the amino
acid for 51% of the VALID tRNAs of unseen species; docs/benchmarks.md, "tRNA retrieval").

**Finding the anticodon** (:func:`find_anticodon`): the anticodon arm is a 5-base-pair stem
closing a 7-base loop, 17 bases that start at 0-based position 26 of a standard tRNA (position
27 of the cloverleaf numbering), a few bases earlier or later with the D-loop's length. Each
17-base window starting at 0-based ``lo``..``hi`` is scored: one point per paired stem position
(``stem5[j]`` with ``stem3[4 - j]``, Watson-Crick or G-T), one if the loop's second base is T
(U33), one if its sixth is a purine (A/G at 37), minus 0.1 per base of distance from start 26.
The best window's loop bases 2-4 (0-based; cloverleaf 34-36) are the anticodon, read 5'->3';
the amino acid is the translation (NCBI ``table``, 11 by default) of its reverse complement, the
codon it reads. The sequence is read as given, 5'->3' on the tRNA's own strand (as annotated):
scanning the reverse complement too and keeping the better arm misread 14 of 224 train tRNAs
(their stems make hairpins on both strands, with arm scores within about one point), so a tRNA
pasted in reverse complement is misread, like a site window read backwards. On the train and
valid tRNAs the anticodon decodes to the annotated amino acid for 96.0% and 94.4% (misses:
tRNA-Ile2, which reads AUA with a modified CAU; mitochondrial codes). A sequence shorter than 17
bases, or whose anticodon holds a base other than A/C/G/T, has none.

**The vector** (``21 + 64 + 4^k`` numbers, L2-normalised): the one-hot of the decoded amino acid
(20 letters and ``*`` for a stop codon, which is how tRNA-Sec's UCA anticodon reads in table 11)
times ``sqrt(aa_weight)``, the one-hot of the anticodon times ``sqrt(anticodon_weight)``, and the
unit-length ``k``-mer count profile of the sequence as read (strand-specific) times
``sqrt(kmer_weight)``. The inner product of two tRNAs is then ``aa_weight`` for the same decoded
amino acid, plus ``anticodon_weight`` for the same anticodon, plus ``kmer_weight`` times their
k-mer cosine, over the common norm: neighbours share the amino acid first and resemble each other
second, and the vote still decides cases the code alone gets wrong (tRNA-Ile2 reads AUA with a
CAU anticodon; mitochondria read UGA as Trp). The weights were chosen on the ``trna_aa`` VALID split.

>>> a = find_anticodon("GCCCGGATAGCTCAGTCGGTAGAGCAGGGGATTGAAAATCCCCGTGTCCTTGGTTCGATTCCGAGTCCGGGCACCA")
>>> a.anticodon, a.start, a.end, a.amino_acid  # E. coli tRNA-Phe: GAA at cloverleaf 34-36
('GAA', 33, 36, 'F')
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DnaHlmError
from ..orfs import DEFAULT_TABLE, codon_indices, translate
from ..seq import reverse_complement
from .kmer import _CODE  # byte -> 0..3 for A/C/G/T (either case), 4 for anything else

#: Bumped whenever the vectors this module produces change for the same input and params.
VERSION = 1

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY*"
_PAIRS = {("A", "T"), ("T", "A"), ("G", "C"), ("C", "G"), ("G", "T"), ("T", "G")}
ARM = 17  # anticodon arm: 5-base stem, 7-base loop, 5-base stem
TYPICAL_START = 26  # 0-based start of the arm in a standard tRNA (cloverleaf position 27)


@dataclass
class TrnaConfig:
    """Parameters of :class:`TrnaEmbedder` (stored in the index manifest)."""

    lo: int = 20  # first 0-based arm start scanned
    hi: int = 50  # last 0-based arm start scanned
    table: int = DEFAULT_TABLE  # NCBI genetic code that decodes the anticodon's codon
    k: int = 4  # k-mer length of the profile block
    aa_weight: float = 1.0  # similarity for the same decoded amino acid
    anticodon_weight: float = 0.5  # ... for the same anticodon
    kmer_weight: float = 0.5  # ... times the k-mer cosine

    def check(self) -> None:
        if not 0 <= self.lo <= self.hi:
            raise DnaHlmError(f"tRNA embedder: need 0 <= lo <= hi, got lo={self.lo}, hi={self.hi}")
        if not 1 <= self.k <= 6:
            raise DnaHlmError(f"tRNA embedder: k must be 1..6, got {self.k}")
        for name in ("aa_weight", "anticodon_weight", "kmer_weight"):
            if getattr(self, name) < 0:
                raise DnaHlmError(f"tRNA embedder: {name} must be >= 0, got {getattr(self, name)}")
        translate("ATG", self.table)  # an unknown table is an error naming the known ones


@dataclass(frozen=True)
class Anticodon:
    """An anticodon found in a sequence: ``start``/``end`` 0-based half-open on the sequence,
    ``anticodon`` 5'->3', ``amino_acid`` the one-letter translation of the codon it reads (``*``:
    a stop codon), ``score`` the arm's score (module docstring)."""

    anticodon: str
    start: int
    end: int
    amino_acid: str
    score: float


def _best_arm(seq: str, lo: int, hi: int) -> tuple[float, int] | None:
    best: tuple[float, int] | None = None
    for i in range(lo, min(len(seq) - ARM, hi) + 1):
        stem5, loop, stem3 = seq[i:i + 5], seq[i + 5:i + 12], seq[i + 12:i + ARM]
        score = (sum((a, b) in _PAIRS for a, b in zip(stem5, stem3[::-1])) + (loop[1] == "T")
                 + (loop[5] in "AG") - 0.1 * abs(i - TYPICAL_START))
        if best is None or score > best[0]:
            best = (score, i)
    return best


def find_anticodon(seq: str, config: TrnaConfig | None = None) -> Anticodon | None:
    """The anticodon of a tRNA gene (module docstring), or None when none can be read."""
    cfg = config or TrnaConfig()
    s = seq.upper()
    arm = _best_arm(s, cfg.lo, cfg.hi)
    if arm is None:
        return None
    score, i = arm
    anti = s[i + 7:i + 10]
    aa = translate(reverse_complement(anti), cfg.table)
    if aa not in AMINO_ACIDS:  # "X": a base other than A/C/G/T in the anticodon
        return None
    return Anticodon(anti, i + 7, i + 10, aa, round(float(score), 2))


class TrnaEmbedder:
    """Anticodon, decoded amino acid and k-mer profile of a tRNA gene (module docstring)."""

    name = "trna"
    version = VERSION

    def __init__(self, config: TrnaConfig | None = None) -> None:
        self.config = config or TrnaConfig()
        self.config.check()

    @property
    def dim(self) -> int:
        return len(AMINO_ACIDS) + 64 + 4 ** self.config.k

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def fit(self, seqs: Sequence[str]) -> TrnaEmbedder:
        """Nothing to fit (the vectors depend on the sequence alone); kept for the embedder interface."""
        return self

    def query_notes(self, seq: str) -> list[str]:
        """What this embedder read in a query, for an answer's provenance: the anticodon, or that none was found."""
        a = find_anticodon(seq, self.config)
        if a is None:
            return ["no anticodon arm could be read (shorter than 17 bases, or N/IUPAC in the anticodon): "
                    "neighbours by k-mers only"]
        codon = reverse_complement(a.anticodon).replace("T", "U")
        return [f"anticodon {a.anticodon} at {a.start}-{a.end} (0-based, half-open; arm score {a.score:g}) reads "
                f"{codon}: {a.amino_acid} in table {self.config.table}; neighbours share that amino acid first"]

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        """``(len(seqs), dim)`` float32, rows L2-normalised (a sequence with nothing to read is zero)."""
        cfg, k = self.config, self.config.k
        n_aa = len(AMINO_ACIDS)
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        for row, s in enumerate(seqs):
            a = find_anticodon(s, cfg)
            if a is not None:
                out[row, AMINO_ACIDS.index(a.amino_acid)] = np.sqrt(cfg.aa_weight)
                codon = codon_indices(a.anticodon)[0]
                out[row, n_aa + codon] = np.sqrt(cfg.anticodon_weight)
            codes = _CODE[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)].astype(np.int64)
            if len(codes) >= k:
                win = np.lib.stride_tricks.sliding_window_view(codes, k)
                win = win[(win < 4).all(axis=1)]
                if len(win):
                    idx = (win * (4 ** np.arange(k - 1, -1, -1))).sum(axis=1)
                    prof = np.bincount(idx, minlength=4 ** k).astype(np.float32)
                    out[row, n_aa + 64:] = np.sqrt(cfg.kmer_weight) * prof / np.linalg.norm(prof)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
