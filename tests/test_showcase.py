"""The five demo questions: each asked on its task's first test item, answer beside the truth."""
import json

import pytest
from rag_fixtures import build_small_index, cached_tiny_model

from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.showcase import EXAMPLES, run_examples


def test_run_examples_answers_each_task_and_writes_markdown(tmp_path):
    for ex in EXAMPLES:
        build_small_index(tmp_path, task=ex.task, name=ex.task)
    build_small_index(tmp_path, name="segments")  # the product question asks the segments index, as `ask` does
    # make_task labels every task with feature types; product is "classification" here, which is fine
    rows = run_examples(tmp_path / "data", tmp_path / "indexes", str(cached_tiny_model()), k=2,
                        out=tmp_path / "examples.md")
    assert [r["task"] for r in rows] == [ex.task for ex in EXAMPLES]
    first = json.loads((tmp_path / "data" / "tasks" / "splice" / "test.jsonl").read_text().splitlines()[0])
    splice = rows[1]
    assert splice["id"] == first["id"] and splice["truth"] == first["label"]
    assert all(len(r["neighbours"]) == 2 for r in rows)
    assert rows[1]["routed"] == "splice" and all(r["routed"] in {ex.task for ex in EXAMPLES} | {"none"} for r in rows)
    by_index = {ex.task: ex.index for ex in EXAMPLES}
    assert all(n["id"].startswith("train") for r in rows if not by_index[r["task"]] for n in r["neighbours"])
    assert rows[0]["task"] == "product" and by_index["product"] == "segments"
    assert all(n["level"] == "dna" for r in rows for n in r["neighbours"])  # no protein index here
    text = (tmp_path / "examples.md").read_text()
    assert text.count("## ") == len(EXAMPLES) and "truth:" in text
    # the command prints the same rows (it once read a key the rows no longer had)
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    res = CliRunner().invoke(app, ["examples", "--data", str(tmp_path / "data"), "--indexes", str(tmp_path / "indexes"),
                                   "--model", str(cached_tiny_model()), "-k", "2", "--out", str(tmp_path / "ex2.md")])
    assert res.exit_code == 0, res.output
    assert res.output.count("\nQ [") == len(EXAMPLES) and res.output.count("   - ") == 2 * len(EXAMPLES)


def test_missing_index_is_a_clear_error(tmp_path):
    from rag_fixtures import make_task

    build_small_index(tmp_path, task="product", name="product")
    build_small_index(tmp_path, name="segments")
    make_task(tmp_path / "data", "splice")  # the task exists, its index does not
    with pytest.raises(DnaHlmError, match="dnahlm index build --task splice"):
        run_examples(tmp_path / "data", tmp_path / "indexes", str(cached_tiny_model()), out=None)


def test_damaged_test_item_or_no_data_folder_is_a_clear_error(tmp_path):
    """A first test row that is bad JSON, not UTF-8 or has no sequence once gave a traceback (after
    the model had loaded for the earlier examples)."""
    for ex in EXAMPLES:
        build_small_index(tmp_path, task=ex.task, name=ex.task)
    build_small_index(tmp_path, name="segments")
    test = tmp_path / "data" / "tasks" / "splice" / "test.jsonl"
    for junk, match in (('{"id": "x", "seq": "ACGT"\n', "test.jsonl:1: not valid JSON"),
                        ("[1, 2]\n", "test.jsonl:1: expected a JSON object"),
                        ('{"id": "x", "seq": 5, "label": "CDS"}\n', "first row lacks id, label or a seq string")):
        test.write_text(junk)
        with pytest.raises(DnaHlmError, match=match):
            run_examples(tmp_path / "data", tmp_path / "indexes", "/nonexistent-model", out=None)
    test.write_bytes("\ufeff{}".encode("utf-16"))
    with pytest.raises(DnaHlmError, match="not UTF-8 text"):
        run_examples(tmp_path / "data", tmp_path / "indexes", "/nonexistent-model", out=None)
    with pytest.raises(DnaHlmError, match="nodata holds no tasks/ folder"):
        run_examples(tmp_path / "nodata", tmp_path / "indexes", "/nonexistent-model", out=None)
