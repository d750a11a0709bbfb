"""Exact word cosine through an inverted file: equal to the dense computation, saved without pickle."""
from __future__ import annotations

import random

import numpy as np
import pytest

from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.protein_words import WORDS_FILE, WordConfig, WordIndex

AA = "ACDEFGHIKLMNPQRSTVWY"


def _dense(proteins: list[str], idf: np.ndarray, patterns: tuple[str, ...] = ("1111", "11011")) -> np.ndarray:
    """(1 + ln tf) * idf vectors over all words of each pattern (20^weight each, blocks side by
    side), each block of unit norm, divided by sqrt(blocks): the slow obvious way."""
    blocks = []
    offset = 0
    for pattern in patterns:
        used = [i for i, c in enumerate(pattern) if c == "1"]
        size = 20 ** len(used)
        out = np.zeros((len(proteins), size))
        for r, p in enumerate(proteins):
            counts: dict[int, int] = {}
            for i in range(len(p) - len(pattern) + 1):
                w = [p[i + j] for j in used]
                if all(c in AA for c in w):
                    code = 0
                    for c in w:
                        code = code * 20 + AA.index(c)  # protein_embed.ALPHABETS["aa20"] order
                    counts[code] = counts.get(code, 0) + 1
            for code, n in counts.items():
                out[r, code] = (1 + np.log(n)) * idf[offset + code]
            norm = np.linalg.norm(out[r])
            if norm:
                out[r] /= norm
        blocks.append(out)
        offset += size
    return np.hstack(blocks) / np.sqrt(len(patterns))


@pytest.fixture(scope="module")
def collection() -> list[str]:
    rng = random.Random(3)
    base = ["".join(rng.choice(AA) for _ in range(rng.randint(20, 120))) for _ in range(40)]
    # relatives: point substitutions of the first few, so there are real shared words
    rel = ["".join(rng.choice(AA) if rng.random() < 0.2 else c for c in base[i]) for i in range(8)]
    return base + rel + ["MKX*AAAA", "XXXX", ""]


@pytest.mark.parametrize("patterns", [("1111", "11011"), ("1111",), ("101",)])
def test_scores_equal_the_dense_cosine(collection, patterns) -> None:
    w = WordIndex.build(collection, WordConfig("aa20", patterns))
    queries = collection[:5] + ["".join(random.Random(9).choice(AA) for _ in range(60)), "mkta" + collection[3].lower()]
    scores, ids = w.search(queries, k=len(collection))
    dense = _dense(collection, w.idf, patterns)
    qd = _dense([q.upper() for q in queries], w.idf, patterns)
    truth = qd @ dense.T
    for i in range(len(queries)):
        got = {int(j): float(s) for s, j in zip(scores[i], ids[i]) if j >= 0}
        want = {j: truth[i, j] for j in np.flatnonzero(truth[i] > 1e-9)}
        assert set(got) == set(want)
        assert all(abs(got[j] - want[j]) < 1e-5 for j in got)
        assert list(scores[i][:len(got)]) == sorted(scores[i][:len(got)], reverse=True)
    assert ids[0][0] == 0 and scores[0][0] == pytest.approx(1.0, abs=1e-6)


def test_top_k_is_a_prefix_of_the_full_ranking_lower_row_first_on_ties(collection) -> None:
    # ten copies of one protein tie exactly; cuts through the tie, above it and in the low tail
    # (where the histogram's lowest bin is needed) all give the full ranking's first k
    rng = random.Random(5)
    copies = [collection[2]] * 10
    noise = ["".join(rng.choice(AA) for _ in range(300)) for _ in range(60)]
    coll = noise[:30] + copies + noise[30:]
    w = WordIndex.build(coll)
    queries = [collection[2], collection[2][5:40] + noise[3][:50], noise[7]]
    full_s, full_i = w.search(queries, k=len(coll))
    for i in range(len(queries)):
        n = int((full_i[i] >= 0).sum())
        s_, i_ = full_s[i][:n], full_i[i][:n]
        assert all((a > b) or (a == b and x < y) for a, b, x, y in zip(s_, s_[1:], i_, i_[1:]))
    assert list(full_i[0][:10]) == list(range(30, 40))  # the copies, lowest row first
    for k in (1, 3, 7, 10, 11, 25, 69):
        s, ids = w.search(queries, k=k)
        assert np.array_equal(ids, full_i[:, :k]) and np.array_equal(s, full_s[:, :k])


def test_non_residues_break_words_and_empty_queries_get_nothing(collection) -> None:
    w = WordIndex.build(collection, WordConfig("aa20", ("1111",)))
    s, i = w.search(["XXXX", "", "AB*C", "MKX*AAAA"], k=3)
    assert (i[:3] == -1).all() and (s[:3] == 0).all()
    assert i[3][0] == len(collection) - 3  # only "AAAA" is a word of "MKX*AAAA"
    s, i = w.search(collection[:1], k=10_000)  # k above the collection size is clipped
    assert i.shape == (1, len(collection))


def test_save_load_round_trip_and_bad_files(tmp_path, collection) -> None:
    w = WordIndex.build(collection)
    p = tmp_path / WORDS_FILE
    w.save(p)
    assert p.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle: a safetensors header
    w2 = WordIndex.load(p)
    for name in ("idf", "ptr", "rows", "vals"):
        assert np.array_equal(getattr(w, name), getattr(w2, name))
    assert w2.config == WordConfig() and len(w2) == len(collection)
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(DnaHlmError, match="cannot read word index"):
        WordIndex.load(p)


def test_config_checks() -> None:
    with pytest.raises(DnaHlmError, match="unknown alphabet"):
        WordIndex.build(["MKT"], WordConfig("aa21", ("1111",)))
    with pytest.raises(DnaHlmError, match="must be 0/1"):
        WordIndex.build(["MKT"], WordConfig("aa20", ("1111", "0110")))
    for bad in [(), ("1111", "1111")]:
        with pytest.raises(DnaHlmError, match="one or more distinct patterns"):
            WordIndex.build(["MKT"], WordConfig("aa20", bad))
    w = WordIndex.build(["MKTAYIAK", "MKTAYIAQ"], WordConfig("murphy10", ("11011",)))
    _, ids = w.search(["MKTAYIAK"], k=2)
    assert list(ids[0]) == [0, 1]
    empty = WordIndex.build([])
    assert len(empty) == 0 and (empty.search(["MKTA"], 3)[1] == -1).all()


def test_doctest() -> None:
    import doctest

    import dnahlm_rag.protein_words as pw

    assert doctest.testmod(pw).failed == 0
