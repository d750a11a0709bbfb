"""`dnahlm ask` / `dnahlm batch` / `dnahlm index build` through typer's CliRunner."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from dnahlm_rag.cli.app import app
from dnahlm_rag.retrieval_mix import DEFAULT_K

from rag_fixtures import cached_tiny_model, make_coding_segments, make_segments, make_task

torch.set_num_threads(1)
runner = CliRunner()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rows = make_segments(root / "data" / "segments.jsonl")
    make_task(root / "data", "feature_type")
    res = runner.invoke(app, ["index", "build", "--data", str(root / "data"), "--embedder", "kmer",
                              "--out-root", str(root / "indexes"), "--name", "seg"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["index", "build", "--data", str(root / "data"), "--embedder", "kmer",
                              "--out-root", str(root / "indexes"), "--task", "feature_type"])
    assert res.exit_code == 0, res.output
    return root, rows, str(cached_tiny_model())


def _ask(work, *args):
    root, _, model = work
    return runner.invoke(app, ["ask", *args, "--model", model, "--index", str(root / "indexes" / "seg")])


def test_ask_rag_prints_answer_then_neighbours(work) -> None:
    _, rows, _ = work
    train = [r for r in rows if r["split"] == "train"]
    res = _ask(work, "What is the product of this gene?", "--seq", train[0]["seq"], "-k", "2")
    assert res.exit_code == 0, res.output
    assert "neighbours (id, organism, type, product, similarity):" in res.output
    lines = res.output.split("neighbours")[1].strip().splitlines()[1:]
    assert len(lines) == 2 and lines[0].split("\t")[0].strip() == train[0]["id"]
    assert lines[0].split("\t")[-1] == "1.000"


def test_ask_all_n_retrieves_nothing_and_says_so(work) -> None:
    res = _ask(work, "What is the product of this gene?", "--seq", "NNNNNNNNNNRYKMNNNN", "-k", "2")
    assert res.exit_code == 0, res.output
    assert "no unambiguous base (A/C/G/T)" in res.output and "mixed in at weight" not in res.output
    assert "neighbours (id" not in res.output  # no neighbour list at all
    assert "(a guess: the sequence has no A/C/G/T, see the provenance)" in res.output


def test_ask_plain_from_fasta(work, tmp_path) -> None:
    fa = tmp_path / "q.fa"
    fa.write_text(">q1 query\nACGTAGCTAGCTAGCATCGA\nGGCATTACG\n")
    res = _ask(work, "What is this?", "--fasta", str(fa), "--mode", "plain")
    assert res.exit_code == 0, res.output
    assert "neighbours" not in res.output


@pytest.mark.parametrize("args, message", [
    (["--seq", "ACGTXQ"], "not DNA: character 'X' at position 4"),
    (["--seq", "  "], "is empty"),
    ([], "a question needs a sequence"),
])
def test_ask_bad_input_is_one_line_exit_2(work, args, message) -> None:
    res = _ask(work, "What is this?", *args)
    assert res.exit_code == 2
    err = res.stderr if hasattr(res, "stderr") else res.output
    assert message in err and err.strip().count("\n") == 0 and err.startswith("error: ")
    assert "Traceback" not in res.output


def test_a_sequence_pasted_into_the_question_is_used(work, tmp_path) -> None:
    _, rows, _ = work
    s = rows[0]["seq"][:60].lower()
    res = _ask(work, f"What is the product of {s}?", "-k", "1")
    assert res.exit_code == 0, res.output
    assert "note: took the 60-base sequence from the question; asking: 'What is the product of this sequence?'" in res.output
    assert rows[0]["id"] in res.output  # retrieval saw the pasted sequence
    res = _ask(work, "What is the product of ACGTAC?")
    assert res.exit_code == 2 and "or paste at least 20 bases into the question" in res.output
    inp = tmp_path / "q.jsonl"
    inp.write_text(json.dumps({"id": "a", "question": f"What is this? {s}"}) + "\n" + json.dumps({"id": "b", "question": "What?"}) + "\n")
    root, _, model = work
    res = runner.invoke(app, ["batch", str(inp), "--out", str(tmp_path / "o.jsonl"), "--model", model,
                              "--index", str(root / "indexes" / "seg"), "-k", "1"])
    got = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert res.exit_code == 0 and got[0]["error"] is None and got[0]["question"] == "What is this? this sequence"
    assert "no 'seq'" in got[1]["error"]


def test_batch_reads_genbank_features_and_reports_bad_records(work, tmp_path) -> None:
    """A GenBank file (gzipped here): one row per CDS with its annotated product as label; a
    malformed record and a record without CDS become error rows; the batch goes on."""
    import gzip

    from data_fixtures import BROKEN_RECORD, genbank_record

    root, _, model = work
    text = genbank_record() + BROKEN_RECORD + genbank_record("TEST0002", features="")
    gb = tmp_path / "genome.gbk.gz"
    gb.write_bytes(gzip.compress(text.encode()))
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(gb), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
                              "--question", "What does this encode?", "-k", "1"])
    assert res.exit_code == 0, res.output
    got = {g["id"]: g for g in map(json.loads, out.read_text().splitlines())}
    cds = [g for g in got.values() if ":CDS:" in g["id"]]
    assert len(cds) == 3 and not any(g["error"] for g in cds)  # the three CDS of the good record
    assert got["TEST0001.1:CDS:0-18:+"]["label"] == "test kinase"
    assert "no CDS feature" in got["TEST0002.1"]["error"]
    bad = [g for g in got.values() if g["id"].startswith("genome.gbk.gz record")]
    assert len(bad) == 1 and bad[0]["error"].startswith("malformed record:")
    res = runner.invoke(app, ["batch", str(gb), "--out", str(tmp_path / "t.jsonl"), "--model", model, "--index",
                              str(root / "indexes" / "seg"), "--question", "What?", "--features", "tRNA", "-k", "1"])
    rows = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert res.exit_code == 0 and [r["label"] for r in rows if not r["error"]] == ["tRNA-Gly"]


def test_ask_json_is_one_parseable_object(work, monkeypatch) -> None:
    root, rows, model = work
    monkeypatch.chdir(root)
    res = runner.invoke(app, ["ask", "What kind of genomic feature is this, a CDS, a tRNA or an rRNA?", "--seq",
                              rows[0]["seq"][:80], "--model", model, "-k", "2", "--mix", "1", "--json"])
    assert res.exit_code == 0, res.output
    line = [x for x in res.output.splitlines() if x.startswith("{")]
    got = json.loads(line[0])
    assert got["task"] == "feature_type" and got["route"].startswith("task: feature_type")
    assert got["answer"] in {"CDS", "tRNA", "rRNA"} and set(got["label_probs"]) == {"CDS", "tRNA", "rRNA"}
    assert len(got["neighbours"]) == 2 and got["neighbours"][0]["id"].startswith("train") and got["seq_len"] == 80


def test_routed_task_that_cannot_be_answered_fails_once_and_rows_say_so(work, tmp_path) -> None:
    """A routed task whose Answerer cannot be made (here: any) is tried once per batch; its rows
    carry the error and the routed task; a row whose question is not a string is an error row."""
    from dnahlm_rag.answer import AnswerConfig, RoutedAnswerer
    from dnahlm_rag.batch import run_batch
    from dnahlm_rag.errors import DnaHlmError
    from dnahlm_rag.task_router import Route

    class OneTask:
        def route_many(self, qs):
            return [Route("feature_type", 0.9, "w") for _ in qs]

    calls = []

    def make(task):
        calls.append(task)
        raise DnaHlmError("no index")

    _, rows, _ = work
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "seq": r["seq"][:40], "question": "What?"}) + "\n"
                           for i, r in enumerate(rows[:3])) + json.dumps({"id": "bad", "seq": "ACGT", "question": 5}) + "\n")
    counts = run_batch(RoutedAnswerer(OneTask(), make, AnswerConfig(batch_size=2)), inp, tmp_path / "o.jsonl", progress=False)
    got = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert calls == ["feature_type"] and counts["errors"] == 4
    assert all(g["task"] == "feature_type" and g["error"] == "cannot answer as task feature_type: no index" for g in got[:3])
    assert got[3]["id"] == "bad" and "'question' is not a string" in got[3]["error"]


def test_empty_question_is_one_line_before_any_routing(work) -> None:
    root, _, model = work
    res = runner.invoke(app, ["ask", "  ", "--seq", "ACGT", "--model", model, "--data", str(root / "data")])
    assert res.exit_code == 2 and res.output.strip() == "error: the question is empty"


def test_no_model_anywhere_says_which_command_builds_one(work, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["ask", "What?", "--seq", "ACGT", "--mode", "plain"])
    assert res.exit_code == 2 and "dnahlm pretrain" in res.output


def _batch_input(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_batch_records_bad_rows_and_resumes(work, tmp_path) -> None:
    root, rows, model = work
    inp = tmp_path / "in.jsonl"
    good = [{"id": f"q{i}", "seq": r["seq"], "label": r["type"]} for i, r in enumerate(rows[:5])]
    items = good[:2] + [{"id": "bad", "seq": "ACGT!!"}, {"id": "noseq", "question": "What?"}] + good[2:]
    _batch_input(inp, items)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(inp), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
            "--question", "What is the product of this gene?"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["id"] for g in got] == [x["id"] for x in items]
    errs = {g["id"]: g["error"] for g in got if g["error"]}
    assert set(errs) == {"bad", "noseq"} and "not DNA" in errs["bad"] and "needs a sequence" in errs["noseq"]
    assert all(isinstance(g["answer"], str) and len(g["neighbours"]) == DEFAULT_K for g in got if not g["error"])
    # an existing output is never silently overwritten
    assert runner.invoke(app, args).exit_code == 2
    # simulate an interruption: keep two answered rows and a torn line, then resume
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[4][:10])
    res = runner.invoke(app, args + ["--resume"])
    assert res.exit_code == 0, res.output
    assert "2 skipped" in res.output
    again = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(g["id"] for g in again) == sorted(x["id"] for x in items)
    # same seed, same output
    by_id = lambda rows: {g["id"]: g["answer"] for g in rows}  # noqa: E731
    assert by_id(again) == by_id(got)


def test_batch_fasta_with_task_labels(work, tmp_path) -> None:
    root, rows, model = work
    fa = tmp_path / "in.fasta"
    fa.write_text("".join(f">s{i}\n{r['seq'][:80]}\n" for i, r in enumerate(rows[:3])) + ">empty\n\n")
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(fa), "--out", str(out), "--model", model, "--task", "feature_type",
                              "--data", str(root / "data"), "--index", str(root / "indexes" / "feature_type")])
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(got) == 4 and got[3]["error"] and "empty" in got[3]["error"]
    assert got[0]["question"] == "What type of feature is this sequence?"
    assert {n["label"] for g in got[:3] for n in g["neighbours"]} <= {"CDS", "tRNA", "rRNA"}


def test_ask_with_a_task_snaps_to_its_labels_and_uses_its_finder(work) -> None:
    root, rows, model = work
    res = runner.invoke(app, ["ask", "What type of feature is this sequence?", "--seq", rows[0]["seq"][:80],
                              "--model", model, "--task", "feature_type", "--data", str(root / "data"), "-k", "2", "--mix", "1"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert lines[0] in {"CDS", "tRNA", "rRNA"}  # decoded with the neighbours' labels at full weight
    probs = dict(x.rsplit(" ", 1) for x in lines[1].removeprefix("label probabilities: ").split(", "))
    assert lines[1].startswith("label probabilities: ") and set(probs) == {"CDS", "tRNA", "rRNA"}
    assert abs(sum(map(float, probs.values())) - 1) < 0.02 and next(iter(probs)) == lines[0]
    shown = [x for x in lines if x.strip().startswith("train")]
    assert len(shown) == 2  # the task's train rows, found by its finder (no feature_type index is needed)
    assert any(x.startswith("neighbours (id, organism, label, ") for x in lines)  # rows with labels, not products
    assert all(x.split("\t")[2] in {"CDS", "tRNA", "rRNA", "intergenic"} for x in shown)
    res = runner.invoke(app, ["ask", "Q?", "--seq", "ACGT", "--model", model, "--task", "nosuch", "--data", str(root / "data")])
    assert res.exit_code == 2 and res.output.startswith("error: ")


def test_ask_routes_the_question_to_a_task_when_none_is_given(work, monkeypatch) -> None:
    """No --task and no --index: the question's wording picks the task (dnahlm_rag.task_router);
    only feature_type has data here, so a general question falls through to no task."""
    root, rows, model = work
    monkeypatch.chdir(root)
    res = runner.invoke(app, ["ask", "What kind of genomic feature is this, a CDS, a tRNA or an rRNA?", "--seq",
                              rows[0]["seq"][:80], "--model", model, "--data", "data", "-k", "2", "--mix", "1"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert lines[0].startswith("task: feature_type (from the question: nearest wording")
    assert lines[1] in {"CDS", "tRNA", "rRNA"}
    assert [x for x in lines if x.strip().startswith("train")]  # the task's train rows
    res = runner.invoke(app, ["ask", "What is the GC content of this sequence?", "--seq", rows[0]["seq"][:80],
                              "--model", model, "--data", "data", "--index", "seg", "-k", "1"])
    assert res.exit_code == 0 and "task:" not in res.output  # --index given: no routing
    res = runner.invoke(app, ["ask", "What is the GC content of this sequence?", "--seq", rows[0]["seq"][:80],
                              "--model", model, "--data", "nodata", "--mode", "plain"])
    assert res.exit_code == 0 and "task: none (cannot route: no task to route to: nodata/tasks has no task" in res.output


def test_ask_task_without_a_built_index_uses_its_train_rows(work, tmp_path, monkeypatch) -> None:
    root, rows, model = work
    make_task(tmp_path / "data", "other")
    (tmp_path / "indexes").mkdir()
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["ask", "Q?", "--seq", rows[0]["seq"][:80], "--model", model, "--task", "other", "-k", "2"])
    assert res.exit_code == 0, res.output
    assert "task:" not in res.output and len([x for x in res.output.splitlines() if x.strip().startswith("train")]) == 2


def test_batch_routes_each_row_by_its_question(work, tmp_path, monkeypatch) -> None:
    root, rows, model = work
    (tmp_path / "indexes").mkdir()
    (tmp_path / "indexes" / "segments").symlink_to(root / "indexes" / "seg")
    (tmp_path / "data").symlink_to(root / "data")
    monkeypatch.chdir(tmp_path)
    qs = ["What kind of genomic feature is this, a CDS, a tRNA or an rRNA?", "What is the GC content of this sequence?"]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "seq": r["seq"][:80], "question": qs[i % 2]}) + "\n"
                           for i, r in enumerate(rows[:4])))
    res = runner.invoke(app, ["batch", str(inp), "--out", "o.jsonl", "--model", model, "-k", "2", "--batch-size", "3", "--mix", "1"])
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [g["id"] for g in got] == ["r0", "r1", "r2", "r3"] and not any(g["error"] for g in got)
    assert [g["task"] for g in got] == ["feature_type", None, "feature_type", None]
    assert all(g["answer"] in {"CDS", "tRNA", "rRNA"} for g in got[::2])  # decoded in the routed task's labels
    assert all(n["id"].startswith("train") for g in got[::2] for n in g["neighbours"])  # its train rows
    assert all(not n["id"].startswith("train") for g in got[1::2] for n in g["neighbours"])  # the segments index
    assert "label_probs" not in got[0]
    res = runner.invoke(app, ["batch", str(inp), "--out", "o2.jsonl", "--model", model, "-k", "2", "--task", "none"])
    assert res.exit_code == 0 and all(json.loads(x)["task"] is None for x in (tmp_path / "o2.jsonl").read_text().splitlines())
    res = runner.invoke(app, ["batch", str(inp), "--out", "o3.jsonl", "--model", model, "-k", "2", "--probs", "--mix", "1"])
    got = [json.loads(x) for x in (tmp_path / "o3.jsonl").read_text().splitlines()]
    assert res.exit_code == 0 and set(got[0]["label_probs"]) == {"CDS", "tRNA", "rRNA"} and "label_probs" not in got[1]
    assert abs(sum(got[0]["label_probs"].values()) - 1) < 1e-3


def test_novelty_note_reaches_ask_and_batch_provenance(work, tmp_path) -> None:
    """The check is fitted on the task's valid rows (too few here for a threshold, so none); with a
    threshold no neighbour can reach, every answer carries the note, in ask's output and batch rows."""
    from dnahlm_rag.answer import AnswerConfig, Answerer
    from dnahlm_rag.batch import run_batch

    root, rows, model = work
    cfg = AnswerConfig(mode="rag", model_dir=model, index_dir=None, data_dir=str(root / "data"), task="feature_type",
                       novelty_data=str(root / "data"), mix=1.0)
    a = Answerer(cfg, ["CDS", "tRNA", "rRNA"])
    assert a.novelty is not None and a.novelty.thresholds == {} and sum(a.novelty.counts.values()) == 5
    assert not any("unlike" in p for p in a.ask("What type?", rows[0]["seq"][:80]).get("provenance", []))
    a.novelty.thresholds = {"dna": 2.0, "protein": 1e9}
    out = a.ask("What type?", rows[0]["seq"][:80])
    assert any(p.startswith("unlike the known sequences") for p in out["provenance"])
    fa = tmp_path / "in.fasta"
    fa.write_text(f">s0\n{rows[1]['seq'][:80]}\n")
    run_batch(a, fa, tmp_path / "o.jsonl", question="What type?", progress=False)
    row = json.loads((tmp_path / "o.jsonl").read_text())
    assert row["task"] == "feature_type" and any("unlike" in p for p in row["provenance"])


