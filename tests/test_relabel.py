"""Relabelled few-shot records: the answer must be the renamed label the examples show."""
from __future__ import annotations

import copy
import random
import re

from dnahlm_rag.prompts import format_labels
from dnahlm_rag.relabel import relabel

LABELS = ["donor", "acceptor", "neither"]
LISTED = format_labels(LABELS)


def record(output: str, answers: list[str], instruction: str = "Splice site?") -> dict:
    return {"instruction": instruction, "input": "ACGT", "output": output,
            "examples": [{"id": str(i), "seq": "ACGT", "answer": a, "score": 0.5} for i, a in enumerate(answers)]}


def test_labels_are_renamed_consistently_in_examples_and_output():
    rng = random.Random(0)
    for _ in range(200):
        r = record("donor", ["neither", "donor", "acceptor", "donor"])
        before = copy.deepcopy(r)
        m = relabel(r, LABELS, "", rng)
        assert m is not None and r["relabelled"] == m
        assert set(m) == {"donor", "neither", "acceptor"} and len(set(m.values())) == 3
        assert all(re.fullmatch(r"(non-)?([bdfgklmnprstvz][aeiou]){2,3}", v) and v not in LABELS for v in m.values())
        assert r["output"] == m["donor"]
        assert [e["answer"] for e in r["examples"]] == [m[e["answer"]] for e in before["examples"]]
        assert r["input"] == before["input"] and r["instruction"] == before["instruction"]


def test_a_listed_label_set_is_renamed_in_the_instruction_too():
    rng = random.Random(1)
    r = record("acceptor", ["acceptor"], f"Which is it: {LISTED}?")
    m = relabel(r, LABELS, LISTED, rng)
    assert m is not None and set(m) == set(LABELS)  # every label, as the list names them all
    assert r["instruction"] == f"Which is it: {format_labels([m[x] for x in LABELS])}?"
    assert "donor" not in r["instruction"]


def test_records_it_must_leave_alone():
    rng = random.Random(2)
    cases = [
        (record("donor", []), ""),  # no examples: nothing to read the new name from
        (record("donor", ["neither", "acceptor"]), ""),  # the output's label is shown by no example
        (record("donor", ["donor", "exon"]), ""),  # a label outside the task's
        (record("donor", ["donor"], "Which one?"), LISTED),  # the list is not in the instruction
    ]
    for r, listed in cases:
        before = copy.deepcopy(r)
        assert relabel(r, LABELS, listed, rng) is None and r == before


def test_two_labels_are_sometimes_a_name_and_its_non_pair():
    rng = random.Random(5)
    maps = [relabel(record("yes", ["yes", "no"]), ["yes", "no"], "", rng) for _ in range(300)]
    pairs = sum(m["no"] == "non-" + m["yes"] for m in maps)
    assert 40 < pairs < 140  # NON_PAIR = 0.3 of 300


def test_seeded():
    def run(seed: int) -> list:
        rng = random.Random(seed)
        return [relabel(record("donor", ["donor", "neither"]), LABELS, "", rng) for _ in range(20)]
    assert run(3) == run(3) and run(3) != run(4)
