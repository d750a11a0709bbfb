"""What the novelty warning of ``ask``/``batch`` catches (dnahlm_rag/novelty.py). Prints tables.

Usage::

    .venv/bin/python bench/bench_novelty.py [--data data] [--indexes indexes] [--items 500] [--cache cache]

For each task, the :class:`~dnahlm_rag.novelty.NoveltyCheck` is fitted as ``ask`` fits it (the
task's retriever: ``indexes/<task>`` when built, else its train-row finder; 200 evenly spaced
valid rows) and applied to up to ``--items`` evenly spaced TEST items. Columns: share of test
items flagged; the neighbours' answer (kNN vote of the top 3 labels; product: token F1 of the
top neighbour's label) on flagged and on unflagged items, which says whether a flag marks
answers to distrust.

General index: the same check for ``ask`` without a task (valid segments calibrate; test
segments, and the same segments shuffled base by base, are checked); not shipped, see its figures.

Open set (genus_16s): 16S genes of genera outside the task's labels, from the same NCBI
Combined16SrRNA database (``blastdbcmd``; one sequence each of up to 300 genera, seeded, the
task's length range), should be flagged; their share flagged is the check's recall for the case
it was built for. Both in-label test genes and those genes are also cut to 1,000, 500 and 300
bases (amplicon-like pieces), which the check compares with valid genes cut alike.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnahlm_rag.instruct import INDEXLESS_TASKS, read_split  # noqa: E402
from dnahlm_rag.metrics import token_f1_one  # noqa: E402
from dnahlm_rag.novelty import NoveltyCheck  # noqa: E402

TASKS = ("splice", "promoter", "trna_aa", "feature_type", "genus_16s", "product", "next_kmer")


def retriever_for(task: str, data: Path, indexes: Path):
    """The retriever ``ask --task T`` uses (k = 3)."""
    if task not in INDEXLESS_TASKS and (indexes / task).is_dir():
        from dnahlm_rag.fused_retriever import make_retriever

        return make_retriever(str(indexes / task), k=3)
    from dnahlm_rag.task_retriever import TaskRetriever

    return TaskRetriever(data_dir=str(data), task=task, k=3)


def spaced(rows: list, n: int) -> list:
    return rows[::max(1, len(rows) // n)][:n]


def answer_score(task: str, docs: list, gold: str) -> float:
    labels = [str(d.metadata.get("label")) for d in docs]
    if not labels:
        return 0.0
    if task == "product":
        return token_f1_one(labels[0], str(gold))
    vote = Counter(labels).most_common(1)[0][0]
    return float(vote == str(gold))


def out_of_set_16s(data: Path, cache: Path, n: int = 300, seed: int = 0) -> list[str]:
    """One 16S sequence each of up to ``n`` genera outside genus_16s's labels (empty without blastdbcmd)."""
    from dnahlm_rag.data.rrna16s import parse_title

    db = next(cache.rglob("Combined16SrRNA.nsq"), None)
    if db is None or shutil.which("blastdbcmd") is None:
        return []
    spec = json.loads((data / "tasks" / "genus_16s" / "task.json").read_text())
    labels = set(spec["labels"])
    lens = [len(r["seq"]) for r in read_split(data, "genus_16s", "train")]
    lo, hi = min(lens), max(lens)
    proc = subprocess.Popen(["blastdbcmd", "-db", str(db.with_suffix("")), "-entry", "all", "-outfmt", "%t\t%s"],
                            stdout=subprocess.PIPE, text=True)
    first: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        title, seq = line.rstrip("\n").split("\t", 1)
        name = parse_title(title)
        if name and name.genus not in labels and name.genus not in first and "16S" in title \
                and lo <= len(seq) <= hi and set(seq) <= set("ACGT"):
            first[name.genus] = seq
    proc.wait()
    genera = sorted(first)
    random.Random(seed).shuffle(genera)
    return [first[g] for g in genera[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--indexes", type=Path, default=Path("indexes"))
    ap.add_argument("--cache", type=Path, default=Path("cache"))
    ap.add_argument("--items", type=int, default=500)
    args = ap.parse_args()
    print("| task | retriever | thresholds (level: value, valid n) | test n | flagged | answer, flagged | answer, not flagged |")
    print("|---|---|---|---|---|---|---|")
    check16 = None
    for task in TASKS:
        if not (args.data / "tasks" / task / "valid.jsonl").is_file():
            continue
        r = retriever_for(task, args.data, args.indexes)
        valid = [x["seq"] for x in spaced(read_split(args.data, task, "valid"), 200)]
        check = NoveltyCheck.fit(task, r, valid)
        test = spaced(read_split(args.data, task, "test"), args.items)
        docs = r.retrieve_many([x["seq"] for x in test], k=3)
        flags = [check.note(d, len(x["seq"])) is not None for d, x in zip(docs, test)]
        sc = [answer_score(task, d, x["label"]) for d, x in zip(docs, test)]
        on = [s for s, f in zip(sc, flags) if f]
        off = [s for s, f in zip(sc, flags) if not f]
        th = ", ".join(f"{lv}: {v:.3g} (n {check.counts[lv]})" for lv, v in check.thresholds.items())
        unit = "token F1" if task == "product" else "kNN-3 accuracy"
        print(f"| {task} | {type(r).__name__} | {th} | {len(test)} | {sum(flags) / len(test):.1%} | "
              f"{(sum(on) / len(on) if on else float('nan')):.3f} ({len(on)}) | "
              f"{(sum(off) / len(off) if off else float('nan')):.3f} ({len(off)}) ({unit}) |")
        if task == "genus_16s":
            check16 = (check, r, test)
    seg_path = args.data / "segments.jsonl"
    if seg_path.is_file() and (args.indexes / "segments" / "manifest.json").is_file():
        # the general index (ask without a task): valid segments calibrate, test segments and the
        # same test segments shuffled base by base (same composition, no gene left) are checked
        from dnahlm_rag.fused_retriever import make_retriever
        from dnahlm_rag.index import read_jsonl

        segs = list(read_jsonl(seg_path))
        r = make_retriever(str(args.indexes / "segments"), k=3)
        check = NoveltyCheck.fit("segments", r, [x["seq"] for x in spaced([x for x in segs if x.get("split") == "valid"], 200)])
        test = spaced([x for x in segs if x.get("split") == "test"], args.items)
        rng = random.Random(0)
        shuffled = ["".join(rng.sample(x["seq"], len(x["seq"]))) for x in test]
        docs = r.retrieve_many([x["seq"] for x in test], k=3)
        flags = [check.note(d, len(x["seq"])) is not None for d, x in zip(docs, test)]
        same = [float(bool(d) and d[0].metadata.get("type") == x.get("type")) for d, x in zip(docs, test)]
        on = [v for v, f in zip(same, flags) if f]
        off = [v for v, f in zip(same, flags) if not f]
        th = ", ".join(f"{lv}: {v:.3g} (n {check.counts[lv]})" for lv, v in check.thresholds.items())
        shuf = sum(check.note(d, len(q)) is not None for d, q in zip(r.retrieve_many(shuffled, k=3), shuffled)) / len(shuffled)
        print(f"\ngeneral index (segments): thresholds {th}; test segments flagged {sum(flags) / len(test):.1%} "
              f"(n {len(test)}); top neighbour of the same feature type: flagged {sum(on) / max(1, len(on)):.3f} "
              f"({len(on)}), not flagged {sum(off) / max(1, len(off)):.3f} ({len(off)}); the same test segments "
              f"shuffled: {shuf:.1%} flagged")
    if check16 is not None:
        check, r, test = check16
        seqs = out_of_set_16s(args.data, args.cache)
        print("\ngenus_16s, whole genes and pieces (a window at a seeded random offset, as an amplicon would be):\n")
        print("| query length | in-label test genes flagged | their kNN-3 accuracy, flagged / not | "
              "genes of genera outside the labels flagged |\n|---|---|---|---|")
        for length in (None, 1000, 500, 300):
            rng = random.Random(length or 0)
            cut = (lambda s: s if length is None or len(s) <= length else
                   s[(o := rng.randrange(len(s) - length + 1)):o + length])
            ins = [cut(x["seq"]) for x in test]
            docs = r.retrieve_many(ins, k=3)
            flags = [check.note(d, len(q)) is not None for d, q in zip(docs, ins)]
            sc = [answer_score("genus_16s", d, x["label"]) for d, x in zip(docs, test)]
            on = [v for v, f in zip(sc, flags) if f]
            off = [v for v, f in zip(sc, flags) if not f]
            outs = [cut(q) for q in seqs]
            flagged = sum(check.note(d, len(q)) is not None for d, q in zip(r.retrieve_many(outs, k=3), outs)) if outs else 0
            print(f"| {length or 'whole gene'} | {sum(flags) / len(ins):.1%} | "
                  f"{(sum(on) / len(on) if on else float('nan')):.3f} / {(sum(off) / len(off) if off else float('nan')):.3f} | "
                  + (f"{flagged} of {len(outs)} ({flagged / len(outs):.1%})" if outs else "not measured (no Combined16SrRNA in --cache, or no blastdbcmd)") + " |")


if __name__ == "__main__":
    main()
