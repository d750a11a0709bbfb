"""Does reading a query with its own genetic code (``ask``/``batch --genetic-code``) matter? Prints a table.

Usage::

    .venv/bin/python bench/bench_genetic_code.py [--segments data/segments.jsonl] [--index indexes/proteins]
        [--accession NC_001807.4] [--tables 11,2]

The CDS of one GenBank record (default: the human mitochondrial genome, whose genes use table 2,
vertebrate mitochondrial: TGA codes Trp, AGA/AGG are stops) are searched as DNA queries through
the shipped :class:`~dnahlm_rag.fused_retriever.FusedRetriever` (protein level, the index's
defaults) once per genetic code. Hits from the query's own organism are left out, as if it were
a species the index does not hold (the record's organism is a train organism, so its own genes
are in the index). Columns: the best ORF's length as a share of the annotated gene (mean, and the
share of genes whose best ORF covers at least 90%), the share of queries whose best hit is
significant (E < 1e-5), and the token F1 of the best hit's product against the annotated one
(the measure of ``bench/bench_protein.py``).

A second table measures the hint ``ask``/``batch`` give when the code in use cuts a query into
short ORFs but another code reads it whole (:func:`~dnahlm_rag.fused_retriever.code_hint`), for
queries read with each of ``--tables``: how often it speaks for the record's CDS and for up to
``--hint-sample`` seeded CDS and non-CDS segments of the valid and test organisms (bacteria,
archaea, a protist's mitochondrion that uses the standard code).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_protein import token_f1  # noqa: E402

from dnahlm_rag.fused_retriever import FusedRetriever, code_hint  # noqa: E402
from dnahlm_rag.index import SegmentIndex  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=Path, default=ROOT / "data" / "segments.jsonl")
    ap.add_argument("--index", type=Path, default=ROOT / "indexes" / "proteins", help="protein index folder")
    ap.add_argument("--accession", default="NC_001807.4", help="GenBank record whose CDS are the queries")
    ap.add_argument("--tables", default="11,2", help="genetic codes to compare (the first is the default's)")
    ap.add_argument("--depth", type=int, default=50, help="hits fetched per query before own-organism ones are dropped")
    ap.add_argument("--hint-sample", type=int, default=1000, help="segments per split and kind for the hint table")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with open(args.segments) as f:
        segments = [json.loads(line) for line in f]
    rows = [r for r in segments if r.get("type") == "CDS" and r.get("accession") == args.accession]
    if not rows:
        sys.exit(f"error: no CDS of record {args.accession} in {args.segments}")
    organism = rows[0]["organism"].split()[:2]  # "Homo sapiens (human)" and "Homo sapiens" are one species
    prot = SegmentIndex.load(args.index, expect_embedder="protein")
    print(f"{len(rows)} CDS of {args.accession} ({rows[0]['organism']}); index {args.index}: {len(prot)} proteins; "
          f"hits of {' '.join(organism)} left out")
    print("| genetic code | best ORF / gene (mean) | best ORF >= 90% of gene | best hit E < 1e-5 | product F1 of best hit |")
    print("|---|---|---|---|---|")
    for table in (int(t) for t in args.tables.split(",")):
        r = FusedRetriever(index=None, protein_index=prot, k=args.depth, table=table)
        docs = r.retrieve_many([x["seq"] for x in rows], k=args.depth)
        cover, sig, f1 = [], [], []
        for x, ds in zip(rows, docs):
            orfs = r.analyse(x["seq"]).orfs
            cover.append(min(1.0, (orfs[0].end - orfs[0].start) / len(x["seq"])) if orfs else 0.0)
            other = [d.metadata for d in ds if d.metadata.get("organism", "").split()[:2] != organism]
            top = other[0] if other else None
            sig.append(bool(top) and top.get("evalue", 1.0) < 1e-5)
            f1.append(token_f1(x.get("product") or "", (top or {}).get("product") or ""))
        n = len(rows)
        print(f"| {table} | {sum(cover) / n:.2f} | {sum(c >= 0.9 for c in cover)} of {n} | {sum(sig)} of {n} | "
              f"{sum(f1) / n:.3f} |")

    tables = [int(t) for t in args.tables.split(",")]
    print("\nThe hint (queries read with the code of each column):\n")
    print("| queries | " + " | ".join(f"hinted, read with code {t}" for t in tables) + " | CPU ms/query |")
    print("|---|" + "---|" * len(tables) + "---|")
    sets = [(f"CDS of {args.accession}", rows)]
    rng = random.Random(args.seed)
    for split in ("valid", "test"):
        for kind, keep in (("CDS", lambda r: r.get("type") == "CDS"), ("non-CDS segments", lambda r: r.get("type") != "CDS")):
            pool = [r for r in segments if r.get("split") == split and keep(r)]
            sets.append((f"{split} {kind}", rng.sample(pool, min(args.hint_sample, len(pool)))))
    for name, sel in sets:
        t = time.process_time()
        hinted = [sum(code_hint(r["seq"].upper(), table) is not None for r in sel) for table in tables]
        ms = (time.process_time() - t) * 1000 / max(1, len(sel) * len(tables))
        print(f"| {name} | " + " | ".join(f"{h} of {len(sel)}" for h in hinted) + f" | {ms:.2f} |")


if __name__ == "__main__":
    main()