def test_a_closed_task_reserves_its_labels_budget_so_prompts_match_the_evaluation(work, monkeypatch) -> None:
    """`ask` reserved its open-answer limit (32 tokens) for a closed task too, so near a small
    model's context it dropped a neighbour from the prompt that `dnahlm eval` (which reserves the
    labels' length) kept, and answered other items differently."""
    from dnahlm_rag.answer import AnswerConfig, Answerer
    from dnahlm_rag.chain import PromptBuilder
    from dnahlm_rag.evaluate import EvalConfig, answer_budget, choose_phrasing, load_task, render_prompts
    from dnahlm_rag.instruct import PromptStyle, read_prompt_style
    from dnahlm_rag.scoring import label_answer_budget

    root, rows, model = work
    labels = ["CDS", "tRNA", "rRNA"]
    cfg = AnswerConfig(mode="rag", model_dir=model, index_dir=None, data_dir=str(root / "data"), task="feature_type",
                       max_new_tokens=32)
    a = Answerer(cfg, labels)
    tok = a.llm.loaded.tokenizer
    assert a.llm.max_new_tokens == label_answer_budget(tok, labels) < 32
    assert Answerer(AnswerConfig(mode="plain", model_dir=model, max_new_tokens=32)).llm.max_new_tokens == 32  # open
    # the same item and neighbours render the same prompt in ask and in the evaluation, also when
    # the prompt fills the context up to the labels' budget (then the open limit would drop a neighbour)
    tc = load_task(root / "data", "feature_type", EvalConfig(tasks=["feature_type"], ks=[3], max_items=1))
    lm = a.llm.loaded
    style = read_prompt_style(model) or PromptStyle()
    budget = answer_budget(tc, lm, 24)

    def prompts() -> tuple[str, str]:
        want = render_prompts(tc, 3, choose_phrasing(tc, "seen", ""), lm, style, budget)[0]
        docs = a.retriever.invoke(tc.items[0]["seq"])
        return want, PromptBuilder(a.llm, a.config.chain).render_rag(tc.question, tc.items[0]["seq"], docs)

    want, got = prompts()
    assert got == want and want.count("### Response") == 4  # 3 neighbours and the query
    # (the loaded model is cached for the whole process: monkeypatch puts its context back)
    monkeypatch.setattr(lm, "context", len(tok(want, add_special_tokens=False)["input_ids"]) + int(a.llm.prepend_bos) + budget)
    want, got = prompts()
    assert got == want and want.count("### Response") == 4
    a.llm.max_new_tokens = 32  # the old reserve: one neighbour less than the evaluation showed
    assert prompts()[1].count("### Response") == 3


