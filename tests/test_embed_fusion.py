"""Fusion: query score = w_seq * cos(seq) + w_text * cos(question, description)."""
from __future__ import annotations

import numpy as np
import pytest

from dnahlm_rag.embed.fusion import FusedEmbedder, FusionConfig, parse_spec
from dnahlm_rag.errors import DnaHlmError


class _Fixed:
    """A stand-in embedder returning given unit vectors by key (tests the arithmetic only)."""

    version, params = 1, {}

    def __init__(self, name: str, table: dict[str, np.ndarray]) -> None:
        self.name, self.table = name, table
        self.dim = len(next(iter(table.values())))

    def embed(self, xs, show_progress=False):
        return np.stack([self.table[x] if x else np.zeros(self.dim, np.float32) for x in xs]).astype(np.float32)


def _unit(*x: float) -> np.ndarray:
    v = np.array(x, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_fused_score_is_weighted_mean_of_cosines() -> None:
    seq = _Fixed("kmer", {"A": _unit(1, 0, 0), "B": _unit(1, 1, 0), "Q": _unit(1, 2, 2)})
    text = _Fixed("text", {"d1": _unit(0, 1), "d2": _unit(1, 1), "q": _unit(1, 0)})
    f = FusedEmbedder(seq, text, FusionConfig(0.7, 0.3))
    docs = f.embed_documents(["A", "B"], ["d1", "d2"])
    q = f.embed_queries(["Q"], ["q"])[0]
    want = [0.7 * float(seq.table["Q"] @ seq.table[s]) + 0.3 * float(text.table["q"] @ text.table[d])
            for s, d in (("A", "d1"), ("B", "d2"))]
    assert np.allclose(docs @ q, want, atol=1e-6)
    # no question: the plain sequence cosine
    q0 = f.embed_queries(["Q"], [None])[0]
    assert np.allclose(docs @ q0, [seq.table["Q"] @ seq.table["A"], seq.table["Q"] @ seq.table["B"]], atol=1e-6)
    assert f.name == "kmer+text" and f.dim == 5


def test_specs_and_weights_are_checked() -> None:
    assert parse_spec("kmer+text") == ("kmer", True) and parse_spec("lm") == ("lm", False)
    with pytest.raises(DnaHlmError, match="unknown embedder"):
        parse_spec("blast")
    with pytest.raises(DnaHlmError, match="sum to 1"):
        FusionConfig(0.5, 0.2).check()
