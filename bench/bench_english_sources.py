"""Tokens per word of the held-out English, by the source each paragraph came from. Prints a table.

Usage::

    .venv/bin/python bench/bench_english_sources.py [--data data] [--cache cache] [--tokenizer runs/tokenizer/tokenizer.json]

``english.valid.txt`` does not record sources, so each line is matched against the cleaned
paragraphs of the source readers (:mod:`dnahlm_rag.data.english`) over the fetched packages in
``--cache``; lines no reader yields are the GenBank feature text. Words are whitespace-separated
(as in ``dnahlm tokenizer train``'s ``english_tokens_per_word``).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnahlm_rag.data.english import (clean, go_definitions, obo_definitions,  # noqa: E402
                                     tutorial_paragraphs, wordnet_glosses)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--cache", type=Path, default=Path("cache"))
    ap.add_argument("--tokenizer", type=Path, default=Path("runs/tokenizer/tokenizer.json"))
    args = ap.parse_args()
    from tokenizers import Tokenizer

    x = args.cache / "extracted"
    valid = [line.rstrip("\n") for line in open(args.data / "pretrain" / "english.valid.txt", encoding="utf-8")]
    wanted, source = set(valid), {}
    readers = [("GO definitions", go_definitions, next(x.rglob("GO.sqlite"), None)),
               ("SO definitions", obo_definitions, next(x.rglob("so.obo"), None)),
               ("ChEBI definitions", obo_definitions, next(x.rglob("chebi.obo"), None)),
               ("Biopython tutorial", tutorial_paragraphs, next(x.rglob("Tutorial.txt.gz"), None))]
    readers += [("WordNet glosses", wordnet_glosses, p) for p in sorted((x / "wordnet-base").rglob("data.*"))]
    for name, read, path in readers:
        if path is None:
            print(f"note: no {name} file under {x}")
            continue
        for para in read(path):
            c = clean(para)
            if c in wanted:
                source.setdefault(c, name)
    tok = Tokenizer.from_file(str(args.tokenizer))
    agg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in valid:
        a = agg[source.get(line, "GenBank feature text")]
        a[0] += 1
        a[1] += len(tok.encode(line).ids)
        a[2] += len(line.split())
    print("| source | paragraphs | words | tokens/word |\n|---|---|---|---|")
    for name, (n, t, w) in sorted(agg.items(), key=lambda kv: -kv[1][2]):
        print(f"| {name} | {n} | {w:,} | {t / w:.2f} |")
    n, t, w = (sum(v[i] for v in agg.values()) for i in range(3))
    print(f"| all | {n} | {w:,} | {t / w:.2f} |")


if __name__ == "__main__":
    main()
