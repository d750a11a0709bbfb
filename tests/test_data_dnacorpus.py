"""Pretraining DNA pieces: only A/C/G/T runs, lengths in range, caps and excluded regions."""
from __future__ import annotations

import io
import random

from dnahlm_rag.data.dnacorpus import DnaPieceWriter


def _writer(pmin=50, pmax=100, permille=100):
    tr, va = io.StringIO(), io.StringIO()
    return DnaPieceWriter(tr, va, pmin, pmax, permille, seed=1), tr, va


def test_pieces_split_on_n_and_iupac_and_respect_lengths():
    rng = random.Random(0)
    seq = "".join(rng.choice("ACGT") for _ in range(3000)) + "NNNN" + "ACGT" * 30 + "R" + "ACGT" * 5
    w, tr, va = _writer()
    w.add("s", seq, cap_bases=10**6)
    pieces = tr.getvalue().split() + va.getvalue().split()
    assert pieces and all(set(p) <= set("ACGT") for p in pieces)
    assert all(50 <= len(p) <= 100 for p in pieces)
    assert sum(map(len, pieces)) == w.bases["s"] == sum(w.split_bases.values())
    assert w.pieces["valid"] > 0 and w.pieces["train"] > w.pieces["valid"]
    assert all(p in seq for p in pieces)


def test_cap_and_exclusion():
    rng = random.Random(1)
    seq = "".join(rng.choice("ACGT") for _ in range(5000))
    w, tr, va = _writer()
    w.add("s", seq, cap_bases=1000)
    assert 950 <= w.bases["s"] <= 1000
    w2, tr2, va2 = _writer()
    w2.add("t", seq, cap_bases=10**6, exclude=[(1000, 4000)])
    held = seq[1000:4000]
    for p in tr2.getvalue().split() + va2.getvalue().split():
        assert p not in held and (p in seq[:1000] or p in seq[4000:])
