"""StatLog splice bit decoding (A=100, C=010, G=001, T=000) and promoter reading via pyreadr."""
from __future__ import annotations

import pandas as pd
import pytest

from dnahlm_rag.data.promoters import read_promoters
from dnahlm_rag.data.statlog import check_consensus, decode_bits, read_statlog
from dnahlm_rag.errors import DnaHlmError

CODE = {"A": [1, 0, 0], "C": [0, 1, 0], "G": [0, 0, 1], "T": [0, 0, 0]}


def encode(seq: str) -> list[int]:
    return [b for base in seq for b in CODE[base]]


def test_decode_bits_each_base():
    assert decode_bits(encode("ACGT")) == "ACGT"
    assert decode_bits([1, 0, 0, 0, 0, 0]) == "AT"
    with pytest.raises(DnaHlmError):
        decode_bits([1, 1, 0])
    with pytest.raises(DnaHlmError):
        decode_bits([1, 0])


def _donor(i: int) -> str:
    return ("CAGGTAAGT" * 4)[: 30] + "GT" + ("ACGTTGCA" * 4)[i % 3: i % 3 + 28]


def test_read_statlog_rda_roundtrip(tmp_path):
    pyreadr = pytest.importorskip("pyreadr")
    seqs = [(_donor(i), "ei") for i in range(3)] + [("T" * 28 + "AG" + "C" * 30, "ie"), ("ACGT" * 15, "n")]
    rows = [encode(s) + [c] for s, c in seqs]
    df = pd.DataFrame(rows, columns=[f"V{i}" for i in range(1, 181)] + ["Class"])
    path = tmp_path / "DNA.rda"
    pyreadr.write_rdata(str(path), df, df_name="DNA")
    items = read_statlog(path)
    assert [it["seq"] for it in items] == [s for s, _ in seqs]
    assert [it["label"] for it in items] == ["donor"] * 3 + ["acceptor", "neither"]
    assert check_consensus(items) == {"donor_GT": 1.0, "acceptor_AG": 1.0}
    items[0]["seq"] = "A" * 60
    items[1]["seq"] = "A" * 60
    with pytest.raises(DnaHlmError, match="consensus"):
        check_consensus(items)


def test_read_promoters_rda(tmp_path):
    pyreadr = pytest.importorskip("pyreadr")
    df = pd.DataFrame([["+"] + list("acgt" * 14 + "a"), ["-"] + list("ttgc" * 14 + "g")],
                      columns=["Class"] + [f"V{i}" for i in range(2, 59)])
    path = tmp_path / "promotergene.rda"
    pyreadr.write_rdata(str(path), df, df_name="promotergene")
    items = read_promoters(path)
    assert [it["label"] for it in items] == ["promoter", "non-promoter"]
    assert items[0]["seq"] == "ACGT" * 14 + "A" and len(items[1]["seq"]) == 57
