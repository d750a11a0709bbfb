"""Neighbours of tRNA genes: k-mer profiles against the tRNA embedder, on the VALID split.

Usage::

    .venv/bin/python bench/bench_trna.py                 # data/tasks/trna_aa (make demo builds it)
    .venv/bin/python bench/bench_trna.py --ks 1,3,5

For each neighbour finder (:func:`~dnahlm_rag.instruct.TrainNeighbours` over the train split:
canonical k-mer profiles, or :class:`~dnahlm_rag.embed.trna.TrnaEmbedder` with a few weightings)
prints the accuracy of the kNN vote (ties to the nearer neighbour, as in the evaluation's ``knn``
baseline) on the valid tRNAs and the time to embed and search them; then how often the anticodon
read by :func:`~dnahlm_rag.embed.trna.find_anticodon` decodes (table 11) to the label by itself,
with no neighbours. This is how the default weights were chosen; the test split is never read.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_site import print_knn_table  # noqa: E402

from dnahlm_rag.embed.trna import TrnaConfig, TrnaEmbedder, find_anticodon  # noqa: E402
from dnahlm_rag.instruct import TrainNeighbours, read_split  # noqa: E402

THREE = {"A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu", "G": "Gly", "H": "His",
         "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe", "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp",
         "Y": "Tyr", "V": "Val", "*": "Sec"}  # a stop codon read by a tRNA: selenocysteine (UGA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data", help="data folder of `dnahlm data build`")
    ap.add_argument("--task", default="trna_aa")
    ap.add_argument("--ks", default="1,3,5", help="neighbour counts of the vote")
    args = ap.parse_args()
    train, valid = read_split(args.data, args.task, "train"), read_split(args.data, args.task, "valid")
    ks = [int(k) for k in args.ks.split(",")]
    variants = [("default: aa 1, anticodon 0.5, 4-mers 0.5", TrnaConfig()),
                ("aa 1, 4-mers 0.5 (no anticodon block)", TrnaConfig(anticodon_weight=0.0)),
                ("aa 1, anticodon 0.5, 4-mers 1", TrnaConfig(kmer_weight=1.0)),
                ("aa 1, anticodon 0.5, 3-mers 0.5", TrnaConfig(k=3)),
                ("anticodon 1, 4-mers 0.5 (no amino-acid block)", TrnaConfig(aa_weight=0.0, anticodon_weight=1.0))]
    finders = [("k-mer profiles (kmer)", TrainNeighbours(train))]
    finders += [(f"trna, {name}", TrainNeighbours(train, embedder=TrnaEmbedder(cfg))) for name, cfg in variants]
    print(f"{args.task}: {len(train)} train tRNAs, {len(valid)} valid tRNAs "
          f"({', '.join(sorted({str(r.get('organism', '?')) for r in valid}))})")
    print_knn_table(finders, train, valid, ks)
    found = [find_anticodon(r["seq"]) for r in valid]
    right = sum(a is not None and THREE[a.amino_acid] == r["label"] for a, r in zip(found, valid))
    wrong = Counter((r["label"], THREE[a.amino_acid] if a else None) for a, r in zip(found, valid)
                    if a is None or THREE[a.amino_acid] != r["label"])
    print(f"\nanticodon decoded alone (table 11, no neighbours): {right}/{len(valid)} = {right / len(valid):.3f}; "
          f"read for {sum(a is not None for a in found)}; misses (label, decoded): {dict(wrong.most_common())}")


if __name__ == "__main__":
    main()
