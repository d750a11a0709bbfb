"""When is a protein-level hit of ``ask``'s retriever more than chance? Prints a table.

Usage::

    .venv/bin/python bench/bench_significance.py [--data data] [--indexes indexes] [--n 400]

Each query goes through the shipped :class:`~dnahlm_rag.fused_retriever.FusedRetriever` (the
segments and proteins indexes, k = 4); its best protein-level hit's ``evalue_db`` (the pair's
E-value times the number of proteins in the index: hits this good a search of the whole index
expects by chance) is compared with cut-offs. Query sets, seeded: CDS of the validation and of
the test organisms; the same validation CDS shuffled base by base (no gene left, same
composition); uniform random sequences of 300-1,500 bases; non-coding segments (tRNA, rRNA,
misc_feature, repeat_region) of the valid and test organisms. A query with no protein-level hit
counts as above every cut-off. :data:`~dnahlm_rag.fused_retriever.SIGNIFICANT_E` was set from
the validation and null rows.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnahlm_rag.fused_retriever import SIGNIFICANT_E, FusedRetriever, protein_evalues  # noqa: E402
from dnahlm_rag.index import SegmentIndex, read_jsonl  # noqa: E402

CUTS = (1e-5, 1e-3, 1e-2, 0.1, 1.0, 10.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--indexes", type=Path, default=Path("indexes"))
    ap.add_argument("--n", type=int, default=400, help="CDS per split (random and non-coding sets are sized from it)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    idx = SegmentIndex.load(args.indexes / "segments")
    prot = SegmentIndex.load(args.indexes / "proteins", expect_embedder="protein")
    retriever = FusedRetriever(index=idx, protein_index=prot, k=4)
    rows = list(read_jsonl(args.data / "segments.jsonl"))

    def pick(splits: tuple[str, ...], typ: str, n: int, seed: int) -> list[str]:
        xs = [r["seq"] for r in rows if r.get("split") in splits and r.get("type") == typ]
        random.Random(seed).shuffle(xs)
        return xs[:n]

    rng = random.Random(args.seed + 5)
    valid = pick(("valid",), "CDS", args.n, args.seed)
    sets = {"valid CDS": valid,
            "valid CDS, shuffled": ["".join(rng.sample(s, len(s))) for s in valid],
            "random, 300-1,500 bases": ["".join(rng.choice("ACGT") for _ in range(rng.randint(300, 1500)))
                                        for _ in range(max(1, 3 * args.n // 4))],
            "test CDS": pick(("test",), "CDS", args.n, args.seed + 1)}
    for typ in ("tRNA", "rRNA", "misc_feature", "repeat_region"):
        xs = pick(("valid", "test"), typ, args.n, args.seed)
        if xs:
            sets[f"valid + test {typ}"] = xs
    print(f"{len(prot.docs)} proteins in {args.indexes / 'proteins'}; shipped cut-off E <= {SIGNIFICANT_E:g}\n")
    print("| queries | n | " + " | ".join(f"E <= {c:g}" for c in CUTS) + " |")
    print("|---|---|" + "---|" * len(CUTS))
    for name, seqs in sets.items():
        best = []
        for docs in retriever.retrieve_many(seqs):
            ev = protein_evalues(docs)
            best.append(min(ev) if ev else float("inf"))
        b = np.array(best)
        print(f"| {name} | {len(b)} | " + " | ".join(f"{np.mean(b <= c):.1%}" for c in CUTS) + " |", flush=True)


if __name__ == "__main__":
    main()
