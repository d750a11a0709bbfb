"""Pretraining DNA: pieces of a few hundred to a few thousand bases, one per line.

Pieces are cut only from maximal runs of plain A/C/G/T (:func:`dnahlm_rag.seq.acgt_runs`): runs of
``N`` and IUPAC ambiguity codes are split points and never reach the corpus. Each run is cut into
consecutive pieces whose lengths are drawn uniformly from ``[piece_min, piece_max]`` by a RNG
seeded with the recipe seed and the source name; a remainder shorter than ``piece_min`` is
dropped. A source contributes at most its cap (megabases) — the first bases of its records in
file order. Held-out intervals (the next_kmer region) are cut out before pieces are made.
A piece goes to ``dna.valid.txt`` when :func:`~.splits.in_permille` of its text says so.
"""
from __future__ import annotations

import random
from collections import Counter
from typing import TextIO

from ..seq import acgt_runs
from .splits import in_permille


class DnaPieceWriter:
    """Writes pieces to the train/valid files and counts bases per source and split."""

    def __init__(self, train: TextIO, valid: TextIO, piece_min: int, piece_max: int, valid_permille: int, seed: int):
        self.files = {"train": train, "valid": valid}
        self.piece_min, self.piece_max = piece_min, piece_max
        self.valid_permille = valid_permille
        self.seed = seed
        self.bases: Counter = Counter()        # (source) -> bases written
        self.split_bases: Counter = Counter()  # split -> bases
        self.pieces: Counter = Counter()       # split -> pieces
        self._rngs: dict[str, random.Random] = {}

    def room(self, source: str, cap_bases: int) -> int:
        return max(0, cap_bases - self.bases[source])

    def add(self, source: str, seq: str, cap_bases: int, exclude: list[tuple[int, int]] | None = None) -> int:
        """Cut ``seq`` (normalized DNA) into pieces for ``source`` up to its cap; return bases written.

        ``exclude``: 0-based half-open intervals of ``seq`` that must not be used."""
        rng = self._rngs.setdefault(source, random.Random(f"{self.seed}:dna:{source}"))
        written = 0
        for lo, hi in _allowed(len(seq), exclude or []):
            for start, run in acgt_runs(seq[lo:hi], self.piece_min):
                pos = 0
                while len(run) - pos >= self.piece_min:
                    room = self.room(source, cap_bases)
                    if room < self.piece_min:
                        return written
                    n = min(rng.randint(self.piece_min, self.piece_max), len(run) - pos, room)
                    piece = run[pos:pos + n]
                    pos += n
                    split = "valid" if in_permille(piece, self.valid_permille) else "train"
                    self.files[split].write(piece)
                    self.files[split].write("\n")
                    self.bases[source] += n
                    self.split_bases[split] += n
                    self.pieces[split] += 1
                    written += n
        return written


def _allowed(n: int, exclude: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Complement of the ``exclude`` intervals within ``[0, n)``."""
    out, pos = [], 0
    for a, b in sorted(exclude):
        a, b = max(0, a), min(n, b)
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if pos < n:
        out.append((pos, n))
    return out
