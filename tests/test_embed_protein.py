"""ProteinSeqEmbedder: the protein embedding behind the index's sequence-embedder contract."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dnahlm_rag.embed.protein import ProteinSeqEmbedder
from dnahlm_rag.errors import DnaHlmError

PROTEINS = ["MKVLAAGIVLLLAAQ", "MSTNPKPQRKTKRNTNRRPQDVKFPGG", "MAAAAAAAKKKKLLLLV", "MW*X"]


def test_default_is_m10_k3_exact_and_state_round_trips() -> None:
    e = ProteinSeqEmbedder().fit(PROTEINS)
    assert e.name == "protein" and e.version == 1 and e.dim == 1000
    assert e.params["blocks"] == [{"alphabet": "murphy10", "pattern": "111", "weight": 1.0}]
    v = e.embed(PROTEINS)
    assert v.shape == (4, 1000) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1.0) and not v[3].any()  # no whole 3-mer: zero
    state = json.loads(json.dumps(e.state()))  # JSON only
    again = ProteinSeqEmbedder.from_state(state)
    assert np.allclose(again.embed(PROTEINS), v, atol=1e-5) and again.params == e.params


def test_state_from_another_embedder_is_refused() -> None:
    state = ProteinSeqEmbedder().fit(PROTEINS).state()
    with pytest.raises(DnaHlmError, match="this code reads protein v1"):
        ProteinSeqEmbedder.from_state({**state, "version": 99})
    with pytest.raises(DnaHlmError, match="no idf"):
        ProteinSeqEmbedder.from_state({**state, "idf": None})
