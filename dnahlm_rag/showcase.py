"""Five example questions on held-out sequences, answered with their cited neighbours.

The examples are real test-split items (organisms and species never seen in tuning or in the
indexes), one per kind of question a researcher asks. ``promoter`` is the held-out task: the
model was never tuned on it, so only the retrieved examples show what is wanted (zero-shot).
The answers are what the model says, printed beside the truth; nothing is chosen to look good:
the first test item of each task is taken.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .answer import AnswerConfig, Answerer, similarity_text, task_question_and_labels
from .atomic import atomic_file
from .chain import ChainConfig
from .errors import DnaHlmError
from .instruct import task_embedder
from .retrieval_mix import DEFAULT_K


@dataclass(frozen=True)
class Example:
    task: str
    question: str  # the English question asked (a researcher's wording, not a tuning template)
    index: str = ""  # index folder under index_root ("": the task's own train-split index)


EXAMPLES: tuple[Example, ...] = (
    # what `ask` does for a coding sequence: annotated train segments, protein hits first
    Example("product", "What does this sequence encode?", index="segments"),
    Example("splice", "Is this a splice donor, a splice acceptor, or neither?"),
    Example("genus_16s", "Which genus is this 16S rRNA from?"),
    Example("trna_aa", "Which amino acid does this tRNA carry?"),
    Example("promoter", "Is this sequence an E. coli promoter? Answer promoter or non-promoter."),
)


def first_test_item(data_dir: Path, task: str) -> dict[str, Any]:
    from .index import read_jsonl

    p = data_dir / "tasks" / task / "test.jsonl"
    if not p.is_file():
        raise DnaHlmError(f"{p} not found: build the data with `dnahlm data build`")
    item = next(read_jsonl(p), None)  # bad JSON or bytes: one line naming file and line
    if item is None:
        raise DnaHlmError(f"{p} is empty")
    if not isinstance(item.get("seq"), str) or "id" not in item or "label" not in item:
        raise DnaHlmError(f"{p}: its first row lacks id, label or a seq string: rebuild the data")
    return item


def run_examples(data_dir: str | Path = "data", index_root: str | Path = "indexes", model_dir: str | None = None,
                 k: int = DEFAULT_K, out: str | Path | None = "reports/examples.md") -> list[dict[str, Any]]:
    """Answer :data:`EXAMPLES` in RAG mode, each against the index of its task's train split.

    Returns one dict per example (task, question, the task ``ask`` would route the question to,
    id, truth, answer, neighbours); writes a Markdown table to ``out`` when given.
    """
    from .task_router import TaskRouter

    data_dir, index_root = Path(data_dir), Path(index_root)
    if not (data_dir / "tasks").is_dir():
        raise DnaHlmError(f"{data_dir} holds no tasks/ folder: build the data with `dnahlm data build`")
    items = []
    for ex in EXAMPLES:  # every item and index first: no model loads for a run that cannot finish
        index = index_root / (ex.index or ex.task)
        if not (index / "manifest.json").is_file():
            emb = task_embedder(ex.task)
            how = f"--name {ex.index}" if ex.index else f"--task {ex.task} --embedder {emb}"
            raise DnaHlmError(f"no index {index}: build it with `dnahlm index build {how}`")
        items.append((first_test_item(data_dir, ex.task), index))
    rows: list[dict[str, Any]] = []
    routes = TaskRouter(data_dir).route_many([ex.question for ex in EXAMPLES])
    for ex, route, (item, index) in zip(EXAMPLES, routes, items):
        _, labels = task_question_and_labels(data_dir, ex.task)
        cfg = AnswerConfig(mode="rag", model_dir=model_dir, index_dir=str(index), chain=ChainConfig(k=k),
                           max_new_tokens=24, task=ex.task, novelty_data=str(data_dir))  # retrieves and mixes as `ask --task` does
        out_ = Answerer(cfg, labels).ask(ex.question, item["seq"])
        rows.append({
            "task": ex.task, "question": ex.question, "routed": route.task or "none",
            "route_similarity": round(route.similarity, 3), "id": item["id"], "organism": item.get("organism"),
            "length": len(item["seq"]), "truth": item["label"], "answer": out_["answer"],
            "neighbours": [{"id": d.metadata.get("id"), "organism": d.metadata.get("organism"),
                            "label": d.metadata.get("label") or d.metadata.get("product"),
                            "level": d.metadata.get("level", "dna"),
                            "similarity": similarity_text(d.metadata)} for d in out_["neighbours"]],
            "provenance": list(out_.get("provenance", [])),
        })
    if out:
        lines = ["# Example questions on held-out sequences", "",
                 "RAG mode; neighbours come from each task's train split (product: the annotated train segments, "
                 "protein-level hits first, as `ask` does). `promoter` is the task held out of tuning.", ""]
        for r in rows:
            lines += [f"## {r['task']}: {r['question']}", "",
                      f"- routed (what `ask` without `--task` picks from the wording): {r['routed']} "
                      f"(cosine {r['route_similarity']:.2f})",
                      f"- query: `{r['id']}` ({r['organism'] or 'unknown organism'}, {r['length']} nt)",
                      f"- answer: **{r['answer']}**", f"- truth: {r['truth']}"]
            lines += [f"- provenance: {p}" for p in r["provenance"]] + ["- neighbours:"]
            lines += [f"  - `{n['id']}` {n['organism'] or ''}: {n['label']} ({n['level']} level, {n['similarity']})"
                      for n in r["neighbours"]]
            lines.append("")
        with atomic_file(out) as f:
            f.write("\n".join(lines))
    return rows
