"""Task routing (``dnahlm ask`` without ``--task``) on hand-written questions. Prints tables.

Usage::

    .venv/bin/python bench/bench_routing.py [--data data] [--questions prompts/routing/questions.jsonl]

Each question of ``prompts/routing/questions.jsonl`` (written before the router; ``task`` is the
task it asks for, or ``none``) is routed by :class:`dnahlm_rag.task_router.TaskRouter`. Rows:
the router's bank cut down (the tasks' own phrasings only; with the extra task wordings of
``prompts/routing/bank.toml``; with its generic wordings too, the shipped router), each at the
shipped threshold and at the threshold that is best on the valid split (from a grid), with
accuracy on valid and test (a question counts as right when its route equals its label, ``none``
included). Then the shipped router's errors on test, per-task accuracy, and the time to route
one question (text embedding included; the router's own build is timed separately).
"""
from __future__ import annotations

import argparse
import atexit
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnahlm_rag.embed.text import TextEmbedder  # noqa: E402
from dnahlm_rag.task_router import (BLIND_QUESTIONS, THRESHOLD, TaskRouter, load_bank, measure_routing, read_questions,  # noqa: E402
                                     task_wordings)

GRID = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)


def accuracy(router: TaskRouter, rows: list[dict]) -> float:
    routes = router.route_many([r["question"] for r in rows])
    return sum((x.task or "none") == r["task"] for x, r in zip(routes, rows)) / max(len(rows), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--questions", type=Path, nargs="*", default=None,
                    help="question files (default: questions.jsonl and questions_blind.jsonl of prompts/routing/)")
    ap.add_argument("--bank", type=Path, default=None,
                    help="routing bank to measure (default: prompts/routing/bank.toml; an older one from git to compare)")
    args = ap.parse_args()
    emb = TextEmbedder()
    shipped, rows = None, []
    for path in args.questions or [None, BLIND_QUESTIONS]:
        shipped, more = one_file(args, path, emb)
        rows += more
    # the tasks' held-out phrasings (written for tuning, before the router), as unseen wordings
    from dnahlm_rag.instruct import load_task_prompts

    held = [{"question": w, "task": t} for t in shipped.tasks
            for p, w in zip(load_task_prompts(t).phrasings, task_wordings(t, args.data)) if p.held_out]
    hm = measure_routing(shipped.without([h["question"] for h in held]), held)
    print(f"\nThe tasks' held-out phrasings (prompts/tasks, written before the router), routed with them left out of "
          f"the bank: {hm['accuracy']:.3f} ({sum(v['right'] for v in hm['by_label'].values())} of {hm['n']})")
    for e in hm["errors"]:
        print(f"  {e['question']!r} ({e['label']}) -> {e['routed']} via {e['wording']!r} ({e['cosine']:.2f})")
    t0 = time.perf_counter()
    built = TaskRouter(args.data, bank_path=args.bank, embedder=emb)
    build = time.perf_counter() - t0
    cache = Path(tempfile.mkdtemp(prefix="bench-routing-cache-"))  # what `ask` does: cache/router/
    atexit.register(shutil.rmtree, cache, True)
    c0 = time.perf_counter()
    built._cached_vectors(cache)  # first run: embeds and stores
    c1 = time.perf_counter()
    built._cached_vectors(cache)  # every later run: loads
    c2 = time.perf_counter()
    qs = [r["question"] for r in rows]
    t0 = time.perf_counter()
    for q in qs:
        shipped.route(q)
    one = (time.perf_counter() - t0) / len(qs)
    print(f"\nrouter build (embed {len(shipped.wordings)} wordings, model loaded): {build:.2f} s; with the cache of "
          f"`ask`: first {c1 - c0:.2f} s, then {1000 * (c2 - c1):.0f} ms; route one question: {one * 1000:.1f} ms "
          f"(mean of {len(qs)})")


def one_file(args: argparse.Namespace, path: Path | None, emb: TextEmbedder) -> tuple[TaskRouter, list[dict]]:
    """Tables of one question file (valid and test splits); returns the shipped router and the rows."""
    rows = read_questions(path)
    split = {s: [r for r in rows if r["split"] == s] for s in ("valid", "test")}
    print(f"{path or 'prompts/routing/questions.jsonl'}: {len(split['valid'])} valid, {len(split['test'])} test questions; "
          f"labels {dict(sorted(Counter(r['task'] for r in rows).items()))}")
    full = load_bank(args.bank)
    tmp = Path(tempfile.mkdtemp(prefix="bench-routing-"))  # the cut-down banks, one run's own
    atexit.register(shutil.rmtree, tmp, True)
    variants = {"task phrasings only": {"generic": [], "tasks": {}},
                "+ task wordings of bank.toml": {"generic": [], "tasks": full["tasks"]},
                "+ generic wordings (shipped)": full}
    print("\n| bank | threshold | valid | test |\n|---|---|---|---|")
    shipped = None
    for name, bank in variants.items():
        path = tmp / "bench_routing_bank.toml"
        path.write_text(_toml(bank))
        router = TaskRouter(args.data, bank_path=path, embedder=emb)
        router.threshold = THRESHOLD
        print(f"| {name} | {THRESHOLD} (shipped) | {accuracy(router, split['valid']):.3f} | {accuracy(router, split['test']):.3f} |")
        best = max(GRID, key=lambda t: (_at(router, t, split["valid"]), -abs(t - THRESHOLD)))
        router.threshold = best
        print(f"| {name} | {best} (best on valid) | {accuracy(router, split['valid']):.3f} | {accuracy(router, split['test']):.3f} |")
        router.threshold = THRESHOLD
        shipped = router
    assert shipped is not None
    m = measure_routing(shipped, split["test"])
    print(f"\nShipped router, test: {m['accuracy']:.3f} (95% CI {m['accuracy_ci'][0]:.3f}-{m['accuracy_ci'][1]:.3f}), "
          f"n = {m['n']}\n\n| label | n | right |\n|---|---|---|")
    for lab, v in m["by_label"].items():
        print(f"| {lab} | {v['n']} | {v['right']} |")
    print("\nShipped router, test errors:\n\n| question | label | routed | nearest wording | cosine |\n|---|---|---|---|---|")
    for e in m["errors"]:
        print(f"| {e['question']} | {e['label']} | {e['routed']} | {e['wording']} | {e['cosine']:.2f} |")
    return shipped, rows


def _at(router: TaskRouter, threshold: float, rows: list[dict]) -> float:
    router.threshold = threshold
    return accuracy(router, rows)


def _toml(bank: dict) -> str:
    lines = ["generic = " + json.dumps(bank["generic"]), "[tasks]"]
    lines += [f"{t} = " + json.dumps(ws) for t, ws in bank["tasks"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
