"""The protein embedder as an index sequence embedder (``dnahlm index build --embedder protein``).

:class:`ProteinSeqEmbedder` wraps :class:`~dnahlm_rag.protein_embed.ProteinEmbedder` in the
sequence-embedder contract of :mod:`dnahlm_rag.embed.fusion` (``name``, ``version``, ``dim``,
``params``, ``embed``) plus ``fit`` and a JSON ``state``, so that :mod:`dnahlm_rag.index` builds,
writes, loads and checks a protein index with the same code as a DNA one.

Its inputs are **protein** strings (one-letter amino acids; ``*`` and ``X`` break words), not DNA:
the protein index embeds each CDS's translation, and a query embeds the translation of one of
its open reading frames (:mod:`dnahlm_rag.protein_retrieval`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DnaHlmError
from ..protein_embed import KmerBlock, ProteinEmbedConfig, ProteinEmbedder

#: Bumped whenever the vectors change for the same proteins and params.
VERSION = 1


def default_protein_config() -> ProteinEmbedConfig:
    """The design recommended by bench/bench_protein.py: Murphy-10 contiguous 3-mers, exact
    (1000 dims), log tf, idf (docs/benchmarks.md, "m10-k3")."""
    return ProteinEmbedConfig(blocks=[KmerBlock("murphy10", "111")], dim=1000)


class ProteinSeqEmbedder:
    """Protein k-mer profiles behind the index's sequence-embedder interface."""

    name = "protein"
    version = VERSION

    def __init__(self, config: ProteinEmbedConfig | None = None) -> None:
        self.inner = ProteinEmbedder(config or default_protein_config())

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.inner.config)

    def fit(self, proteins: Sequence[str]) -> "ProteinSeqEmbedder":
        """Learn the idf from the proteins that will be indexed; returns ``self``."""
        self.inner.fit(list(proteins))
        return self

    def embed(self, proteins: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, unit rows (zero rows for proteins without a whole k-mer)."""
        return self.inner.embed(list(proteins))

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, **self.inner.to_json()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ProteinSeqEmbedder":
        if state.get("name") != cls.name or state.get("version") != cls.version:
            raise DnaHlmError(f"protein embedder state is {state.get('name')} v{state.get('version')}, "
                              f"this code reads {cls.name} v{cls.version}: rebuild the index")
        e = cls.__new__(cls)
        e.inner = ProteinEmbedder.from_json(state)
        if e.inner.idf is None:
            raise DnaHlmError("protein embedder state has no idf: rebuild the index")
        return e
