"""Model embedding: mean-pooled hidden states of our own GPT-2, averaged over both strands.

For each sequence the model reads the sequence and its reverse complement separately (each cut
to the first ``max_tokens`` tokens, the model's context at most); the hidden states of layer
``layer`` are mean-pooled over the real (non-pad) tokens; the two strand vectors are averaged and
the result L2-normalised (float32). Averaging over strands makes the embedding strand-blind: a
sequence and its reverse complement read the same two strands and embed identically (up to float
rounding between batch layouts, about 1e-6).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import sha256_file
from ..errors import DnaHlmError
from ..seq import reverse_complement

VERSION = 1


@dataclass
class LMConfig:
    """Parameters of :class:`LMEmbedder` (stored in the index manifest)."""

    layer: int = -1  # which hidden layer to pool (-1: the last)
    max_tokens: int = 256  # tokens read per strand (also capped by the model's context)
    batch_size: int = 16  # sequences per forward pass (each counts twice: both strands)
    device: str = "cpu"
    num_threads: int = 0  # torch threads; 0 leaves torch's default


def model_fingerprint(model_dir: str | Path) -> str:
    """SHA-256 of a checkpoint folder's weights file (identifies the model an index was built with)."""
    d = Path(model_dir)
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (d / name).is_file():
            return sha256_file(d / name)
    raise DnaHlmError(f"{d} holds no model.safetensors: not a checkpoint folder")


class LMEmbedder:
    """Strand-averaged pooled hidden states of a GPT-2 checkpoint folder."""

    name = "lm"
    version = VERSION

    def __init__(self, model_dir: str | Path, config: LMConfig | None = None) -> None:
        from .. import generator

        self.model_dir = Path(model_dir)
        self.config = config or LMConfig()
        self.loaded = generator.load_checkpoint(self.model_dir, device=self.config.device,
                                                num_threads=self.config.num_threads)
        self.fingerprint = model_fingerprint(self.model_dir)
        self.dim = int(self.loaded.model.config.n_embd)

    @property
    def params(self) -> dict[str, Any]:
        return {"model_sha256": self.fingerprint, "layer": self.config.layer,
                "max_tokens": self.config.max_tokens}

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        """Embed DNA strings; returns ``(len(seqs), n_embd)`` float32 with unit rows."""
        import torch

        model, tok = self.loaded.model, self.loaded.tokenizer
        max_tokens = min(self.config.max_tokens, int(model.config.n_positions))
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        bs = self.config.batch_size
        for a in range(0, len(seqs), bs):
            chunk = [s.upper() for s in seqs[a : a + bs]]
            # Layout [s0, rc0, s1, rc1, ...]: both strands of a sequence in the same batch.
            texts = [x for s in chunk for x in (s, reverse_complement(s))]
            tok.padding_side = "right"  # pooling masks pads; positions must start at 0
            enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_tokens)
            enc = {k: v.to(self.loaded.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            with torch.inference_mode():
                hs = model.transformer(**enc, output_hidden_states=True).hidden_states[self.config.layer]
            mask = enc["attention_mask"].unsqueeze(-1).to(hs.dtype)  # (2B, T, 1)
            pooled = (hs * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (2B, C)
            pooled = pooled.float().view(len(chunk), 2, -1)
            v = pooled[:, 0] + pooled[:, 1]  # a + b == b + a exactly: strand order does not matter
            v = torch.nn.functional.normalize(v, dim=-1)
            out[a : a + len(chunk)] = v.cpu().numpy()
        return out
