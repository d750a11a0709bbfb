"""Fusion of a sequence embedding and a text embedding into one searchable vector.

Documented fusion (weighted concatenation; inner-product search):

* a **document** (indexed segment) is ``[s_d, t_d]``: its unit sequence embedding and, for
  ``+text`` embedders, the unit text embedding of its description;
* a **query** is ``[w_s * s_q, w_t * t_q]`` where ``s_q`` embeds the query sequence, ``t_q`` the
  question, and ``w_s + w_t = 1`` (``FusionConfig``; defaults 0.8 and 0.2). Without a question
  (or with a sequence-only embedder) the query is ``[s_q, 0]``.

So the search score is ``w_s * cos(seq) + w_t * cos(question, description)``, a weighted mean of
two cosines in [-1, 1]; with no question it is the plain sequence cosine. The text half only
re-ranks among sequence neighbours when the question names what is wanted.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import DnaHlmError


class SeqEmbedder(Protocol):
    name: str
    version: int
    dim: int

    @property
    def params(self) -> dict[str, Any]: ...

    def embed(self, seqs: Sequence[str]) -> np.ndarray: ...


@dataclass
class FusionConfig:
    """Weights of the query's parts (must sum to 1)."""

    seq_weight: float = 0.8
    text_weight: float = 0.2

    def check(self) -> None:
        if self.seq_weight < 0 or self.text_weight < 0 or abs(self.seq_weight + self.text_weight - 1) > 1e-6:
            raise DnaHlmError(f"fusion weights must be >= 0 and sum to 1, got {self.seq_weight} + {self.text_weight}")


def parse_spec(spec: str) -> tuple[str, bool]:
    """``"kmer"``, ``"lm"``, ``"kmer+text"``, ``"lm+text"`` -> (sequence embedder name, with text)."""
    parts = spec.split("+")
    if parts[0] not in ("kmer", "lm") or parts[1:] not in ([], ["text"]):
        raise DnaHlmError(f"unknown embedder {spec!r}: expected kmer, lm, kmer+text or lm+text")
    return parts[0], parts[1:] == ["text"]


class FusedEmbedder:
    """A sequence embedder plus an optional text embedder, fused as documented above."""

    def __init__(self, seq: SeqEmbedder, text: Any | None = None, config: FusionConfig | None = None) -> None:
        self.seq = seq
        self.text = text
        self.config = config or FusionConfig()
        self.config.check()

    @property
    def name(self) -> str:
        return self.seq.name + ("+text" if self.text is not None else "")

    @property
    def dim(self) -> int:
        return self.seq.dim + (self.text.dim if self.text is not None else 0)

    def describe(self) -> dict[str, Any]:
        """What the manifest records: names, versions and params of the parts, and the fusion."""
        d: dict[str, Any] = {"name": self.name, "dim": self.dim,
                             "seq": {"name": self.seq.name, "version": self.seq.version, "params": self.seq.params}}
        if self.text is not None:
            d["text"] = {"name": self.text.name, "version": self.text.version, "params": self.text.params}
            d["fusion"] = {"seq_weight": self.config.seq_weight, "text_weight": self.config.text_weight}
        return d

    def embed_documents(self, seqs: Sequence[str], descriptions: Sequence[str] | None = None,
                        show_progress: bool = False) -> np.ndarray:
        s = self.seq.embed(seqs)
        if self.text is None:
            return s
        if descriptions is None or len(descriptions) != len(seqs):
            raise DnaHlmError("a +text embedder needs one description per sequence")
        t = self.text.embed(descriptions, show_progress=show_progress)
        return np.concatenate([s, t], axis=1).astype(np.float32)

    def embed_queries(self, seqs: Sequence[str], questions: Sequence[str | None] | None = None) -> np.ndarray:
        s = self.seq.embed(seqs)
        if self.text is None:
            return s
        qs = [q if q and q.strip() else "" for q in (questions or [None] * len(seqs))]
        t = self.text.embed(qs)  # an empty question embeds as zeros
        has = np.array([bool(q) for q in qs])[:, None]
        ws = np.where(has, self.config.seq_weight, 1.0).astype(np.float32)
        return np.concatenate([s * ws, t * self.config.text_weight], axis=1).astype(np.float32)
