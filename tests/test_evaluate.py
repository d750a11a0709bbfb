"""The evaluation harness end to end on tiny real-sequence tasks and a tiny model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnahlm_rag.evaluate import Cell, EvalConfig, cell_metrics, run_eval, TaskContext
from sft_fixtures import make_base_model, make_task_data


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval")
    data = make_task_data(root, n_train=60)
    model = make_base_model(root, n_ctx=256)
    return root, data, model


def _cfg(root: Path, model: Path, **kw) -> EvalConfig:
    base = dict(tasks=["gc", "half", "nextb"], ks=[1, 3], max_items=12, n_boot=50, batch_size=8,
                open_max_new_tokens=4, threads=1, base_model=str(model), sft_model=str(model),
                prompts_dir=str(root / "task_prompts"))
    base.update(kw)
    return EvalConfig(**base)


def test_eval_end_to_end_and_resume(setup, tmp_path):
    root, data, model = setup
    out = tmp_path / "eval"
    res = run_eval(data, out, _cfg(root, model), progress=False)
    for f in ("report.md", "results.json"):
        assert (out / f).is_file()
    assert any(p.suffix == ".png" for p in (out / "plots").iterdir())
    on_disk = json.loads((out / "results.json").read_text())
    gc = on_disk["tasks"]["gc"]
    names = set(gc["cells"])
    assert {"gc__majority", "gc__knn-k1", "gc__knn-k3", "gc__base-plain__seen", "gc__sft-plain__held-out",
            "gc__sft-rag-k3__seen", "gc__sft-rag-k1__seen", "gc__sft-rag-k3__held-out"} <= names
    # held-out wording only at the primary k; the untuned base model runs once
    assert "gc__sft-rag-k1__held-out" not in names and "gc__base-plain__held-out" not in names
    c = gc["cells"]["gc__sft-rag-k3__seen"]
    assert c["n"] == 12 and 0 <= c["accuracy"] <= 1 and c["accuracy_ci"][0] <= c["accuracy"] <= c["accuracy_ci"][1]
    assert 0 <= c["format_valid_rate"] <= 1 and "macro_f1_ci" in c and "mcc" in c
    assert gc["cells"]["gc__sft-plain__held-out"]["zero_shot"] == "phrasing"
    # the held-out task is zero-shot in every LM cell
    half = on_disk["tasks"]["half"]
    assert all(c["zero_shot"] == "task" for c in half["cells"].values() if c["mode"] in ("sft-plain", "sft-rag"))
    # open-text task: token F1 and exact match
    nx = on_disk["tasks"]["nextb"]["cells"]["nextb__sft-plain__seen"]
    assert "token_f1" in nx and "exact_match_ci" in nx
    # the best constant answer, chosen on valid, for the open task only
    const = on_disk["tasks"]["nextb"]["cells"]["nextb__constant"]
    assert const["chosen_on"] == "valid" and const["label"] == on_disk["tasks"]["nextb"]["constant_answer"]
    assert "gc__constant" not in names and "constant_answer" not in gc
    assert "best constant answer on valid" in (out / "report.md").read_text()
    kinds = {c["kind"] for c in gc["comparisons"]}
    assert {"rag_vs_plain", "rag_vs_knn", "sft_vs_base"} <= kinds
    assert set(gc["retrieval_recall_at_k"]) == {"1", "3"}
    assert len(on_disk["goals"]) == 3 and all(g["status"] in ("met", "not met", "not measured") for g in on_disk["goals"])
    report = (out / "report.md").read_text()
    assert "## Goals (measured)" in report and "Zero-shot cases" in report and "n = 12" in report
    # routing of the hand-written test questions: only those labelled none concern these made-up tasks
    rt = on_disk["routing"]
    assert set(rt["by_label"]) == {"none"} and rt["n"] == rt["by_label"]["none"]["n"] > 10
    assert rt["accuracy_ci"][0] <= rt["accuracy"] <= rt["accuracy_ci"][1] and "## Task routing" in report
    blind = rt["blind"]  # the blind questions' test split, reported first
    assert set(blind["by_label"]) == {"none"} and blind["n"] > 10
    assert report.index("questions_blind.jsonl: ") < report.index("questions.jsonl: ")
    # the majority baseline really is the train majority
    maj = gc["cells"]["gc__majority"]
    assert maj["label"] in ("GC-rich", "AT-rich")
    # resume: every cell comes back from the cache, with identical numbers
    res2 = run_eval(data, out, _cfg(root, model), progress=False)
    cells2 = res2["tasks"]["gc"]["cells"]
    assert all(c["cached"] for t in res2["tasks"].values() for c in t["cells"].values())
    assert cells2["gc__sft-rag-k3__seen"]["accuracy"] == c["accuracy"]
    # a changed setting (more items) recomputes
    res3 = run_eval(data, out, _cfg(root, model, tasks=["gc"], modes=["majority"], max_items=20), progress=False)
    assert not res3["tasks"]["gc"]["cells"]["gc__majority"]["cached"] and res3["tasks"]["gc"]["n"] == 20


def test_cell_key_follows_the_neighbours():
    """A cached cell is reused only for the same neighbours: a changed neighbour finder (another
    embedder version, refitted weights) at the same level must recompute it."""
    from dnahlm_rag.evaluate import cell_key

    train = [{"id": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(4)]
    tc = TaskContext(name="t", closed=True, labels=["a", "b"], question="q", spec={}, train=train,
                     items=[{"id": "x", "label": "a"}], neighbours=[[0, 1, 2]], majority="a", items_sha="s",
                     neighbour_level="site")
    cell, cfg = Cell("t", "knn", k=3), EvalConfig(ks=[3])
    key = cell_key(tc, cell, cfg, None)
    assert cell_key(tc, cell, cfg, None) == key
    tc.neighbours = [[0, 3, 2]]
    assert cell_key(tc, cell, cfg, None) != key


def test_blast_baseline(setup, tmp_path):
    import shutil

    if not shutil.which("blastn"):
        pytest.skip("blastn not installed")
    root, data, model = setup
    res = run_eval(data, tmp_path / "e", _cfg(root, model, tasks=["half"], modes=["blast", "majority"]), progress=False)
    c = res["tasks"]["half"]["cells"]["half__blast"]
    # test windows overlap train windows of the same genome: BLAST finds them and knows the half
    assert c["hit_rate"] > 0.5 and c["accuracy"] > res["tasks"]["half"]["cells"]["half__majority"]["accuracy"]


def test_missing_model_is_skipped(setup, tmp_path):
    root, data, _ = setup
    res = run_eval(data, tmp_path / "e", _cfg(root, tmp_path / "none", tasks=["gc"], modes=["majority", "sft-plain"]),
                   progress=False)
    assert list(res["tasks"]["gc"]["cells"]) == ["gc__majority"]
    assert any("no model" in s for s in res["skipped"])


def test_cell_metrics_closed():
    tc = TaskContext(name="t", closed=True, labels=["a", "b"], question="?", spec={}, train=[],
                     items=[{"id": str(i), "seq": "A", "label": lab} for i, lab in enumerate("aabb")],
                     neighbours=[], majority="a", items_sha="x")
    m, correct = cell_metrics(tc, ["a", "b", "b", "b"], n_boot=100, seed=0)
    assert correct == [True, False, True, True] and m["accuracy"] == 0.75
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert Cell("t", "sft-rag", 3, "seen").name == "t__sft-rag-k3__seen"


def test_cli_eval(setup, tmp_path):
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    root, data, model = setup
    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["eval", "--tasks", "gc", "--modes", "majority,knn,sft-rag", "--ks", "1",
                                 "--phrasings", "seen", "--data", str(data), "--out", str(out), "--max-items", "6",
                                 "--sft-model", str(model), "--prompts-dir", str(root / "task_prompts"),
                                 "--n-boot", "20", "--threads", "1", "--quiet", "--no-generate"])
    assert r.exit_code == 0, r.output
    assert "report:" in r.output and (out / "report.md").is_file()
    r = CliRunner().invoke(app, ["eval", "--tasks", "nope", "--data", str(data), "--out", str(out), "--quiet"])
    assert r.exit_code == 2 and "error:" in r.output
    junk = tmp_path / "junk"
    junk.write_text("x")
    for extra, message in ((["--modes", ""], "no systems"), (["--modes", "knn", "--ks", ""], "--ks is empty"),
                           (["--modes", "majority", "--out", str(junk)], "is a file, not a folder"),
                           (["--modes", "majority", "--seed", "-1"], "greater than or equal to 0"),
                           (["--modes", "majority", "--threads", "-1"], "greater than or equal to 0"),
                           (["--modes", "majority", "--task-items", "gc"], "TASK=N"),
                           (["--modes", "majority", "--task-items", "half=0"], "--task-items names 'half'")):
        args = ["eval", "--tasks", "gc", "--data", str(data), "--quiet", "--out", str(tmp_path / "bad")]
        r = CliRunner().invoke(app, args + extra)
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, (extra, r.output)
    r = CliRunner().invoke(app, ["eval", "--tasks", "gc", "--modes", "majority,sft-plain", "--data", str(data), "--quiet",
                                 "--out", str(tmp_path / "skip"), "--sft-model", str(tmp_path / "none"), "--max-items", "6",
                                 "--prompts-dir", str(root / "task_prompts"), "--n-boot", "20"])
    assert r.exit_code == 0 and "skipped: sft-plain" in r.output, r.output


def test_open_task_comparisons_test_token_f1():
    """Product-like cells: exact match ties, but A names more of each product's words (the task's
    metric), which the paired permutation test sees and the goals use."""
    from dnahlm_rag.evaluate import compare, judge_goals

    gold = [f"protein {i} kinase subunit alpha" for i in range(12)]

    def cell(system: str, mode: str, preds: list[str], k: int = 3) -> dict:
        from dnahlm_rag.metrics import token_f1

        return {"system": system, "mode": mode, "k": k, "phrasing": "seen", "accuracy": 0.0, "token_f1": token_f1(gold, preds),
                "items": [{"id": str(i), "gold": g, "pred": p, "correct": False} for i, (g, p) in enumerate(zip(gold, preds))]}

    rag = cell("sft-rag-mix-k3", "sft-rag-mix", [f"protein {i} kinase subunit" for i in range(12)])
    knn = cell("knn-k3", "knn", [f"kinase {i}" for i in range(12)])
    c = compare(rag, knn)
    assert c["p_value"] == 1.0 and c["difference"] == 0  # McNemar on exact match: nothing
    assert c["f1_differing"] == 12 and c["f1_difference"] > 0.3 and c["f1_p_value"] < 0.01
    res = {"tasks": {"product": {"comparisons": [{"kind": "rag_vs_knn", **c}], "cells": {}}}}
    goal = judge_goals(res, EvalConfig(ks=[3]))[1]
    assert goal["status"] == "met" and "product" in goal["evidence"]


def test_damaged_cell_is_recomputed_and_bad_out_or_mode_fail_before_any_work(setup, tmp_path):
    """A cell file that is a JSON list or not UTF-8 once gave a traceback; an --out under a file
    gave a NotADirectoryError; an unknown mode was found only after the first task's neighbours."""
    from dnahlm_rag.errors import DnaHlmError

    root, data, model = setup
    out = tmp_path / "e"
    cfg = _cfg(root, model, tasks=["gc"], modes=["majority"], routing=False)
    first = run_eval(data, out, cfg, progress=False)["tasks"]["gc"]["cells"]["gc__majority"]
    cell = out / "cells" / "gc__majority.json"
    for junk in (b"[1, 2]", b"\xff\xfe{\x00}\x00"):
        cell.write_bytes(junk)
        again = run_eval(data, out, cfg, progress=False)["tasks"]["gc"]["cells"]["gc__majority"]
        assert not again["cached"] and again["accuracy"] == first["accuracy"]
        assert json.loads(cell.read_text())["task"] == "gc"  # rewritten whole
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(DnaHlmError, match="afile is a file, not a folder"):
        run_eval(data, blocker / "sub", cfg, progress=False)
    with pytest.raises(DnaHlmError, match="unknown mode 'bogus'"):
        run_eval(data, out, _cfg(root, model, tasks=["nope"], modes=["majority", "bogus"]), progress=False)