def test_batch_task_without_index_uses_the_task_finder(work, tmp_path) -> None:
    """feature_type has no index folder of its own by default: batch retrieves the task's train rows
    through the neighbour finder tuning and eval use (dnahlm_rag.task_retriever)."""
    root, rows, model = work
    fa = tmp_path / "in.fasta"
    fa.write_text("".join(f">s{i}\n{r['seq'][:80]}\n" for i, r in enumerate(rows[:3])))
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(fa), "--out", str(out), "--model", model, "--task", "feature_type",
                              "--data", str(root / "data"), "-k", "3"])
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(got) == 3 and all(len(g["neighbours"]) == 3 for g in got)
    assert all(n["id"].startswith("train") and n["label"] in {"CDS", "tRNA", "rRNA"} for g in got for n in g["neighbours"])


# ---- protein index beside the segments index: fused retrieval in ask / batch ----------------
@pytest.fixture(scope="module")
def protein_work(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-protein")
    rows = make_coding_segments(root / "data" / "segments.jsonl")
    make_task(root / "data", "feature_type")
    base = ["index", "build", "--data", str(root / "data"), "--out-root", str(root / "indexes")]
    for extra in (["--embedder", "kmer"], ["--embedder", "protein"]):
        res = runner.invoke(app, base + extra)
        assert res.exit_code == 0, res.output
    return root, rows, str(cached_tiny_model())


def _ask_p(protein_work, *args):
    root, _, model = protein_work
    return runner.invoke(app, ["ask", "What is the product of this gene?", *args, "--model", model,
                               "--index", str(root / "indexes" / "segments")])


def _neighbour_lines(output: str) -> list[list[str]]:
    return [x.strip().split("\t") for x in output.split("similarity):")[1].strip().splitlines()
            if not x.strip().startswith("(E: ")]  # the footnote on E-values


def test_index_build_protein_writes_proteins(protein_work) -> None:
    root, rows, _ = protein_work
    m = json.loads((root / "indexes" / "proteins" / "manifest.json").read_text())
    assert m["level"] == "protein" and m["embedder"]["name"] == "protein"
    assert m["count"] == sum(r["type"] == "CDS" and r["split"] == "train" for r in rows)
    res = runner.invoke(app, ["index", "build", "--data", str(root / "data"), "--embedder", "protein",
                              "--task", "feature_type", "--out-root", str(root / "indexes")])
    assert res.exit_code == 2 and res.output.startswith("error: ") and "drop --task" in res.output
    assert res.output.strip().count("\n") == 0


def test_ask_shows_protein_level_and_frame(protein_work) -> None:
    from dnahlm_rag.seq import reverse_complement

    _, rows, _ = protein_work
    cds = next(r for r in rows if r["type"] == "CDS" and r["split"] == "train")
    res = _ask_p(protein_work, "--seq", reverse_complement(cds["seq"]), "-k", "2")
    assert res.exit_code == 0, res.output
    assert "provenance:\n  protein level searched with" in res.output
    assert "neighbours (id, organism, type, product, level, similarity):" in res.output
    top = _neighbour_lines(res.output)[0]
    assert top[0] == cds["id"] and top[-2] == f"protein -1/f0 0-{len(cds['seq'])}"
    assert top[-1].startswith("E=") and float(top[-1][2:]) < 1e-50  # the protein hit's E-value


def test_ask_non_coding_is_dna_level_only(protein_work) -> None:
    _, rows, _ = protein_work
    nc = next(r for r in rows if r["type"] != "CDS" and r["split"] == "train")
    res = _ask_p(protein_work, "--seq", nc["seq"], "-k", "2")
    assert res.exit_code == 0, res.output
    assert "DNA level only: no open reading frame of at least 30 codons" in res.output
    lines = _neighbour_lines(res.output)
    assert lines[0][0] == nc["id"] and {x[-2] for x in lines} == {"dna"}


def test_ask_protein_index_off_and_missing(protein_work) -> None:
    _, rows, _ = protein_work
    res = _ask_p(protein_work, "--seq", rows[0]["seq"], "--protein-index", "off")
    assert res.exit_code == 0 and "protein level" not in res.output and "ORF" not in res.output
    assert "neighbours (id, organism, type, product, similarity):" in res.output
    res = _ask_p(protein_work, "--seq", rows[0]["seq"], "--protein-index", "/nonexistent/proteins")
    assert res.exit_code == 2 and res.output.startswith("error: no protein index at /nonexistent/proteins")
    assert res.output.strip().count("\n") == 0


def test_batch_uses_the_fused_retriever(protein_work, tmp_path) -> None:
    root, rows, model = protein_work
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">r{i}\n{r['seq']}\n" for i, r in enumerate(rows[:4])) + ">amb\nATGNNNNNNNNN\n")
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(fa), "--out", str(out), "--model", model, "--question", "What is it?",
                              "--index", str(root / "indexes" / "segments")])
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(got) == 5 and not any(g["error"] for g in got)
    cds_rows = [i for i, r in enumerate(rows[:4]) if r["type"] == "CDS"]
    assert got[cds_rows[0]]["neighbours"][0]["id"] == rows[cds_rows[0]]["id"]
    top = got[cds_rows[0]]["neighbours"][0]
    assert top["evalue"] < 1e-20 and top["level"] == "protein"  # a protein hit carries its E-value
    assert top["evalue"] >= top["evalue_pair"]  # over the whole index, and the pair's
    assert got[cds_rows[0]]["significant_protein_hit"] is True and "significant_protein_hit" not in got[-1]


