"""Packed sequences: exact mix ratio, no padding, deterministic positions, DDP shares."""
from __future__ import annotations

import numpy as np
import pytest

from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.packing import PackedStreams, count_dna, encode_documents, eval_windows, is_dna


@pytest.mark.parametrize("f", [0.0, 0.25, 0.5, 0.6, 1.0])
def test_mix_ratio_is_exact(f):
    n = 1000
    assert sum(is_dna(i, f) for i in range(n)) == count_dna(n, f) == round(n * f)


def streams(f=0.5, n_ctx=8):
    return PackedStreams(dna=np.arange(100, dtype=np.int32), english=np.arange(1000, 1050, dtype=np.int32),
                         n_ctx=n_ctx, dna_fraction=f)


def test_windows_are_contiguous_and_wrap():
    s = streams()
    seqs = [s.sequence(i) for i in range(40)]
    dna = [w for w, d in seqs if d]
    assert len(dna) == 20 and all(len(w) == 9 for w, _ in seqs)
    assert list(dna[0]) == list(range(9)) and list(dna[1]) == list(range(8, 17))  # stride n_ctx, one overlap token
    assert dna[12][0] == 96 and list(dna[12][4:]) == [0, 1, 2, 3, 4]  # wraps around


def test_ddp_ranks_partition_the_global_batch():
    s = streams()
    x_all, y_all = s.batch(16, 8)
    x0, _ = s.batch(16, 8, rank=0, world=2)
    x1, _ = s.batch(16, 8, rank=1, world=2)
    assert x0.shape == (4, 8) and (x_all[0::2] == x0).all() and (x_all[1::2] == x1).all()
    assert (x_all[:, 1:] == y_all[:, :-1]).all()


def test_stream_too_short_is_an_error():
    with pytest.raises(DnaHlmError, match="DNA"):
        PackedStreams(dna=np.arange(5, dtype=np.int32), english=np.arange(50, dtype=np.int32), n_ctx=8, dna_fraction=0.5)


def test_eval_windows_make_every_token_a_target_once():
    stream = np.arange(30)
    ws = eval_windows(stream, 8)
    targets = np.concatenate([w[1:] for w in ws])
    assert list(targets) == list(range(1, 30))


def test_encode_documents_appends_eos_and_shuffles_deterministically():
    class Enc:
        def __init__(self, ids):
            self.ids = ids

    class Tok:
        def encode_batch(self, docs, add_special_tokens=False):
            return [Enc([len(d)]) for d in docs]

    docs = ["a", "bb", "ccc", "dddd"]
    a = encode_documents(Tok(), docs, eos_id=0, seed=3)
    assert list(a) == list(encode_documents(Tok(), docs, eos_id=0, seed=3))
    assert sorted(a[0::2]) == [1, 2, 3, 4] and set(a[1::2]) == {0}
    assert list(encode_documents(Tok(), docs, eos_id=0, seed=None)) == [1, 0, 2, 0, 3, 0, 4, 0]
