"""The report's wording of what was measured (the end-to-end rendering is tested in test_evaluate.py)."""
from __future__ import annotations

import math

from dnahlm_rag.eval_report import _items_words, _pct


def test_items_words_states_the_sample_and_the_whole_split_tasks():
    assert _items_words({"max_items": 100}) == "at most 100 per task"
    assert _items_words({"max_items": 100, "task_items": {}}) == "at most 100 per task"
    assert _items_words({"max_items": 100, "task_items": {"splice": 0, "genus_16s": 300}}) == \
        "at most 100 per task (splice: all, genus_16s: 300)"
    assert _items_words({"max_items": 0}) == "all items of every task"


def test_pct_leaves_missing_figures_blank():
    assert _pct(0.943) == "94.3" and _pct(1.0) == "100.0"
    assert _pct(None) == "" and _pct(math.nan) == ""
