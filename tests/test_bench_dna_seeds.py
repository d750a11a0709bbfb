"""The spaced-seed search of bench/bench_dna_seeds.py on hand-made sequences."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_dna_seeds import Seed, SeedIndex, concatenated, words  # noqa: E402

RC = str.maketrans("ACGT", "TGCA")


def _random_dna(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def _third_base_mutant(seq: str, rng: random.Random) -> str:
    """Every third base (the wobble position of codon 0-based index 2) replaced at random."""
    return "".join(rng.choice("ACGT") if i % 3 == 2 else b for i, b in enumerate(seq))


def test_words_encode_the_cared_bases_and_mark_non_acgt():
    codes, _ = concatenated(["ACGTN"], gap=0)
    assert words(codes, "11").tolist() == [0 * 4 + 1, 1 * 4 + 2, 2 * 4 + 3, -1]
    assert words(codes, "101").tolist() == [0 * 4 + 2, 1 * 4 + 3, -1]  # the middle base is not read
    assert len(words(codes, "111111")) == 0  # shorter than the span


def test_a_codon_seed_finds_a_wobble_mutant_on_either_strand_and_a_contiguous_seed_does_not():
    rng = random.Random(0)
    train = [_random_dna(rng, 900) for _ in range(40)]
    query = _third_base_mutant(train[17][120:720], rng)
    codon = SeedIndex(train, Seed("1101101101101101", cap=300, band=16))
    seg, hits = codon.top([query, query.translate(RC)[::-1], _random_dna(rng, 600)])
    assert seg[:2].tolist() == [17, 17]
    assert hits[0] >= 100 and hits[1] == hits[0]
    assert hits[2] < 5  # a random query has no full band anywhere
    contiguous = SeedIndex(train, Seed("11111111111", cap=300, band=16))
    seg, hits = contiguous.top([query])
    assert hits[0] < 5  # 11 consecutive bases never survive a change every third base


def test_words_seen_more_than_cap_times_are_dropped():
    train = ["ACGTACGTACGTACGTACGT" * 5, "ACGTACGTACGT"]
    index = SeedIndex(train, Seed("1111", cap=10, band=16))
    assert len(index.postings) == 0
    assert np.all(index.top(["ACGTACGTACGT"])[0] == -1)
