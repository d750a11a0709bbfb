"""Wording noise: what it changes in an instruction and what it must never change."""
from __future__ import annotations

import random

from dnahlm_rag.prompts import format_labels
from dnahlm_rag.wording_noise import PREFIXES, SUFFIXES, perturb

LABELS = format_labels(["donor", "acceptor", "neither"])
WITH_LABELS = f"Is this window a splice donor, an acceptor or neither? Answer with one of: {LABELS}."
PLAIN = "This is a 16S ribosomal RNA gene. Which genus is it from?"


def test_the_label_list_survives_every_draw_verbatim():
    rng = random.Random(0)
    for _ in range(500):
        assert LABELS in perturb(WITH_LABELS, rng, LABELS)


def test_the_words_left_are_the_original_words_in_order_plus_an_opener_or_sign_off():
    rng = random.Random(1)
    original = [w.lower().rstrip(".?!:") for w in PLAIN.split()]
    changed = 0
    for _ in range(500):
        out = perturb(PLAIN, rng)
        changed += out != PLAIN
        for extra in PREFIXES:
            if out.startswith(extra + " "):
                out = out[len(extra) + 1:]
        for extra in SUFFIXES:
            if out.endswith(" " + extra):
                out = out[: -len(extra) - 1]
        words = [w.lower().rstrip(".?!:") for w in out.split()]
        assert len(words) >= 2
        it = iter(original)
        assert all(any(w == o for o in it) for w in words), out  # a subsequence of the original words
    assert changed > 400  # most draws change something


def test_a_seeded_generator_gives_the_same_noise():
    a = [perturb(PLAIN, r) for r in [random.Random(7)] for _ in range(20)]
    b = [perturb(PLAIN, r) for r in [random.Random(7)] for _ in range(20)]
    assert a == b
