"""Protein-level embeddings: weighted amino-acid k-mer profiles in a fixed dimension.

Genes of distant species share little at the DNA level but keep their protein's short words,
especially when similar amino acids are merged. An embedding here is a concatenation of
*feature blocks*; each block counts the k-mers of one alphabet and one spacing pattern:

* ``alphabet``: ``aa20`` (the 20 amino acids), or a published reduction by Murphy, Wallqvist &
  Levy (2000, Protein Eng. 13:149), derived from BLOSUM50, in which residues of one class are
  interchangeable: ``murphy15``, ``murphy10`` (``LVIM C A G ST P FYW EDNQ KR H``), ``murphy8``.
* ``pattern``: which positions of a window make the word; ``"111"`` is a contiguous 3-mer,
  ``"1101"`` a spaced 3-mer over 4 residues (spaced seeds tolerate an indel-free substitution in
  the skipped position).
* A block holds ``alphabet_size ** k`` exact features when that fits in ``dim``; otherwise words
  are hashed (multiplicative hash) into ``dim`` buckets.

Counts are transformed (``tf``: ``raw``, ``log`` = 1 + ln(count), ``binary``), multiplied by an
inverse document frequency learnt from the indexed proteins (``idf``: ln((1 + n) / (1 + df)) + 1,
the smooth scikit-learn form), L2-normalised per block, scaled by ``sqrt(weight)`` and the whole
vector L2-normalised again, so that the inner product of two embeddings is a weighted mean of
per-block cosines, in [0, 1]. Output is float32, C-contiguous, ready for ``faiss.IndexFlatIP``.

Residues outside the 20 (``X``, ``*``, ``B``, ``Z``, ``U``, ``O``, lower case is upper-cased)
break words: no k-mer spans them. A protein with no whole k-mer embeds as the zero vector (it
matches nothing, score 0).

>>> e = ProteinEmbedder(ProteinEmbedConfig(blocks=[KmerBlock("murphy10", "111")], dim=1000, idf=False))
>>> v = e.embed(["MKVLAAGIVLLLA", "MKVLAAGIVLLLA"])
>>> v.shape, v.dtype, round(float(v[0] @ v[1]), 4)
((2, 1000), dtype('float32'), 1.0)
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .atomic import atomic_file
from .errors import DnaHlmError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"

#: Reduced alphabets (classes of residues), Murphy et al. 2000; "aa20" keeps every residue apart.
ALPHABETS: dict[str, tuple[str, ...]] = {
    "aa20": tuple(AMINO_ACIDS),
    "murphy15": ("LVIM", "C", "A", "G", "S", "T", "P", "FY", "W", "E", "D", "N", "Q", "KR", "H"),
    "murphy10": ("LVIM", "C", "A", "G", "ST", "P", "FYW", "EDNQ", "KR", "H"),
    "murphy8": ("LVIMC", "AG", "ST", "P", "FYW", "EDNQ", "KR", "H"),
}
_INVALID = 255
_SEP = b"*"  # a character that is not a residue: proteins are joined with it so no word spans two


class ProteinEmbedError(DnaHlmError):
    """A bad embedding configuration, or an embedder used before it was fitted."""


@dataclass
class KmerBlock:
    """One feature block: words of ``alphabet`` read through ``pattern`` (``1`` = used position)."""

    alphabet: str = "aa20"
    pattern: str = "111"
    weight: float = 1.0

    def check(self) -> None:
        if self.alphabet not in ALPHABETS:
            raise ProteinEmbedError(f"unknown alphabet {self.alphabet!r}; known: {', '.join(ALPHABETS)}")
        p = self.pattern
        if not p or set(p) - {"0", "1"} or p[0] != "1" or p[-1] != "1":
            raise ProteinEmbedError(f"k-mer pattern {p!r} must be 0/1 and start and end with 1")
        if self.weight <= 0:
            raise ProteinEmbedError(f"block weight must be positive, got {self.weight}")


@dataclass
class ProteinEmbedConfig:
    """How proteins become vectors (see the module docstring). ``dim`` is per block."""

    # default: the design measured best for its speed (docs/benchmarks.md): Murphy-10 3-mers, exact
    blocks: list[KmerBlock] = field(default_factory=lambda: [KmerBlock("murphy10", "111")])
    dim: int = 2048
    tf: str = "log"       # raw | log | binary
    idf: bool = True
    batch: int = 1024     # proteins per counting batch (memory: batch * dim * 8 bytes)

    def check(self) -> None:
        if not self.blocks:
            raise ProteinEmbedError("protein embedding needs at least one k-mer block")
        for b in self.blocks:
            b.check()
        if self.tf not in ("raw", "log", "binary"):
            raise ProteinEmbedError(f"tf must be raw, log or binary, got {self.tf!r}")
        if self.dim < 16:
            raise ProteinEmbedError(f"dim must be at least 16, got {self.dim}")

    def block_dims(self) -> list[int]:
        """Width of each block: the exact word count when it fits in ``dim``, else ``dim``."""
        return [min(self.dim, len(ALPHABETS[b.alphabet]) ** b.pattern.count("1")) for b in self.blocks]

    @property
    def width(self) -> int:
        return sum(self.block_dims())


@lru_cache(maxsize=None)
def _lookup(alphabet: str) -> np.ndarray:
    """Read-only byte -> class code table of ``alphabet`` (:data:`_INVALID` for non-residues)."""
    table = np.full(256, _INVALID, dtype=np.uint8)
    for i, cls in enumerate(ALPHABETS[alphabet]):
        for aa in cls:
            table[ord(aa)] = i
            table[ord(aa.lower())] = i
    table.setflags(write=False)
    return table


def _joined(proteins: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Proteins joined by separators as bytes, and each byte's protein number."""
    raw = np.frombuffer(_SEP.join(p.encode("ascii", "replace") for p in proteins) + _SEP, dtype=np.uint8)
    lens = np.fromiter((len(p) + 1 for p in proteins), dtype=np.int64, count=len(proteins))
    return raw, np.repeat(np.arange(len(proteins), dtype=np.int64), lens)