def test_batch_rows_sharing_an_id_each_get_their_own_row_also_after_resume(work, tmp_path) -> None:
    root, rows, model = work
    train = [r for r in rows if r["split"] == "train"]
    inp, out = tmp_path / "dup.jsonl", tmp_path / "dup.out.jsonl"
    items = [{"id": "dup", "seq": train[0]["seq"]}, {"id": "dup", "seq": train[1]["seq"]}, {"id": "dup", "seq": "MKLP"},
             {"id": "other", "seq": train[2]["seq"]}]
    _batch_input(inp, items)
    args = ["batch", str(inp), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
            "--question", "What is the product of this gene?", "-k", "1", "--batch-size", "4"]
    assert runner.invoke(app, args).exit_code == 0
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["dup", "dup", "dup", "other"]
    assert got[0]["error"] is None and got[0]["neighbours"][0]["id"] == train[0]["id"]  # its own answer, not another row's
    assert all("duplicate id 'dup'" in g["error"] for g in got[1:3]) and got[3]["neighbours"][0]["id"] == train[2]["id"]
    out.write_text(out.read_text().splitlines()[0] + "\n")  # interrupted after the first row
    res = runner.invoke(app, args + ["--resume"])
    assert res.exit_code == 0 and "1 skipped" in res.output, res.output
    again = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(again) == 4 and sum(bool(g["error"]) for g in again) == 2  # one output row per input row