def test_valid_split_is_evaluated_on_its_own_items_and_said_so(setup, tmp_path):
    """``--split valid`` compares designs without the test split: other items, and the report says which."""
    from dnahlm_rag.errors import DnaHlmError
    from dnahlm_rag.instruct import read_split

    root, data, model = setup
    cfg = _cfg(root, model, tasks=["gc"], modes=["majority", "knn"], routing=False, max_items=0)
    test = run_eval(data, tmp_path / "t", cfg, progress=False)["tasks"]["gc"]
    valid = run_eval(data, tmp_path / "v", _cfg(root, model, tasks=["gc"], modes=["majority", "knn"], routing=False,
                                                 max_items=0, split="valid"), progress=False)["tasks"]["gc"]
    assert valid["cells"]["gc__majority"]["n"] == len(read_split(data, "gc", "valid"))
    assert test["cells"]["gc__majority"]["n"] == len(read_split(data, "gc", "test"))
    assert "**valid split**" in (tmp_path / "v" / "report.md").read_text()
    assert "**valid split**" not in (tmp_path / "t" / "report.md").read_text()
    with pytest.raises(DnaHlmError, match="unknown split 'train'"):
        run_eval(data, tmp_path / "x", _cfg(root, model, split="train"), progress=False)


def test_task_items_override_max_items_per_task_and_the_report_says_so(setup, tmp_path):
    """A cheap task can be scored on its whole split while the others keep the sample."""
    from dnahlm_rag.errors import DnaHlmError
    from dnahlm_rag.instruct import read_split

    root, data, model = setup
    cfg = _cfg(root, model, tasks=["gc", "half"], modes=["majority"], routing=False, max_items=5,
               task_items={"gc": 0})
    res = run_eval(data, tmp_path / "e", cfg, progress=False)["tasks"]
    assert res["gc"]["cells"]["gc__majority"]["n"] == len(read_split(data, "gc", "test")) > 5
    assert res["half"]["cells"]["half__majority"]["n"] == 5
    assert "at most 5 per task (gc: all)" in (tmp_path / "e" / "report.md").read_text()
    with pytest.raises(DnaHlmError, match="--task-items names 'nextb'"):
        run_eval(data, tmp_path / "x", _cfg(root, model, tasks=["gc"], task_items={"nextb": 0}), progress=False)