def _block_words(raw: np.ndarray, doc: np.ndarray, block: KmerBlock) -> tuple[np.ndarray, np.ndarray]:
    """``(protein number, word id)`` of every whole word of ``block`` in :func:`_joined` bytes, in
    order; word ids are exact (base ``alphabet size``), words with a non-residue are left out."""
    codes = _lookup(block.alphabet)[raw]
    m = codes.size - len(block.pattern) + 1
    if m <= 0 or not doc.size:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    a = np.int64(len(ALPHABETS[block.alphabet]))
    word = np.zeros(m, dtype=np.int64)
    valid = np.ones(m, dtype=bool)
    for o, used in enumerate(block.pattern):
        if used == "1":
            c = codes[o:o + m]
            valid &= c != _INVALID
            word = word * a + c
    # a window across two proteins: its skipped ("0") positions may hold the separator unseen, but
    # its first and last positions (always "1") then lie in different proteins
    valid &= doc[:m] == doc[len(block.pattern) - 1:]
    return doc[:m][valid], word[valid]


def _word_counts(raw: np.ndarray, doc: np.ndarray, n_docs: int, block: KmerBlock, width: int) -> np.ndarray:
    """(n_docs, width) float32 word counts of one block."""
    d, word = _block_words(raw, doc, block)
    exact = len(ALPHABETS[block.alphabet]) ** block.pattern.count("1") <= width
    if not exact:  # Knuth multiplicative hash, top bits are the well-mixed ones
        word = ((word.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)).astype(np.int64) % width
    counts = np.bincount(d * width + word, minlength=n_docs * width)
    return counts.reshape(n_docs, width).astype(np.float32)