def test_batch_refuses_paths_that_would_lose_work_before_loading_anything(work, tmp_path) -> None:
    fa = tmp_path / "in.fa"
    fa.write_text(">a\nACGTACGTAC\n")
    other = tmp_path / "other.fa"
    other.write_text(">b\nACGT\n")
    base = ["batch", str(fa), "--model", str(tmp_path / "no-model"), "--question", "Q?"]  # never loaded
    cases = [(["--out", str(fa), "--force"], "is the input file"),
             (["--out", str(other), "--resume", "--force"], "give one of them"),
             (["--out", str(other), "--resume"], "not a row of a `dnahlm batch` output"),
             (["--out", str(tmp_path)], "is a folder"),
             (["--out", str(fa / "x.jsonl")], "is a file, not a folder")]
    for extra, message in cases:
        res = runner.invoke(app, base + extra)
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output, (extra, res.output)
    assert fa.read_text() == ">a\nACGTACGTAC\n" and other.read_text() == ">b\nACGT\n"  # untouched
    res = runner.invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--question", "Q?"])
    assert res.exit_code == 2 and "is a folder" in res.output
    gb = tmp_path / "in.gbk"
    gb.write_text("LOCUS       X\n//\n")
    for features, message in (("gene", "features are not read"), (" , ", "--features is empty")):
        res = runner.invoke(app, ["batch", str(gb), "--model", str(tmp_path / "no-model"), "--question", "Q?",
                                  "--out", str(tmp_path / "f.jsonl"), "--features", features])
        assert res.exit_code == 2 and message in res.output, res.output
    note = tmp_path / "notes.txt"  # one line, no JSON: not the torn last line of a batch output
    note.write_text("my precious one-line note")
    res = runner.invoke(app, base + ["--out", str(note), "--resume"])
    assert res.exit_code == 2 and "not a row of a `dnahlm batch` output" in res.output
    assert note.read_text() == "my precious one-line note"


def test_batch_input_encodings_bom_crlf_and_json_line_separators(work, tmp_path) -> None:
    from dnahlm_rag.inputs import read_inputs

    _, rows, _ = work
    seq = rows[0]["seq"][:60]
    jl = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": "a", "seq": seq}), json.dumps({"id": "b", "seq": seq, "question": "what\u2028is\u0085this?"},
                                                           ensure_ascii=False), json.dumps({"id": "c", "seq": 5})]
    jl.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    got = read_inputs(jl)
    assert [r.id for r in got] == ["a", "b", "c"] and got[0].error is None and got[1].question == "what\u2028is\u0085this?"
    assert "'seq' is a int, not a string" in got[2].error
    fa = tmp_path / "in.fa"
    fa.write_bytes(b"\xef\xbb\xbf>x desc\r\nACGT\r\nACGT\r\n")
    assert [(r.id, r.seq) for r in read_inputs(fa)] == [("x", "ACGTACGT")]


def test_unreadable_genbank_is_one_line_and_an_unterminated_record_keeps_the_next(work, tmp_path) -> None:
    import gzip

    from data_fixtures import genbank_record

    from dnahlm_rag.inputs import read_inputs
    from dnahlm_rag.errors import DnaHlmError

    bad = tmp_path / "corrupt.gbk"
    bad.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DnaHlmError, match="cannot read it"):
        read_inputs(bad)
    cut = tmp_path / "cut.gbk.gz"
    whole = gzip.compress((genbank_record() * 20).encode())
    cut.write_bytes(whole[:300])
    with pytest.raises(DnaHlmError, match="cannot read it"):
        read_inputs(cut)
    cut.write_bytes(whole[:40] + bytes(b ^ 0xFF for b in whole[40:80]) + whole[80:])  # corrupt deflate data
    with pytest.raises(DnaHlmError, match="cannot read it"):
        read_inputs(cut)
    bom = tmp_path / "bom.gbk"
    bom.write_bytes(b"\xef\xbb\xbf" + genbank_record().encode())
    assert len(read_inputs(bom)) == 3 and not any(r.error for r in read_inputs(bom))
    first = genbank_record().replace("\n//\n", "\n")  # the first record lost its end line
    assert "//" not in first
    gb = tmp_path / "two.gbk"
    gb.write_text(first + genbank_record("TEST0002"))
    got = read_inputs(gb)  # both read, each with its own features (the first no longer swallows the second)
    assert not any(r.error for r in got)
    assert sorted(r.id.split(":")[0] for r in got) == ["TEST0001.1"] * 3 + ["TEST0002.1"] * 3
    headless = first[:first.index("ORIGIN")]  # no sequence and no end line: malformed, reported alone
    gb.write_text(headless + genbank_record("TEST0002"))
    got = read_inputs(gb)
    assert [r.error.split(":")[0] for r in got if r.error] == ["malformed record"]
    assert [r.id.split(":")[0] for r in got if r.error is None] == ["TEST0002.1"] * 3


