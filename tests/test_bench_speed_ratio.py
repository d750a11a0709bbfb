"""The chunking and summary of bench/bench_speed_ratio.py on hand-made figures."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_speed_ratio import Chunk, chunks, summary  # noqa: E402


def test_chunks_cover_every_query_once_in_order() -> None:
    parts = chunks(250, 100)
    assert [len(p) for p in parts] == [100, 100, 50]
    assert [i for p in parts for i in p] == list(range(250))
    assert chunks(0, 100) == []
    with pytest.raises(ValueError, match="at least 1"):
        chunks(10, 0)


def test_summary_weights_chunks_by_their_queries() -> None:
    rows = [Chunk(100, 200.0, 4.0), Chunk(50, 300.0, 10.0)]  # ratios 50x and 30x
    s = summary(rows)
    assert s["queries"] == 150
    assert s["blastx_ms"] == pytest.approx((200 * 100 + 300 * 50) / 150)
    assert s["ours_ms"] == pytest.approx((4 * 100 + 10 * 50) / 150)
    assert s["ratio"] == pytest.approx(35000 / 900)  # total over total, not the mean of the ratios
    assert (s["min"], s["max"], s["median"]) == (30.0, 50.0, 40.0)
    assert Chunk(1, 5.0, 0.0).ratio == float("inf")