class ProteinEmbedder:
    """Embeds protein sequences; ``fit`` learns the idf from the proteins that will be indexed."""

    def __init__(self, config: ProteinEmbedConfig | None = None, idf: Sequence[np.ndarray] | None = None) -> None:
        self.config = config or ProteinEmbedConfig()
        self.config.check()
        self.idf = [np.asarray(x, dtype=np.float32) for x in idf] if idf is not None else None
        if self.idf is not None and [x.size for x in self.idf] != self.config.block_dims():
            raise ProteinEmbedError("stored idf does not match the embedding configuration's block widths")

    @property
    def dim(self) -> int:
        """Width of the embedding vectors."""
        return self.config.width

    def _tf(self, x: np.ndarray) -> np.ndarray:
        if self.config.tf == "log":
            nz = x > 0
            x[nz] = 1.0 + np.log(x[nz])  # 1 + ln(count); zero stays zero
        elif self.config.tf == "binary":
            np.minimum(x, 1.0, out=x)
        return x

    def _blocks(self, proteins: Sequence[str]) -> list[np.ndarray]:
        raw, doc = _joined(proteins)
        return [_word_counts(raw, doc, len(proteins), b, w) for b, w in zip(self.config.blocks, self.config.block_dims())]

    def fit(self, proteins: Sequence[str]) -> ProteinEmbedder:
        """Learn per-block document frequencies (idf) from ``proteins``; returns ``self``."""
        dims = self.config.block_dims()
        if not self.config.idf:
            self.idf = [np.ones(w, dtype=np.float32) for w in dims]
            return self
        df = [np.zeros(w, dtype=np.int64) for w in dims]
        bs = self.config.batch
        for i in range(0, len(proteins), bs):
            for j, c in enumerate(self._blocks(proteins[i:i + bs])):
                df[j] += (c > 0).sum(axis=0)
        n = len(proteins)
        self.idf = [(np.log((1.0 + n) / (1.0 + d)) + 1.0).astype(np.float32) for d in df]
        return self

    def embed(self, proteins: Sequence[str]) -> np.ndarray:
        """(len(proteins), dim) float32, rows L2-normalised (zero rows for proteins with no word)."""
        if self.idf is None:
            if self.config.idf:
                raise ProteinEmbedError("the embedder has no idf yet: call fit() on the indexed proteins first")
            self.idf = [np.ones(w, dtype=np.float32) for w in self.config.block_dims()]
        out = np.zeros((len(proteins), self.dim), dtype=np.float32)
        bs = self.config.batch
        for i in range(0, len(proteins), bs):
            col = 0
            for blk, c, idf in zip(self.config.blocks, self._blocks(proteins[i:i + bs]), self.idf):
                c = self._tf(c) * idf
                norm = np.linalg.norm(c, axis=1, keepdims=True)
                c /= np.where(norm > 0, norm, 1.0)
                c *= np.float32(np.sqrt(blk.weight))
                out[i:i + len(c), col:col + c.shape[1]] = c
                col += c.shape[1]
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norm > 0, norm, 1.0)
        return out

    # -- persistence (JSON only: no pickles) ---------------------------------------------------
    def to_json(self) -> dict:
        """Configuration and idf as plain JSON (the idf is a few thousand floats)."""
        return {"config": asdict(self.config),
                "idf": [x.round(6).tolist() for x in self.idf] if self.idf is not None else None}

    @classmethod
    def from_json(cls, data: dict) -> ProteinEmbedder:
        from .recipes import from_dict

        config = from_dict(ProteinEmbedConfig, data["config"])
        return cls(config, data.get("idf"))

    def save(self, path: str | Path) -> None:
        """Write the embedder to ``path`` (JSON) atomically."""
        with atomic_file(path) as f:
            json.dump(self.to_json(), f)

    @classmethod
    def load(cls, path: str | Path) -> ProteinEmbedder:
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError) as e:
            raise ProteinEmbedError(f"cannot read protein embedder {path}: {e}") from None