def test_closed_task_answers_are_labels_even_when_the_model_generates_none(work, tmp_path) -> None:
    """Plain mode with a random tiny model generates arbitrary text: the answer becomes the most
    probable label by label scoring, and the provenance says so."""
    root, rows, model = work
    fa = tmp_path / "in.fasta"
    fa.write_text("".join(f">s{i}\n{r['seq'][:80]}\n" for i, r in enumerate(rows[:3])))
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(fa), "--out", str(out), "--model", model, "--task", "feature_type",
                              "--data", str(root / "data"), "--mode", "plain", "--max-new-tokens", "4"])
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert all(g["answer"] in {"CDS", "tRNA", "rRNA"} and "label_probs" not in g for g in got)
    snapped = [g for g in got if any("none of the task's labels" in p for p in g.get("provenance", []))]
    assert snapped, "a random model should generate a non-label at least once"


def test_a_cut_prompt_and_an_ignored_pasted_sequence_are_said(work, tmp_path) -> None:
    _, rows, _ = work
    long = (rows[0]["seq"] * 10)[:1000]
    res = _ask(work, f"Is {rows[1]['seq'][:30]} a gene?", "--seq", long, "-k", "1")
    assert res.exit_code == 0, res.output
    assert "the question holds a 30-base sequence too; answering about the one of --seq" in res.output
    assert "retrieval used all 1000 bases; the model's prompt shows the first 240" in res.output
    fa = tmp_path / "long.fa"
    fa.write_text(f">long\n{long}\n")
    out = tmp_path / "o.jsonl"
    root, _, model = work
    res = runner.invoke(app, ["batch", str(fa), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
                              "--question", "What is this?", "-k", "1"])
    assert res.exit_code == 0, res.output
    row = json.loads(out.read_text())
    assert any("the model's prompt shows the first 240" in p for p in row["provenance"])


def test_plain_mode_says_it_ignores_mix(work) -> None:
    _, rows, _ = work
    res = _ask(work, "What is this?", "--seq", rows[0]["seq"][:60], "--mode", "plain", "--mix", "0.5")
    assert res.exit_code == 0 and "--mix applies to rag mode only" in res.output, res.output


def test_rna_input_is_read_as_dna_and_says_so(work, tmp_path) -> None:
    root, rows, model = work
    rna = rows[0]["seq"][:60].replace("T", "U").lower()
    res = _ask(work, "What is this?", "--seq", rna, "-k", "1")
    assert res.exit_code == 0 and "the sequence holds U (RNA): read as DNA, U as T" in res.output, res.output
    jl = tmp_path / "in.jsonl"
    _batch_input(jl, [{"id": "r", "seq": rna}, {"id": "d", "seq": rows[0]["seq"][:60]}])
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(jl), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
                              "--question", "What is this?", "-k", "1"])
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert res.exit_code == 0 and "read as DNA, U as T" in " ".join(got[0].get("provenance", []))
    assert "U as T" not in " ".join(got[1].get("provenance", []))
    assert got[0]["neighbours"] == got[1]["neighbours"]  # the same sequence, once as RNA


def test_rna_pasted_into_the_question_says_so_in_ask_and_batch(work, tmp_path) -> None:
    """A pasted RNA sequence gets the same "U read as T" provenance line as one given with --seq."""
    root, rows, model = work
    dna = rows[0]["seq"][:60]
    rna = dna.replace("T", "U").lower()
    res = _ask(work, f"What is {rna}?", "-k", "1")
    assert res.exit_code == 0 and "note: took the 60-base sequence from the question" in res.output, res.output
    assert "the sequence holds U (RNA): read as DNA, U as T" in res.output
    jl = tmp_path / "in.jsonl"
    _batch_input(jl, [{"id": "r", "question": f"What is {rna}?"}, {"id": "d", "question": f"What is {dna}?"}])
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(jl), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
                              "-k", "1"])
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert res.exit_code == 0 and [g["error"] for g in got] == [None, None], res.output
    assert "the sequence holds U (RNA): read as DNA, U as T" in got[0].get("provenance", [])
    assert "U as T" not in " ".join(got[1].get("provenance", []))
    assert got[0]["neighbours"] == got[1]["neighbours"]  # the same sequence, once as RNA


def test_batch_row_with_seq_and_a_pasted_sequence_says_the_pasted_one_is_ignored(work, tmp_path) -> None:
    """As ``ask`` notes for --seq, a batch row answers about its 'seq' and its provenance says the
    sequence pasted into its question was ignored (the same wording)."""
    from dnahlm_rag.inputs import read_inputs

    root, rows, model = work
    jl = tmp_path / "in.jsonl"
    _batch_input(jl, [{"id": "both", "seq": rows[0]["seq"][:60], "question": f"Is {rows[1]['seq'][:30]} a gene?"},
                      {"id": "seq", "seq": rows[0]["seq"][:60], "question": "Is this a gene?"}])
    note = "the question holds a 30-base sequence too; answering about the one of 'seq' (the pasted one is ignored)"
    assert [r.notes for r in read_inputs(jl)] == [[note], []]
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(jl), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
                              "-k", "1"])
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert res.exit_code == 0 and [g["error"] for g in got] == [None, None], res.output
    assert note in got[0]["provenance"] and note not in got[1].get("provenance", [])
    assert got[0]["question"] == f"Is {rows[1]['seq'][:30]} a gene?"  # the question is kept as asked
    assert got[0]["neighbours"] == got[1]["neighbours"]  # answered about 'seq'


