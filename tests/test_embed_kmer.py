"""Canonical k-mer embedding: strand-blind, unit, float32, fitted state round trip."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnahlm_rag.embed.kmer import KmerConfig, KmerEmbedder, _canonical_table, _encode, _kmer_codes
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.seq import reverse_complement

from rag_fixtures import mutate, random_dna

RNG = random.Random(7)
CORPUS = [random_dna(RNG, RNG.randint(30, 600)) for _ in range(60)]
EMB = KmerEmbedder().fit(CORPUS)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=0, max_size=300))
def test_sequence_and_reverse_complement_embed_identically(seq: str) -> None:
    v = EMB.embed([seq, reverse_complement(seq)])
    assert np.array_equal(v[0], v[1])


def test_canonical_column_counts() -> None:
    # odd k: 4^k / 2 canonical k-mers; even k adds the palindromes: (4^k + 4^(k/2)) / 2
    assert _canonical_table(3)[1] == 32
    assert _canonical_table(4)[1] == 136
    assert _canonical_table(5)[1] == 512
    assert EMB.dim == 32 + 136 + 1024


def test_unit_float32_and_empty_is_zero() -> None:
    v = EMB.embed(CORPUS[:5] + ["AC", "NNNN"])
    assert v.dtype == np.float32 and v.shape == (7, EMB.dim)
    assert np.allclose(np.linalg.norm(v[:5], axis=1), 1.0, atol=1e-5)
    assert not v[5:].any()  # no k-mer at all: the zero vector


def test_chunking_does_not_change_vectors() -> None:
    small = KmerEmbedder(KmerConfig(chunk_bases=500))
    small.idf, small.mean = EMB.idf, EMB.mean
    small.hashed_mean, small.hashed_std = EMB.hashed_mean, EMB.hashed_std
    assert np.allclose(small.embed(CORPUS), EMB.embed(CORPUS), atol=1e-6)


def test_mutated_copy_finds_its_source() -> None:
    v = EMB.embed(CORPUS)
    hits = 0
    for i in range(0, 60, 3):
        if len(CORPUS[i]) < 200:
            continue
        q = EMB.embed([reverse_complement(mutate(RNG, CORPUS[i], 0.05))])[0]
        hits += int(np.argmax(v @ q) == i)
    assert hits >= 10


def test_state_round_trips_through_json(tmp_path) -> None:
    EMB.save(tmp_path / "e.json")
    again = KmerEmbedder.from_state(json.loads((tmp_path / "e.json").read_text()))
    assert np.array_equal(again.embed(CORPUS[:4]), EMB.embed(CORPUS[:4]))


def test_spaced_seed_ignores_the_skipped_positions() -> None:
    def codes(s: str) -> list[int]:
        c, _ = _kmer_codes(_encode([s])[0], 5, "11011")
        return c.tolist()

    assert codes("ACGTA") == codes("ACTTA") == codes(reverse_complement("ACTTA"))  # middle base skipped
    assert codes("ACGTA") != codes("ACGTT")
    with pytest.raises(DnaHlmError, match="palindromic"):
        KmerEmbedder(KmerConfig(spaced_seeds=["110"]))


def test_unfitted_and_bad_config_are_errors() -> None:
    with pytest.raises(DnaHlmError, match="not fitted"):
        KmerEmbedder().embed(["ACGT"])
    with pytest.raises(DnaHlmError, match="power of two"):
        KmerEmbedder(KmerConfig(hash_dim=1000))
    with pytest.raises(DnaHlmError, match="empty"):
        KmerEmbedder().fit([])


def test_nan_negative_or_zero_weights_are_errors() -> None:
    """A NaN weight in the index recipe once built an index of NaN vectors without a word."""
    for kw in ({"exact_weight": float("nan")}, {"hashed_weight": -0.5}, {"exact_ks": [], "hashed_weight": 0.0},
               {"chunk_bases": 0}):
        with pytest.raises(DnaHlmError, match="exact_weight and hashed_weight|chunk_bases"):
            KmerEmbedder(KmerConfig(**kw))
    KmerEmbedder(KmerConfig(exact_weight=0.0))  # one block alone is fine