def test_held_out_cells_ask_in_every_held_out_phrasing_and_edited_wordings_recompute(setup, tmp_path):
    """One held-out wording per cell made the unseen-wording figure hang on that wording; and the
    cell key did not see the wording's text, so an edited phrasing reused stale cells."""
    import shutil

    from dnahlm_rag.evaluate import cell_key, choose_phrasing, load_task, render_prompts

    root, data, model = setup
    prompts = tmp_path / "prompts"
    shutil.copytree(root / "task_prompts", prompts)
    gc = prompts / "gc.toml"
    gc.write_text(gc.read_text() + '\n[[phrasings]]\nid = "second"\ntext = "Base composition class?"\nheld_out = true\n')
    cfg = _cfg(root, model, tasks=["gc"], prompts_dir=str(prompts))
    tc = load_task(data, "gc", cfg)
    held = choose_phrasing(tc, "held-out", str(prompts))
    assert [p.id for p in held.texts] == ["unseen", "second"]
    assert held.zero_shot == "phrasing" and "+" in held.id
    seen = choose_phrasing(tc, "seen", str(prompts))
    assert len(seen.texts) == 1 and seen.texts[0].text == "{question}"
    from dnahlm_rag.generator import load_checkpoint
    from dnahlm_rag.instruct import PromptStyle

    lm = load_checkpoint(model, num_threads=1)
    out = render_prompts(tc, 0, held, lm, PromptStyle(), 4)
    assert "GC or AT rich?" in out[0] and "Base composition class?" in out[1] and "GC or AT rich?" in out[2]
    # a model tuned with a label hint is asked with it in plain cells, as it was tuned (not with neighbours)
    hinted = render_prompts(tc, 0, held, lm, PromptStyle(label_hint="Pick {labels}."), 4)
    assert "GC or AT rich? Pick GC-rich or AT-rich.\n" in hinted[0]
    assert "Pick" not in render_prompts(tc, 3, held, lm, PromptStyle(label_hint="Pick {labels}."), 4)[0]
    half = choose_phrasing(load_task(data, "half", cfg), "held-out", str(prompts))  # zero-shot task: every other phrasing
    assert half.zero_shot == "task" and len(half.texts) >= 1
    assert choose_phrasing(tc, "dev", str(prompts)) is None  # no dev wording: no dev cell
    gc.write_text(gc.read_text() + '\n[[phrasings]]\nid = "devw"\ntext = "Composition class?"\ndev = true\n')
    dev = choose_phrasing(tc, "dev", str(prompts))
    assert [p.id for p in dev.texts] == ["devw"] and dev.zero_shot == "phrasing"
    assert [p.id for p in choose_phrasing(tc, "held-out", str(prompts)).texts] == ["unseen", "second"]
    assert choose_phrasing(load_task(data, "half", cfg), "dev", str(prompts)) is None
    cell = Cell("gc", "sft-plain", 0, "held-out")
    key = cell_key(tc, cell, cfg, "m", 0.0, held)
    gc.write_text(gc.read_text().replace("Base composition class?", "Which base composition class?"))
    assert cell_key(tc, cell, cfg, "m", 0.0, choose_phrasing(tc, "held-out", str(prompts))) != key



def test_the_report_says_when_plain_prompts_carry_the_label_hint(setup, tmp_path):
    """A model tuned with a label hint is asked with it in its plain cells; the report says so
    (and a model without one says nothing), so a reader knows what `sft-plain` sent."""
    import shutil

    root, data, model = setup
    hinted = tmp_path / "hinted"
    shutil.copytree(model, hinted)
    meta = json.loads((hinted / "dnahlm.json").read_text())
    meta["prompt_style"] = {"label_hint": "Answer with one of {labels}."}
    (hinted / "dnahlm.json").write_text(json.dumps(meta))
    cfg = dict(tasks=["gc"], modes=["sft-plain"], phrasings=["held-out"], routing=False, max_items=4)
    res = run_eval(data, tmp_path / "h", _cfg(root, hinted, **cfg), progress=False)
    assert res["sft_label_hint"] == "Answer with one of {labels}."
    assert 'label hint "Answer with one of {labels}."' in (tmp_path / "h" / "report.md").read_text()
    run_eval(data, tmp_path / "p", _cfg(root, model, **cfg), progress=False)
    assert "label hint" not in (tmp_path / "p" / "report.md").read_text()
