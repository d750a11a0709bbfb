"""Model embedding: pooled GPT-2 hidden states averaged over both strands."""
from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dnahlm_rag.embed.lm import LMConfig, LMEmbedder
from dnahlm_rag.seq import reverse_complement

from rag_fixtures import cached_tiny_model

torch.set_num_threads(1)
EMB = LMEmbedder(cached_tiny_model(), LMConfig(max_tokens=64))


@settings(max_examples=15, deadline=None)
@given(st.text(alphabet="ACGT", min_size=1, max_size=200))
def test_sequence_and_reverse_complement_embed_identically(seq: str) -> None:
    a = EMB.embed([seq])[0]
    b = EMB.embed([reverse_complement(seq)])[0]
    assert np.allclose(a, b, atol=1e-5)


def test_shape_unit_and_batch_independent() -> None:
    seqs = ["ACGTAGCTAGCTAGGATC" * 3, "GGGCCCATATAT", "A" * 500]  # the last exceeds max_tokens
    v = EMB.embed(seqs)
    assert v.shape == (3, 32) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    one = np.stack([EMB.embed([s])[0] for s in seqs])
    assert np.allclose(v, one, atol=1e-4)
    assert EMB.params["model_sha256"] and len(EMB.params["model_sha256"]) == 64
