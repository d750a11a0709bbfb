"""RAG and plain chains: retrieval -> few-shot prompt -> shared LLM -> parser."""
from __future__ import annotations

import pytest
import torch

from dnahlm_rag.chain import AnswerParser, ChainConfig, build_chains, neighbour_answer
from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.llm import DnaHlmLLM
from dnahlm_rag.prompts import load_prompt
from dnahlm_rag.retriever import SegmentRetriever

from rag_fixtures import build_small_index, cached_tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    seg = build_small_index(root, name="seg")
    task = build_small_index(root, task="feature_type", name="ft")
    llm = DnaHlmLLM(model_dir=str(cached_tiny_model()), max_new_tokens=8)
    return llm, SegmentRetriever(index_dir=str(seg)), SegmentRetriever(index_dir=str(task))


def test_rag_and_plain_share_the_llm_and_differ_only_in_context(setup) -> None:
    llm, seg, _ = setup
    chains = build_chains(llm, seg, ChainConfig(k=3))
    q = {"question": "What is the product of this gene?", "seq": seg.index.docs[0]["seq"]}
    rag, plain = chains["rag"].invoke(q), chains["plain"].invoke(q)
    assert [d.metadata["id"] for d in rag["neighbours"]][0] == seg.index.docs[0]["id"]
    assert len(rag["neighbours"]) == 3 and plain["neighbours"] == []
    # the few-shot block: each neighbour as an example with its (cut) sequence and description,
    # least similar first so the best one is next to the question
    best = rag["neighbours"][0]
    assert best.metadata["seq"][:48] in rag["prompt"] and best.page_content in rag["prompt"]
    assert rag["prompt"].rfind(best.page_content) > rag["prompt"].find(rag["neighbours"][2].page_content)
    assert rag["prompt"].endswith(plain["prompt"])
    assert plain["prompt"] == load_prompt("plain").format(question=q["question"], sequence=q["seq"][:240])
    assert isinstance(rag["answer"], str) and isinstance(plain["answer"], str)
    # batch gives what invoke gives
    assert [o["answer"] for o in chains["rag"].batch([q, q])] == [rag["answer"]] * 2


def test_task_neighbours_show_labels_and_parser_snaps_to_labels(setup) -> None:
    llm, _, task = setup
    labels = ["CDS", "tRNA", "rRNA"]
    out = build_chains(llm, task, ChainConfig(k=2), labels=labels)["rag"].invoke(
        {"question": "What type of feature is this sequence?", "seq": task.index.docs[1]["seq"]})
    assert f"### Response:\n{out['neighbours'][0].metadata['label']}\n" in out["prompt"]
    p = AnswerParser(labels=labels)
    assert p.parse(" trna\n\n### Instruction") == "tRNA"
    assert p.parse("rRNA gene of something") == "rRNA"
    assert p.parse("no idea") == "no idea"
    assert AnswerParser().parse("  elongation factor Tu\n\nmore") == "elongation factor Tu"


def test_a_described_neighbour_answers_without_its_organism_and_place() -> None:
    from langchain_core.documents import Document

    desc = ("A protein-coding sequence (tufA) encoding elongation factor Tu in Testus organismus, NC_T.1 "
            "11..1200 on the minus strand (1190 nt). Function: translation. Note: a long note.")
    doc = Document(page_content=desc, metadata={"id": "x", "organism": "Testus organismus"})
    assert neighbour_answer(doc) == ("A protein-coding sequence (tufA) encoding elongation factor Tu. "
                                     "Function: translation.")
    doc.metadata["label"] = "CDS"  # a task neighbour answers with its label
    assert neighbour_answer(doc) == "CDS"


def test_examples_are_dropped_to_fit_the_context(setup) -> None:
    llm, seg, _ = setup
    cfg = ChainConfig(k=8, example_seq_chars=400, query_seq_chars=400)
    out = build_chains(llm, seg, cfg)["rag"].invoke({"question": "What is this?", "seq": seg.index.docs[3]["seq"]})
    n_tokens = len(llm.loaded.tokenizer(out["prompt"], add_special_tokens=False)["input_ids"]) + 1
    assert n_tokens <= llm.context - llm.max_new_tokens or out["prompt"].count("### Instruction:") == 1
    assert out["prompt"].count("### Instruction:") < 9  # at least one example dropped


def test_unknown_placeholder_names_file_and_placeholder(tmp_path) -> None:
    (tmp_path / "bad.v1.txt").write_text("### Instruction:\n{question}\n{organism}\n")
    with pytest.raises(DnaHlmError, match=r"bad.v1.txt: unknown placeholder \{organism\}"):
        load_prompt("bad", tmp_path)
    (tmp_path / "ok.v1.txt").write_text("{question}")
    (tmp_path / "ok.v2.txt").write_text("{question}!")
    assert load_prompt("ok", tmp_path).version == 2 and load_prompt("ok.v1", tmp_path).text == "{question}"
    with pytest.raises(DnaHlmError, match="no prompt named 'nope'"):
        load_prompt("nope", tmp_path)


def test_mixed_rag_decoding_follows_the_neighbours(setup) -> None:
    from collections import Counter

    llm, _, task = setup
    labels = ["CDS", "tRNA", "rRNA"]
    q = {"question": "What type of feature is this sequence?", "seq": task.index.docs[1]["seq"]}
    mixed = build_chains(llm, task, ChainConfig(k=3, mix=1.0), labels=labels)["rag"].invoke(q)
    votes = Counter(d.metadata["label"] for d in mixed["neighbours"])
    top = max(votes.values())
    # at weight 1 the answer is a neighbours' label with the most votes (the untrained model breaks ties)
    assert votes[mixed["answer"]] == top and mixed["mix"] == 1.0
    alone = build_chains(llm, task, ChainConfig(k=3), labels=labels)["rag"].invoke(q)
    assert "mix" not in alone and alone["prompt"] == mixed["prompt"]


def test_the_label_hint_goes_on_plain_prompts_of_closed_tasks_only(setup) -> None:
    """A tuned model's style may add "Answer with one of {labels}." to a closed task's plain
    question; the RAG prompt (whose examples show the answers) and open tasks never get it."""
    llm, _, task = setup
    labels = ["CDS", "tRNA", "rRNA"]
    q = {"question": "What type of feature is this sequence?", "seq": task.index.docs[1]["seq"]}
    cfg = ChainConfig(k=2, label_hint="Answer with one of {labels}.")
    chains = build_chains(llm, task, cfg, labels=labels)
    plain, rag = chains["plain"].invoke(q), chains["rag"].invoke(q)
    hinted = "What type of feature is this sequence? Answer with one of CDS, tRNA or rRNA."
    assert plain["prompt"] == load_prompt("plain").format(question=hinted, sequence=q["seq"][:240])
    assert "Answer with one of" not in rag["prompt"]
    assert "Answer with one of" not in build_chains(llm, task, cfg)["plain"].invoke(q)["prompt"]  # open task
    unhinted = build_chains(llm, task, ChainConfig(k=2), labels=labels)["plain"].invoke(q)["prompt"]
    assert "Answer with one of" not in unhinted  # the default style has no hint