def test_an_input_that_is_no_regular_file_says_so_not_not_found(work, tmp_path) -> None:
    """/dev/null, a named pipe: one line saying what the input is, before any model loads (a named
    pipe is never opened, so this cannot hang)."""
    import os

    no_model = ["--model", str(tmp_path / "no-model"), "--question", "Q?"]
    res = runner.invoke(app, ["ask", "What is this?", "--fasta", "/dev/null", "--model", str(tmp_path / "no-model")])
    assert res.exit_code == 2 and res.output == "error: /dev/null is not a regular file but a device: give a file that holds the input\n", res.output
    res = runner.invoke(app, ["batch", "/dev/null", "--out", str(tmp_path / "o.jsonl"), *no_model])
    assert res.exit_code == 2 and "error: /dev/null is not a regular file but a device" in res.output, res.output
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "in.fa"
        os.mkfifo(fifo)
        res = runner.invoke(app, ["batch", str(fifo), "--out", str(tmp_path / "o.jsonl"), *no_model])
        assert res.exit_code == 2 and f"error: {fifo} is not a regular file but a named pipe (FIFO)" in res.output, res.output
    res = runner.invoke(app, ["batch", str(tmp_path / "missing.fa"), "--out", str(tmp_path / "o.jsonl"), *no_model])
    assert res.exit_code == 2 and "input file" in res.output and "not found" in res.output


@pytest.mark.parametrize("encoding, head, message", [
    ("utf-16-le", b"\xff\xfe", "is UTF-16 text: save it as UTF-8 or ASCII"),  # Windows Notepad's "Unicode"
    ("utf-16-be", b"\xfe\xff", "is UTF-16 text: save it as UTF-8 or ASCII"),
    ("utf-32-le", b"\xff\xfe\x00\x00", "is UTF-32 text: save it as UTF-8 or ASCII"),
    ("utf-16-le", b"", "holds NUL bytes (UTF-16 or UTF-32 text, or not text at all): save it as UTF-8 or ASCII"),
])
def test_utf16_and_utf32_input_files_are_one_line_errors(work, tmp_path, encoding, head, message) -> None:
    """A wide-encoded FASTA or JSONL file is named as such, not misread as FASTA without a header."""
    from dnahlm_rag.inputs import read_inputs, read_single_fasta
    from dnahlm_rag.errors import DnaHlmError

    fa, jl = tmp_path / "q.fa", tmp_path / "q.jsonl"
    fa.write_bytes(head + ">q1\r\nACGTACGTACGTACGTACGTAC\r\n".encode(encoding))
    jl.write_bytes(head + (json.dumps({"id": "a", "seq": "ACGT"}) + "\n").encode(encoding))
    for path, read in ((fa, read_single_fasta), (fa, read_inputs), (jl, read_inputs)):
        with pytest.raises(DnaHlmError, match=f"^{path} " + message.replace("(", r"\(").replace(")", r"\)")):
            read(path)
    res = _ask(work, "What is this?", "--fasta", str(fa))
    assert res.exit_code == 2 and res.output.count("\n") == 1 and message in res.output, res.output


def test_batch_survives_surrogates_deep_json_and_concatenated_boms(work, tmp_path) -> None:
    root, rows, model = work
    seq = rows[0]["seq"][:60]
    jl = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": "surr", "seq": seq, "question": "Is this a gene? \ud800"}),
             json.dumps({"id": "surr\udc80id", "seq": seq, "label": "x\ud800"}),
             "[" * 100000 + "]" * 100000, json.dumps({"id": "ok", "seq": seq})]
    jl.write_text("\n".join(lines) + "\n\ufeff" + json.dumps({"id": "after_bom", "seq": seq}) + "\n")
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(jl), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
                              "--question", "What is this?", "-k", "1"])
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["surr", "surr\ufffd\ufffd\ufffdid", "line3", "ok", "after_bom"]  # surrogates replaced
    assert [bool(g["error"]) for g in got] == [False, False, True, False, False] and "not a JSON object" in got[2]["error"]
    res = runner.invoke(app, ["batch", str(jl), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg"),
                              "--question", "What is this?", "-k", "1", "--resume"])
    assert res.exit_code == 0 and "4 skipped" in res.output, res.output


def test_an_output_that_cannot_be_written_is_one_line(work, tmp_path) -> None:
    root, rows, model = work
    fa = tmp_path / "in.fa"
    fa.write_text(f">a\n{rows[0]['seq'][:60]}\n")
    res = runner.invoke(app, ["batch", str(fa), "--out", "/dev/full", "--force", "--model", model, "--index",
                              str(root / "indexes" / "seg"), "--question", "Q?", "-k", "1"])
    assert res.exit_code == 2 and "\nerror: cannot write /dev/full (No space left on device)" in res.output and "Traceback" not in res.output
    import os

    link = tmp_path / "hard.jsonl"
    os.link(fa, link)
    res = runner.invoke(app, ["batch", str(fa), "--out", str(link), "--force", "--question", "Q?"])
    assert res.exit_code == 2 and "is the input file" in res.output and fa.read_text().startswith(">a")


def test_a_truncated_checkpoint_and_a_tiny_temperature_are_handled(work, tmp_path) -> None:
    import shutil

    _, rows, model = work
    bad = tmp_path / "badmodel"
    shutil.copytree(model, bad)
    (bad / "model.safetensors").write_bytes((bad / "model.safetensors").read_bytes()[:1000])
    res = runner.invoke(app, ["ask", "Q?", "--seq", rows[0]["seq"][:60], "--model", str(bad), "--mode", "plain"])
    assert res.exit_code == 2 and "cannot load the checkpoint" in res.output and "Traceback" not in res.output, res.output
    res = _ask(work, "Q?", "--seq", rows[0]["seq"][:60], "--temperature", "1e-300", "-k", "1")
    assert res.exit_code == 0, res.output  # was: probability tensor contains inf or nan


def test_a_prompt_longer_than_the_context_says_it_was_cut(work) -> None:
    _, rows, _ = work
    long_q = "Is this a gene? " + "Please consider the biology carefully. " * 120
    res = _ask(work, long_q, "--seq", rows[0]["seq"][:60], "-k", "1", "--json")
    assert res.exit_code == 0, res.output
    prov = json.loads(res.output.strip().splitlines()[-1])["provenance"]
    assert any("were cut, so the model did not see all of the instruction" in p for p in prov), prov
    res = _ask(work, "Is this a gene?", "--seq", rows[0]["seq"][:60], "-k", "1", "--json")
    assert not any("were cut" in p for p in json.loads(res.output.strip().splitlines()[-1])["provenance"])


