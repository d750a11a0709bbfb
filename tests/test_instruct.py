"""Instruction data: phrasings (held out, placeholders), Alpaca records, neighbours, prompt rendering."""
from __future__ import annotations

import json

import pytest

from dnahlm_rag.errors import DnaHlmError, RecipeError
from dnahlm_rag.instruct import (InstructRecipe, PromptRenderer, PromptStyle, TrainNeighbours, build_instruct,
                                 load_instruct_recipe, load_task_prompts, read_instruct, read_task)
from dnahlm_rag.prompts import load_prompt

from sft_fixtures import make_task_data

SHIPPED = ["splice", "promoter", "trna_aa", "feature_type", "genus_16s", "product", "next_kmer"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("instruct")
    data = make_task_data(root)
    recipe = InstructRecipe(tasks=["gc", "half", "nextb"], max_per_task=200, max_repeats=2, valid_per_task=20,
                            rag_share=0.5, k=3, prompts_dir=str(root / "task_prompts"))
    m = build_instruct(data, root / "instruct", recipe, progress=False)
    return root, data, m


def test_shipped_phrasings_load_and_hold_out():
    for task in SHIPPED:
        tp = load_task_prompts(task)
        assert tp.phrasing("task").text == "{question}"
        assert len(tp.phrasings) >= 5 and tp.held_out_phrasings, task
        assert all(not p.held_out for p in tp.train_phrasings)
    assert load_task_prompts("promoter").train is False and load_task_prompts("promoter").train_phrasings == []
    assert load_task_prompts("product").answer == "text"
    r = load_instruct_recipe("default")
    assert r.tasks == SHIPPED and 0 < r.rag_share < 1


def test_shipped_dev_wordings_are_out_of_tuning_and_apart_from_the_test_wordings():
    """The dev wordings (valid-split choices) are neither tuned on nor the test's held-out wordings."""
    for task in ["splice", "trna_aa", "feature_type", "genus_16s"]:
        tp = load_task_prompts(task)
        dev = [p.id for p in tp.dev_phrasings]
        assert dev == ["v2_03", "v2_06", "v2_09"], task
        train = {p.id for p in tp.train_phrasings}
        assert not train & set(dev) and not {p.id for p in tp.held_out_phrasings} & set(dev)
        assert "task" in train and len(train) >= 20
    assert load_task_prompts("promoter").dev_phrasings == []  # a zero-shot task has no dev wording


def test_dev_phrasing_rules(tmp_path):
    head = 'task = "gc"\nversion = 1\nanswer = "labels"\n[[phrasings]]\nid = "task"\ntext = "{question}"\n'
    (tmp_path / "gc.toml").write_text(head + '[[phrasings]]\nid = "d"\ntext = "GC?"\ndev = true\n'
                                      '[[phrasings]]\nid = "h"\ntext = "AT?"\nheld_out = true\n')
    tp = load_task_prompts("gc", tmp_path)
    assert [p.id for p in tp.train_phrasings] == ["task"] and [p.id for p in tp.dev_phrasings] == ["d"]
    assert [p.id for p in tp.held_out_phrasings] == ["h"]
    (tmp_path / "gc.toml").write_text(head + '[[phrasings]]\nid = "d"\ntext = "GC?"\ndev = true\nheld_out = true\n')
    with pytest.raises(DnaHlmError, match=r"gc\.toml: phrasing 'd' is both held_out .* and dev"):
        load_task_prompts("gc", tmp_path)
    (tmp_path / "gc.toml").write_text(head.replace('text = "{question}"\n', 'text = "{question}"\ndev = true\n')
                                      + '[[phrasings]]\nid = "b"\ntext = "GC?"\n')
    with pytest.raises(DnaHlmError, match=r"gc\.toml: phrasing 'task' is the task's own question"):
        load_task_prompts("gc", tmp_path)


def test_unknown_placeholder_names_file_and_placeholder(tmp_path):
    (tmp_path / "gc.toml").write_text('task = "gc"\nversion = 1\nanswer = "labels"\n'
                                      '[[phrasings]]\nid = "a"\ntext = "Is it {labels}?"\n'
                                      '[[phrasings]]\nid = "b"\ntext = "What about {organism}?"\n')
    with pytest.raises(DnaHlmError, match=r"gc\.toml.*'b'.*unknown placeholder \{organism\}"):
        load_task_prompts("gc", tmp_path)
    # {labels} means nothing for an open-text task
    (tmp_path / "nx.toml").write_text('task = "nx"\nversion = 1\nanswer = "text"\n'
                                      '[[phrasings]]\nid = "a"\ntext = "One of {labels}?"\n')
    with pytest.raises(DnaHlmError, match=r"nx\.toml.*unknown placeholder \{labels\}"):
        load_task_prompts("nx", tmp_path)
    (tmp_path / "bad.toml").write_text('task = "bad"\nversion = 1\nanswer = "labels"\nphrasingz = []\n')
    with pytest.raises(DnaHlmError, match=r"bad\.toml.*'phrasingz'"):
        load_task_prompts("bad", tmp_path)


def test_held_out_phrasings_and_task_never_in_train(built):
    root, _, m = built
    _, train, valid = read_instruct(root / "instruct")
    assert m["held_out_tasks"] == ["half"]
    assert {r["task"] for r in train} == {"gc", "nextb"} and {r["task"] for r in valid} == {"gc", "nextb"}
    for r in train + valid:
        assert r["phrasing"] != "unseen"
        assert "GC or AT rich?" not in r["instruction"] and "Next four bases?" not in r["instruction"]
    # the caps: 120 train rows, at most 2 renderings each, at most 200 per task
    assert m["counts"]["train"]["per_task"] == {"gc": 200, "nextb": 200}
    # a repeated row is worded differently the second time
    by_id: dict[str, list[str]] = {}
    for r in train:
        by_id.setdefault(r["id"], []).append(r["phrasing"])
    assert any(len(v) == 2 for v in by_id.values())
    assert all(len(set(v)) == len(v) for v in by_id.values())
    # Alpaca fields, answers from the data, the {labels} placeholder filled
    r = next(x for x in train if x["task"] == "gc" and x["phrasing"] == "rich")
    assert r["instruction"].endswith("Answer GC-rich or AT-rich.") and r["output"] in ("GC-rich", "AT-rich")
    assert set(m["counts"]["train"]["per_mode"]) == {"plain", "rag"}


def test_neighbours_never_include_the_example_itself(built):
    root, data, _ = built
    _, train, valid = read_instruct(root / "instruct")
    rag = [r for r in train + valid if r["mode"] == "rag"]
    assert len(rag) > 50
    train_rows = {json.loads(l)["id"]: json.loads(l) for l in (data / "tasks" / "gc" / "train.jsonl").read_text().splitlines()}
    train_rows.update({json.loads(l)["id"]: json.loads(l) for l in (data / "tasks" / "nextb" / "train.jsonl").read_text().splitlines()})
    for r in rag:
        assert len(r["examples"]) == 3
        for e in r["examples"]:
            assert e["id"] != r["id"] and e["seq"] != r["input"]
            assert e["id"] in train_rows and train_rows[e["id"]]["label"] == e["answer"]  # from the TRAIN split
        assert [e["score"] for e in r["examples"]] == sorted((e["score"] for e in r["examples"]), reverse=True)
    assert all(r["examples"] == [] for r in train + valid if r["mode"] == "plain")


def test_neighbour_search_excludes_self_even_when_it_is_the_best_hit():
    rows = [{"id": f"r{i}", "seq": s, "label": "x"} for i, s in enumerate(
        ["ACGTACGTTTGACCA" * 4, "ACGTACGTTTGACCA" * 4 + "G", "TTTTGGGGCCCCAAAA" * 4, "GATTACAGATTACA" * 4])]
    nb = TrainNeighbours(rows)
    hits = nb.search([rows[0]["seq"]], k=2, exclude_ids=["r0"])[0]
    assert [h for h, _ in hits][0] == 1 and 0 not in [h for h, _ in hits]
    # the same sequence under another id is excluded as well
    hits = nb.search([rows[0]["seq"]], k=3, exclude_ids=["other"])[0]
    assert 0 not in [h for h, _ in hits]


def test_renderer_matches_the_chain_templates():
    from transformers import PreTrainedTokenizerFast
    from rag_fixtures import cached_tiny_model

    tok = PreTrainedTokenizerFast.from_pretrained(str(cached_tiny_model()))
    r = PromptRenderer(tok, 512, PromptStyle())
    seq = "ACGT" * 80
    plain = r.render("What is it?", seq, [], reserve=8)
    assert plain == load_prompt("plain.v1").format(question="What is it?", sequence=seq[:240])
    ex = [{"seq": "GGGG" * 20, "answer": "best"}, {"seq": "TTTT" * 20, "answer": "second"}]
    rag = r.render("What is it?", seq, ex, reserve=8)
    assert rag.endswith(plain) and rag.index("second") < rag.index("best")  # least similar first
    assert "G" * 48 in rag and "G" * 49 not in rag  # examples cut to 48 bases
    tight = PromptRenderer(tok, len(tok(plain)["input_ids"]) + 30, PromptStyle()).render("What is it?", seq, ex, reserve=8)
    assert tight == plain  # no room: the examples are dropped, never the question


def test_label_hint_on_plain_closed_prompts_when_it_fits():
    from transformers import PreTrainedTokenizerFast
    from rag_fixtures import cached_tiny_model

    tok = PreTrainedTokenizerFast.from_pretrained(str(cached_tiny_model()))
    style = PromptStyle(label_hint="Answer with one of {labels}.")
    r = PromptRenderer(tok, 512, style)
    seq, labels = "ACGT" * 80, ["donor", "acceptor", "neither"]
    plain = r.render("Splice site?", seq, [], reserve=8, labels=labels)
    assert plain == load_prompt("plain.v1").format(question="Splice site? Answer with one of donor, acceptor or neither.",
                                                   sequence=seq[:240])
    assert "Answer with" not in r.render("Splice site?", seq, [], reserve=8)  # no labels: an open task
    named = "Donor, acceptor or neither?"  # the wording lists every label already
    assert r.render(named, seq, [], reserve=8, labels=labels) == r.render(named, seq, [], reserve=8)
    ex = [{"seq": "GGGG" * 20, "answer": "donor"}]
    assert "Answer with" not in r.render("Splice site?", seq, ex, reserve=8, labels=labels)  # RAG: never
    # a hint that would not fit the context with the reserve is left out, never cut into the question
    bare = r.render("Splice site?", seq, [], reserve=8)
    tight = PromptRenderer(tok, len(tok(bare)["input_ids"]) + 1 + 8 + 2, style)
    assert tight.render("Splice site?", seq, [], reserve=8, labels=labels) == bare


def test_label_hint_recipe_key_and_manifest(tmp_path):
    """The hint is rendered at tuning and answering time from the style; the records stay the
    same, the manifest lists the closed tasks' labels; a hint with another placeholder fails."""
    data = make_task_data(tmp_path)
    common = dict(tasks=["gc", "half", "nextb"], max_per_task=60, max_repeats=1, valid_per_task=5, rag_share=0.5,
                  k=2, prompts_dir=str(tmp_path / "task_prompts"))
    build_instruct(data, tmp_path / "off", InstructRecipe(**common), progress=False)
    m = build_instruct(data, tmp_path / "on", InstructRecipe(**common, label_hint="Pick {labels}."), progress=False)
    assert (tmp_path / "off" / "train.jsonl").read_bytes() == (tmp_path / "on" / "train.jsonl").read_bytes()
    assert m["prompt_style"]["label_hint"] == "Pick {labels}."
    assert set(m["task_labels"]) == {"gc", "half"} and m["task_labels"]["gc"] == read_task(data, "gc").labels
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nlabel_hint = "Pick {label}."\n')
    with pytest.raises(RecipeError, match="label_hint.*label"):
        load_instruct_recipe(bad)


def test_cli_build_and_bad_placeholder(tmp_path):
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    data = make_task_data(tmp_path)
    rec = tmp_path / "r.toml"
    rec.write_text(f'name = "t"\ntasks = ["gc", "half"]\nmax_per_task = 50\nvalid_per_task = 5\n'
                   f'prompts_dir = "{tmp_path / "task_prompts"}"\n')
    res = CliRunner().invoke(app, ["instruct", "build", "--data", str(data), "--out", str(tmp_path / "ins"),
                                   "--recipe", str(rec), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "50 train / 5 valid" in res.output and "half" in res.output
    (tmp_path / "task_prompts" / "gc.toml").write_text(
        (tmp_path / "task_prompts" / "gc.toml").read_text().replace("{length}-nt", "{species}"))
    res = CliRunner().invoke(app, ["instruct", "build", "--data", str(data), "--out", str(tmp_path / "ins"),
                                   "--recipe", str(rec), "--quiet"])
    assert res.exit_code == 2 and "gc.toml" in res.output and "{species}" in res.output


def test_bad_recipe_rows_and_records_are_one_line_errors(built, tmp_path):
    import hashlib
    import shutil

    root, data, _ = built
    rec = tmp_path / "r.toml"
    rec.write_text('name = "t"\ntasks = ["gc", "gc"]\n')
    with pytest.raises(DnaHlmError, match="gc listed twice"):
        load_instruct_recipe(rec)
    d = tmp_path / "data"
    shutil.copytree(data, d)
    with open(d / "tasks" / "gc" / "train.jsonl", "a") as f:
        f.write('{"id": "x", "seq": 5, "label": "GC-rich"}\n')
    recipe = InstructRecipe(tasks=["gc"], prompts_dir=str(root / "task_prompts"))
    with pytest.raises(DnaHlmError, match="seq is not a non-empty string"):
        build_instruct(d, tmp_path / "ins", recipe, progress=False)
    ins = tmp_path / "edited"  # a hand-edited instruct folder whose manifest hash was updated
    shutil.copytree(root / "instruct", ins)
    lines = (ins / "train.jsonl").read_text().splitlines()
    lines[0] = json.dumps({k: v for k, v in json.loads(lines[0]).items() if k != "output"})
    (ins / "train.jsonl").write_text("\n".join(lines) + "\n")
    m = json.loads((ins / "manifest.json").read_text())
    m["files"]["train.jsonl"] = hashlib.sha256((ins / "train.jsonl").read_bytes()).hexdigest()
    (ins / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DnaHlmError, match="record 1 lacks a task, instruction, input or output"):
        read_instruct(ins)
    del m["prompt_style"]
    (ins / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DnaHlmError, match="lacks prompt_style"):
        read_instruct(ins)


def test_build_never_replaces_the_data_folder(built):
    root, data, _ = built
    recipe = InstructRecipe(tasks=["gc"], prompts_dir=str(root / "task_prompts"))
    with pytest.raises(DnaHlmError, match="holds a 'data' stage"):
        build_instruct(data, data, recipe, progress=False)
    assert (data / "tasks" / "gc" / "train.jsonl").is_file()


def test_cli_eval_refuses_negative_limit_and_folder_out(tmp_path):
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    base = ["instruct", "eval", "--model", str(tmp_path), "--data", str(tmp_path)]
    r = CliRunner().invoke(app, base + ["--limit", "-1"])
    assert r.exit_code == 2 and r.output.startswith("error: --limit must be >= 0"), r.output
    r = CliRunner().invoke(app, base + ["--out", str(tmp_path)])
    assert r.exit_code == 2 and r.output.startswith("error: --out") and "is a folder" in r.output, r.output


def test_a_task_description_that_is_no_utf8_json_is_a_one_line_error(tmp_path) -> None:
    d = tmp_path / "tasks" / "splice"
    d.mkdir(parents=True)
    (d / "task.json").write_text('{"question": "Is this a splice site?"}', encoding="utf-16")
    with pytest.raises(DnaHlmError, match="is not a task description"):
        read_task(tmp_path, "splice")
    (d / "task.json").write_text('["a list"]')
    with pytest.raises(DnaHlmError, match="is not a task description"):
        read_task(tmp_path, "splice")


def test_question_share_sets_how_often_the_task_question_is_the_instruction(tmp_path):
    """With many tuning phrasings the task's own question (what ``ask --task`` and the seen cells
    send) became rare; ``question_share`` keeps it at a set share. Out of range is a one-line error."""
    data = make_task_data(tmp_path)
    share = {}
    for q in (0.0, 0.6):
        recipe = InstructRecipe(tasks=["gc"], max_per_task=400, max_repeats=1, valid_per_task=0, rag_share=0.0,
                                question_share=q, prompts_dir=str(tmp_path / "task_prompts"))
        build_instruct(data, tmp_path / f"i{q}", recipe, progress=False)
        _, train, _ = read_instruct(tmp_path / f"i{q}")
        share[q] = sum(r["phrasing"] == "task" for r in train) / len(train)
    assert 0.2 < share[0.0] < 0.45  # uniform over the fixture's 3 tuning phrasings
    assert share[0.6] > share[0.0] + 0.1
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nquestion_share = 1.5\n')
    with pytest.raises(RecipeError, match="question_share"):
        load_instruct_recipe(bad)


def build_off_zero_on(data, tmp_path, common: dict, key: str, share: float):
    """Build without ``key``, with it at 0 and at ``share``; the first two must be byte for byte
    the same (an option at 0 changes nothing). Returns the ``share`` build (manifest, train, valid)."""
    build_instruct(data, tmp_path / "off", InstructRecipe(**common), progress=False)
    build_instruct(data, tmp_path / "zero", InstructRecipe(**common, **{key: 0.0}), progress=False)
    build_instruct(data, tmp_path / "on", InstructRecipe(**common, **{key: share}), progress=False)
    assert (tmp_path / "off" / "train.jsonl").read_bytes() == (tmp_path / "zero" / "train.jsonl").read_bytes()
    return read_instruct(tmp_path / "on")


def test_wording_noise_touches_only_train_records_in_other_phrasings(tmp_path):
    """``wording_noise`` perturbs a share of the TRAIN instructions, never the task's own question
    nor a valid record; with 0 the build is exactly the build without the key."""
    data = make_task_data(tmp_path)
    common = dict(tasks=["gc"], max_per_task=400, max_repeats=1, valid_per_task=20, rag_share=0.0,
                  question_share=0.3, prompts_dir=str(tmp_path / "task_prompts"))
    m, train, valid = build_off_zero_on(data, tmp_path, common, "wording_noise", 0.8)
    noised = [r for r in train if r.get("noised")]
    others = [r for r in train if r["phrasing"] != "task"]
    assert m["counts"]["train"]["noised"] == len(noised)
    assert 0.65 < len(noised) / len(others) < 0.95
    assert all(r["phrasing"] != "task" for r in noised) and not any(r.get("noised") for r in valid)
    task, tp = read_task(data, "gc"), load_task_prompts("gc", tmp_path / "task_prompts")
    as_worded = {(p.id, len(r["input"])): p.render(task.question, task.labels, len(r["input"]))
                 for p in tp.phrasings for r in train}
    assert all(r["instruction"] == as_worded[r["phrasing"], len(r["input"])] for r in train if not r.get("noised"))
    assert sum(r["instruction"] != as_worded[r["phrasing"], len(r["input"])] for r in noised) > 0.8 * len(noised)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nwording_noise = -0.1\n')
    with pytest.raises(RecipeError, match="wording_noise"):
        load_instruct_recipe(bad)


def test_relabel_renames_only_train_records_with_examples_in_other_phrasings(tmp_path):
    """``relabel`` renames the labels of a share of the TRAIN records that carry examples (closed
    tasks only), never the task's own question nor a valid record; 0 builds exactly as without the key."""
    data = make_task_data(tmp_path)
    common = dict(tasks=["gc", "nextb"], max_per_task=300, max_repeats=1, valid_per_task=20, rag_share=0.7, k=3,
                  question_share=0.3, prompts_dir=str(tmp_path / "task_prompts"))
    m, train, valid = build_off_zero_on(data, tmp_path, common, "relabel", 0.9)
    done = [r for r in train if r.get("relabelled")]
    assert m["counts"]["train"]["relabelled"] == len(done) > 0
    assert all(r["task"] == "gc" and r["phrasing"] != "task" and r["examples"] for r in done)
    assert not any(r.get("relabelled") for r in valid)
    for r in done:
        names = set(r["relabelled"].values())
        # the new name is readable off the prompt: an example shows it, or the instruction lists it
        assert r["output"] in names
        assert r["output"] in {e["answer"] for e in r["examples"]} or r["output"] in r["instruction"]
        assert all(e["answer"] in names for e in r["examples"])
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nrelabel = 2\n')
    with pytest.raises(RecipeError, match="relabel"):
        load_instruct_recipe(bad)
