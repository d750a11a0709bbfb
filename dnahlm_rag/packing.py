"""Packed training sequences: token streams with end-of-text separators, no padding.

Each domain (DNA, English) becomes one token stream: its documents (lines) in a seeded shuffled
order, each followed by ``<|endoftext|>``. A training sequence is a window of ``n_ctx + 1`` tokens
(inputs are the first ``n_ctx``, targets the last ``n_ctx``) cut from one stream at that stream's
cursor; consecutive windows of a stream start ``n_ctx`` tokens apart, so no token is padding and
every token is a target once per pass. The stream wraps around when exhausted (a new epoch).

Which stream the global sequence number ``i`` comes from is a pure function of ``i``: sequence
``i`` is DNA iff ``floor((i + 1) * f) > floor(i * f)`` with ``f`` the recipe's DNA fraction, so
exactly ``f`` of every batch (up to rounding) is DNA, and the data position of a run is one integer,
the number of global sequences consumed. Resume is exact; under DDP, rank ``r`` of ``w`` takes the
sequences ``i`` with ``i % w == r``.

>>> is_dna(0, 0.5), is_dna(1, 0.5), [is_dna(i, 0.75) for i in range(4)]
(False, True, [False, True, True, True])
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np


def is_dna(i: int, dna_fraction: float) -> bool:
    """Whether global sequence ``i`` (0-based) is drawn from the DNA stream."""
    return math.floor((i + 1) * dna_fraction + 1e-9) > math.floor(i * dna_fraction + 1e-9)


def count_dna(n: int, dna_fraction: float) -> int:
    """How many of the global sequences ``[0, n)`` are DNA."""
    return math.floor(n * dna_fraction + 1e-9)


def encode_documents(tokenizer: Any, docs: list[str], eos_id: int, seed: int | None = 0,
                     batch: int = 1024, progress: bool = False, desc: str = "encode") -> np.ndarray:
    """One int32 stream: ``docs`` (shuffled with ``seed`` unless None), each followed by ``eos_id``."""
    from tqdm import tqdm

    order = list(range(len(docs)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    tok = getattr(tokenizer, "_tokenizer", tokenizer)
    parts: list[np.ndarray] = []
    eos = np.array([eos_id], dtype=np.int32)
    for s in tqdm(range(0, len(order), batch), desc=desc, unit="batch", disable=not progress, leave=False):
        encs = tok.encode_batch([docs[j] for j in order[s:s + batch]], add_special_tokens=False)
        for e in encs:
            parts.append(np.asarray(e.ids, dtype=np.int32))
            parts.append(eos)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


@dataclass
class PackedStreams:
    """The DNA and English token streams plus the mixing rule; see the module docstring."""

    dna: np.ndarray
    english: np.ndarray
    n_ctx: int
    dna_fraction: float

    def __post_init__(self) -> None:
        from .errors import DnaHlmError

        for name, s in (("DNA", self.dna), ("English", self.english)):
            frac = self.dna_fraction if name == "DNA" else 1 - self.dna_fraction
            if frac > 0 and len(s) < self.n_ctx + 1:
                raise DnaHlmError(f"the {name} training stream has {len(s)} tokens, fewer than one sequence ({self.n_ctx + 1})")

    def window(self, stream: np.ndarray, k: int) -> np.ndarray:
        """The ``k``-th window (``n_ctx + 1`` tokens) of ``stream``, wrapping around its end."""
        start = (k * self.n_ctx) % len(stream)
        end = start + self.n_ctx + 1
        if end <= len(stream):
            return stream[start:end]
        return np.concatenate([stream[start:], stream[: end - len(stream)]])

    def sequence(self, i: int) -> tuple[np.ndarray, bool]:
        """Global sequence ``i``: ``(tokens[n_ctx + 1], is_dna)``."""
        d = count_dna(i, self.dna_fraction)
        if is_dna(i, self.dna_fraction):
            return self.window(self.dna, d), True
        return self.window(self.english, i - d), False

    def batch(self, first: int, n: int, rank: int = 0, world: int = 1) -> tuple[Any, Any]:
        """Inputs and targets (``LongTensor[b, n_ctx]`` each) of this rank's share of global sequences
        ``[first, first + n)`` (``n`` divisible by ``world``)."""
        import torch

        rows = [self.sequence(i)[0] for i in range(first + rank, first + n, world)]
        x = torch.from_numpy(np.stack(rows).astype(np.int64))
        return x[:, :-1], x[:, 1:]

    def epochs(self, consumed: int) -> dict[str, float]:
        """How many passes over each stream ``consumed`` global sequences make."""
        d = count_dna(consumed, self.dna_fraction)
        return {"dna": d * self.n_ctx / max(len(self.dna), 1),
                "english": (consumed - d) * self.n_ctx / max(len(self.english), 1)}


def eval_windows(stream: np.ndarray, n_ctx: int, max_windows: int = 0) -> list[np.ndarray]:
    """Non-overlapping ``n_ctx + 1`` windows of ``stream`` with stride ``n_ctx``: every token after the
    first is a target exactly once (the last window may be shorter)."""
    out = []
    for start in range(0, max(len(stream) - 1, 0), n_ctx):
        out.append(stream[start:start + n_ctx + 1])
        if max_windows and len(out) >= max_windows:
            break
    return out