def test_genetic_code_is_checked_first_and_said_unused_without_a_protein_level(work, tmp_path) -> None:
    root, rows, model = work
    res = _ask(work, "What is this?", "--seq", rows[0]["seq"][:60], "--genetic-code", "7")
    assert res.exit_code == 2 and res.output.strip().startswith("error: unknown genetic code table 7;"), res.output
    fa = tmp_path / "q.fa"
    fa.write_text(">q\n" + rows[0]["seq"][:60] + "\n")
    res = runner.invoke(app, ["batch", str(fa), "--out", str(tmp_path / "o.jsonl"), "--genetic-code", "0"])
    assert res.exit_code == 2 and "unknown genetic code table 0" in res.output and not (tmp_path / "o.jsonl").exists()
    # the "seg" index has no proteins index beside it: nothing reads ORFs with the code asked for
    res = _ask(work, "What is this?", "--seq", rows[0]["seq"][:60], "--genetic-code", "2", "-k", "1")
    assert res.exit_code == 0 and "genetic code 2 not used: this index has no protein level" in res.output, res.output
    res = _ask(work, "What is this?", "--seq", rows[0]["seq"][:60], "-k", "1")
    assert "genetic code" not in res.output


def test_yes_no_and_sequence_facts() -> None:
    from dnahlm_rag.answer import sequence_facts, yes_no

    labels = ["donor", "acceptor", "neither"]
    assert yes_no("Is this a splice donor?", "acceptor", labels) == "no"
    assert yes_no("could this be an ACCEPTOR site", "acceptor", labels) == "yes"
    assert yes_no("Is this a donor or an acceptor?", "donor", labels) is None  # two labels named: not yes/no
    assert yes_no("Which splice site is this?", "donor", labels) is None  # not a yes/no question
    assert yes_no("Is this a promoter?", "non-promoter", ["promoter", "non-promoter"]) == "no"
    assert yes_no("Is this a promoter?", "promoter", ["promoter", "non-promoter"]) == "yes"
    assert yes_no("Is this a tRNA?", "tRNA", None) is None
    assert yes_no("Is this not a splice donor?", "donor", labels) is None  # negated: a plain yes would mislead
    assert yes_no("Isn't this an acceptor?", "donor", labels) is None
    aa = ["Ala", "Gly", "Leu", "Asp"]
    assert yes_no("Is this a leucine tRNA?", "Leu", aa) == "yes" and yes_no("Does it carry glycine?", "Ala", aa) == "no"
    assert yes_no("Is this tRNA for aspartic acid?", "Asp", aa) == "yes"
    assert yes_no("Is this Leu or glycine?", "Leu", aa) is None  # two labels named
    assert sequence_facts("GGCCAATT") == "sequence: 8 bases, GC 50.0%"
    assert sequence_facts("GGNNAT") == "sequence: 6 bases, GC 50.0% (2 ambiguous bases not counted)"
    assert sequence_facts("NNN") == "sequence: 3 bases, none of them A/C/G/T"


def test_ask_says_yes_or_no_and_batch_rows_carry_it(work, tmp_path, monkeypatch) -> None:
    root, rows, model = work
    monkeypatch.chdir(root)
    seq = rows[0]["seq"][:80]
    res = runner.invoke(app, ["ask", "Is this a tRNA?", "--seq", seq, "--model", model, "--task", "feature_type",
                              "-k", "2", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads([x for x in res.output.splitlines() if x.startswith("{")][0])
    assert got["yes_no"] == ("yes" if got["answer"] == "tRNA" else "no")
    assert f"sequence: {len(seq)} bases, GC" in got["provenance"][-1]
    inp = tmp_path / "in.jsonl"
    _batch_input(inp, [{"id": "a", "seq": seq, "question": "Is this a tRNA?"}, {"id": "b", "seq": seq}])
    res = runner.invoke(app, ["batch", str(inp), "--out", str(tmp_path / "o.jsonl"), "--model", model, "--task",
                              "feature_type", "-k", "2"])
    assert res.exit_code == 0, res.output
    a, b = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert a["yes_no"] in ("yes", "no") and "yes_no" not in b and isinstance(b["provenance"], list)


def test_batch_needs_a_question_for_fasta_and_fails_when_every_row_fails(work, tmp_path) -> None:
    root, rows, model = work
    fa = tmp_path / "in.fa"
    fa.write_text(">a\nACGTACGTAC\n")
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["batch", str(fa), "--out", str(out), "--model", model])
    assert res.exit_code == 2 and "carry no question" in res.output and not out.exists()  # before any model loads
    inp = tmp_path / "in.jsonl"
    _batch_input(inp, [{"id": "x", "seq": "ACGT!!", "question": "What?"}, {"id": "y", "question": "What?"}])
    res = runner.invoke(app, ["batch", str(inp), "--out", str(out), "--model", model, "--index", str(root / "indexes" / "seg")])
    assert res.exit_code == 2 and "every row of" in res.output
    assert [json.loads(x)["error"] is not None for x in out.read_text().splitlines()] == [True, True]  # rows kept


def test_answers_stopped_by_the_token_limit_are_marked() -> None:
    """An open answer whose generation stopped at max_new_tokens (finish_reason "length") gets
    ``truncated`` and a provenance line; one ended by end of text or a stop string does not,
    however long."""
    from dnahlm_rag.answer import AnswerConfig, Answerer

    from types import SimpleNamespace

    a = Answerer.__new__(Answerer)
    a.config = AnswerConfig(max_new_tokens=5)
    a.llm = SimpleNamespace(max_new_tokens=5)
    outs = [{"answer": "DNA polymerase III", "finish_reason": "length"},
            {"answer": "DNA polymerase III subunit alpha", "finish_reason": "eos"},
            {"answer": "A", "finish_reason": "stop"}, {"answer": None}]
    a._note_long_answers(outs)
    assert outs[0]["truncated"] is True and "limit of 5 tokens" in outs[0]["provenance"][0]
    assert all("truncated" not in o and "provenance" not in o for o in outs[1:])


def test_ask_marks_an_answer_from_chance_protein_hits_on_its_own_line(protein_work) -> None:
    import random

    from rag_fixtures import random_cds

    res = _ask_p(protein_work, "--seq", random_cds(random.Random(11), 80), "-k", "2")
    assert res.exit_code == 0, res.output
    first = res.output.strip().splitlines()[0]
    assert first.endswith("(a guess: no significant protein hit, see the provenance)")
    assert "no significant protein hit: the best, E = " in res.output
