"""Where the time of one ``dnahlm ask`` goes. Prints a table.

Usage::

    .venv/bin/python bench/bench_ask_latency.py [--data data] [--model models/released/sft]

Run from a folder with ``data/`` and ``indexes/`` (a ``make demo`` workspace). Times, in one fresh
process, the stages ``ask`` runs for a product question about a test CDS: the imports (torch,
transformers, sentence-transformers, faiss, langchain), the task router (text model load plus
its wordings), the answerer (generator, segments and protein indexes), then the question itself,
and a second question with everything loaded (what each row of ``batch`` costs, unbatched).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--model", type=Path, default=Path("models/released/sft"))
    args = ap.parse_args()
    rows = []
    t = time.perf_counter()
    import faiss  # noqa: F401
    import langchain_core.retrievers  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from dnahlm_rag.cli.ask import resolve_task, task_answerer
    from dnahlm_rag.chain import ChainConfig
    rows.append(("imports (torch, transformers, sentence-transformers, faiss, langchain, dnahlm_rag)", time.perf_counter() - t))
    seq = json.loads((args.data / "tasks" / "product" / "test.jsonl").open().readline())["seq"]
    question = "What does this gene encode?"
    t = time.perf_counter()
    task, index, _ = resolve_task("auto", question, None, args.data)
    rows.append((f"task router: text model and wordings, routed to {task}", time.perf_counter() - t))
    t = time.perf_counter()
    answerer = task_answerer(task, index, args.data, mode="rag", model_dir=str(args.model), chain=ChainConfig(k=4),
                             max_new_tokens=32, label_probs=True)
    answerer.llm.loaded  # the generator loads on first use
    rows.append(("answerer: generator, segments and protein indexes", time.perf_counter() - t))
    t = time.perf_counter()
    answerer.ask(question, seq)
    rows.append(("first question (the protein re-scorer is built on first use)", time.perf_counter() - t))
    t = time.perf_counter()
    answerer.ask(question, seq[::-1])
    rows.append(("a second question, everything loaded", time.perf_counter() - t))
    print("| stage | seconds |\n|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.1f} |")
    print(f"| total, process start to last answer | {time.perf_counter() - T0:.1f} |")


if __name__ == "__main__":
    main()
