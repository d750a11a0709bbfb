"""Neighbours of feature_type windows: k-mer profiles against coding evidence, on the VALID split and
leave-one-organism-out over the train split. Prints two tables.

Usage::

    .venv/bin/python bench/bench_feature_type.py [--data data] [--evidence 1,1.5,2,2.5,3] [--ks 1,3,5]

Table 1: kNN vote (ties to the nearer neighbour, as the evaluation's ``knn`` baseline) on the
valid windows, for :class:`~dnahlm_rag.instruct.TrainNeighbours` (canonical k-mer profiles) and
:class:`~dnahlm_rag.coding_neighbours.CodingNeighbours` at each ``min_evidence`` (``-log10 E``),
with the time per query, first without the rRNA check (``min_conserved=None``: how ``min_evidence``
was chosen), then at the default ``min_evidence`` with the rRNA check at each ``min_conserved``
(k-mer cosine of the nearest non-coding row; how it was chosen). Table 2: each train organism
with at least 20 windows held out in turn, neighbours from the other organisms' windows (k = 3,
the defaults): whether the choices hold beyond the two valid organisms. The test split is never read.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dnahlm_rag.coding_neighbours import MIN_CONSERVED, MIN_EVIDENCE, CodingNeighbours  # noqa: E402
from dnahlm_rag.instruct import TrainNeighbours, read_split  # noqa: E402
from bench_site import knn_accuracies, print_knn_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data", help="data folder of `dnahlm data build`")
    ap.add_argument("--evidence", default="1,1.5,2,2.5,3", help="min_evidence values (-log10 E) for table 1")
    ap.add_argument("--conserved", default="0.13,0.15,0.17,0.2,0.25",
                    help="min_conserved values (k-mer cosine of the nearest rRNA row) for table 1")
    ap.add_argument("--open-e", default="1,0.3,0.1,0.03,0.01",
                    help="max_open_e values (expected chance count of the longest open frame) for table 1")
    ap.add_argument("--loo-open-e", type=float, default=0.1,
                    help="max_open_e of the extra leave-one-organism-out column")
    ap.add_argument("--ks", default="1,3,5", help="neighbour counts of the vote")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    train, valid = read_split(args.data, "feature_type", "train"), read_split(args.data, "feature_type", "valid")
    print(f"feature_type: {len(train)} train windows {dict(Counter(r['label'] for r in train))}; "
          f"{len(valid)} valid windows {dict(Counter(r['label'] for r in valid))} "
          f"({', '.join(sorted({str(r.get('organism')) for r in valid}))})")
    finders = [("k-mer profiles", TrainNeighbours(train))]
    for e in (float(x) for x in args.evidence.split(",")):
        finders.append((f"coding evidence, -log10 E >= {e:g}, no rRNA check",
                        CodingNeighbours(train, min_evidence=e, min_conserved=None, max_open_e=None)))
    for c in (float(x) for x in args.conserved.split(",")):
        finders.append((f"coding evidence, -log10 E >= {MIN_EVIDENCE:g}, rRNA check at cosine >= {c:g}",
                        CodingNeighbours(train, min_conserved=c, max_open_e=None)))
    for o in (float(x) for x in args.open_e.split(",") if x):
        finders.append((f"coding evidence, -log10 E >= {MIN_EVIDENCE:g}, rRNA check at {MIN_CONSERVED:g}, "
                        f"open frame at chance E <= {o:g}", CodingNeighbours(train, max_open_e=o)))
    print_knn_table(finders, train, valid, ks)

    print(f"\nleave one train organism out (k = 3, -log10 E >= {MIN_EVIDENCE:g}, rRNA check at cosine >= {MIN_CONSERVED:g})")
    print(f"| held-out organism | windows | GC | labels | k-mer | coding, no rRNA check | coding (shipped) "
          f"| coding + open frame E <= {args.loo_open_e:g} |\n|---|---|---|---|---|---|---|---|")
    total: Counter = Counter()
    for org, n in Counter(str(r.get("organism")) for r in train).most_common():
        if n < 20:
            continue
        held = [r for r in train if str(r.get("organism")) == org]
        rest = [r for r in train if str(r.get("organism")) != org]
        (a_k,), _ = knn_accuracies(TrainNeighbours(rest), rest, held, [3])
        (a_n,), _ = knn_accuracies(CodingNeighbours(rest, min_conserved=None, max_open_e=None), rest, held, [3])
        (a_c,), _ = knn_accuracies(CodingNeighbours(rest), rest, held, [3])
        (a_o,), _ = knn_accuracies(CodingNeighbours(rest, max_open_e=args.loo_open_e), rest, held, [3])
        total.update(n=len(held), kmer=a_k * len(held), plain=a_n * len(held), coding=a_c * len(held),
                     open=a_o * len(held))
        gc = np.mean([sum(r["seq"].upper().count(b) for b in "GC") / max(1, len(r["seq"])) for r in held])
        labels = ", ".join(f"{k} {v}" for k, v in Counter(r["label"] for r in held).most_common())
        print(f"| {org} | {len(held)} | {gc:.2f} | {labels} | {a_k:.3f} | {a_n:.3f} | {a_c:.3f} | {a_o:.3f} |")
    n = total["n"]
    print(f"| all | {n} | | | {total['kmer'] / n:.3f} | {total['plain'] / n:.3f} | {total['coding'] / n:.3f} "
          f"| {total['open'] / n:.3f} |")


if __name__ == "__main__":
    main()
