"""How should ``dnahlm mix fit`` pick a task's mixing weight from its valid curve? Split-half
cross-validation of selection rules, on the VALID split only. Prints two tables.

Usage::

    .venv/bin/python bench/bench_mix_rule.py --model models/released/sft [--data data] \\
        [--tasks splice,trna_aa,feature_type,genus_16s] [--max-items 1000] [--splits 200]

For each closed tuned task the model scores every label of up to ``--max-items`` valid items once
(k = 3 neighbours from train, the task's own question, as ``mix fit`` does); each item's answer
under every weight of :data:`~dnahlm_rag.retrieval_mix.GRID` follows from those scores. Then
``--splits`` times the items are cut at random into two halves: each rule picks a weight on one
half and is scored on the other (both ways round). Rules:

* ``argmax``: the shipped :func:`~dnahlm_rag.retrieval_mix.choose_lambda` (best accuracy, ties to
  the larger weight);
* ``vote-unless-p05``: weight 1 (the neighbours' vote) unless the argmax beats it on the fit half
  with an exact McNemar p < 0.05;
* ``vote-unless-1pct``: weight 1 unless the argmax beats it by at least 1% of the fit half's items;
* ``vote`` (weight 1 always) and ``model`` (weight 0: RAG by prompt alone), for reference.

Table 1: each task's curve on all its scored items (accuracy %, model alone / the shipped fit's
choice / vote) and the weight each rule picks from it. Table 2: held-out accuracy of each rule,
mean over the splits and both halves (%), with how often it picked a weight below 1. The test
split is never read.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnahlm_rag.metrics import binom_two_sided  # noqa: E402
from dnahlm_rag.retrieval_mix import GRID, NeighbourPrior, choose_lambda, closed_correctness  # noqa: E402


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p for ``b`` and ``c`` discordant items (the evaluation's binomial test)."""
    return binom_two_sided(b, b + c)


def correctness(data: Path, lm, style, task: str, max_items: int, k: int) -> np.ndarray:
    """(items, len(GRID)) booleans: is the item's label-scoring answer right at each weight."""
    from dnahlm_rag.evaluate import (EvalConfig, answer_budget, choose_phrasing, label_scores, load_task,
                                     neighbour_answers, render_prompts)

    tc = load_task(data, task, EvalConfig(tasks=[task], ks=[k], max_items=max_items, seed=0), split="valid")
    if not tc.closed:
        raise SystemExit(f"error: {task} is not a closed task")
    ph = choose_phrasing(tc, "seen", "")
    prompts = render_prompts(tc, k, ph, lm, style, answer_budget(tc, lm, 24))
    scored = label_scores(lm, prompts, tc, style, 16, True, f"{task} score")
    priors = [NeighbourPrior.from_answers(lm.tokenizer, a) for a in neighbour_answers(tc, k)]
    return closed_correctness(scored, priors, [str(r["label"]) for r in tc.items])


def pick(rule: str, ok: np.ndarray) -> int:
    """Index into GRID that ``rule`` picks from the items ``ok`` (items x weights)."""
    curve = {lam: float(ok[:, i].mean()) for i, lam in enumerate(GRID)}
    best, vote = GRID.index(choose_lambda(curve)), len(GRID) - 1
    if rule == "argmax":
        return best
    if rule == "vote":
        return vote
    if rule == "model":
        return 0
    b = int((ok[:, best] & ~ok[:, vote]).sum())
    c = int((~ok[:, best] & ok[:, vote]).sum())
    if rule == "vote-unless-p05":
        return best if b > c and mcnemar_exact(b, c) < 0.05 else vote
    if rule == "vote-unless-1pct":
        return best if b - c >= 0.01 * len(ok) else vote
    raise ValueError(rule)


RULES = ("argmax", "vote-unless-p05", "vote-unless-1pct", "vote", "model")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="instruction-tuned model folder")
    ap.add_argument("--data", default="data", help="data folder of `dnahlm data build`")
    ap.add_argument("--tasks", default="splice,trna_aa,feature_type,genus_16s", help="closed tuned tasks")
    ap.add_argument("--max-items", type=int, default=1000, help="valid items per task (seeded sample)")
    ap.add_argument("--splits", type=int, default=200, help="random half splits")
    ap.add_argument("--k", type=int, default=3, help="neighbours")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from dnahlm_rag.generator import load_checkpoint
    from dnahlm_rag.instruct import PromptStyle, read_prompt_style

    lm = load_checkpoint(Path(args.model), num_threads=args.threads)
    style = read_prompt_style(Path(args.model)) or PromptStyle()
    rng = np.random.default_rng(0)
    rows1, rows2 = [], []
    for task in args.tasks.split(","):
        t0 = time.perf_counter()
        ok = correctness(Path(args.data), lm, style, task, args.max_items, args.k)
        n = len(ok)
        acc = ok.mean(axis=0) * 100
        picks = {r: GRID[pick(r, ok)] for r in RULES[:3]}
        rows1.append(f"| {task} | {n} | {acc[0]:.1f} / {acc[GRID.index(picks['argmax'])]:.1f} / {acc[-1]:.1f} | "
                     + " | ".join(f"{picks[r]:g}" for r in RULES[:3]) + f" | {time.perf_counter() - t0:.0f} s |")
        held = {r: [] for r in RULES}
        below = {r: 0 for r in RULES}
        for _ in range(args.splits):
            perm = rng.permutation(n)
            a, b = perm[: n // 2], perm[n // 2:]
            for fit, ev in ((a, b), (b, a)):
                for r in RULES:
                    i = pick(r, ok[fit])
                    held[r].append(ok[ev, i].mean() * 100)
                    below[r] += i < len(GRID) - 1
        tot = 2 * args.splits
        rows2.append(f"| {task} | {n} | " + " | ".join(
            f"{np.mean(held[r]):.2f} ({100 * below[r] / tot:.0f}%)" for r in RULES) + " |")
    print("\nTable 1: whole scored valid split; accuracy % at weight 0 (model alone) / argmax's pick / 1 (vote)")
    print("| task | items | model / argmax / vote | argmax | vote-unless-p05 | vote-unless-1pct | time |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows1))
    print(f"\nTable 2: held-out accuracy %, {args.splits} random half splits x 2 (share of picks below weight 1)")
    print("| task | items | " + " | ".join(RULES) + " |")
    print("|---|---|" + "---|" * len(RULES))
    print("\n".join(rows2))


if __name__ == "__main__":
    main()
