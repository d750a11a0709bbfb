"""Where a protein query's CPU time goes, and what more aligned candidates would buy (issue 7).

Usage::

    .venv/bin/python bench/bench_align_budget.py                       # 600 validation CDS
    .venv/bin/python bench/bench_align_budget.py --queries 300 --blastx-ms 262.7

The shipped protein path (:class:`~dnahlm_rag.fused_retriever.FusedRetriever`) finds ORFs, looks up
the word index's top candidates and aligns the top ``rerank`` of them
(:class:`~dnahlm_rag.protein_align.AlignScorer`). Issue 7 asks for blastx's product F1 at 50x its
CPU speed; this bench says what that budget holds. Queries: CDS of ``--split`` organisms (seed-0
sample of those of at least 90 nt; default the validation organisms, where choices are made), as in
bench/bench_protein.py; every time is CPU time of one thread.

1. **Kernels**: microseconds per Smith-Waterman score (BLOSUM62, gaps 11/1) of real pairs, each
   query's best ORF against its word top ``--kernel-depth`` candidates: parasail's striped,
   scan and diagonal kernels at 8 and 16 bits, the shipped 8-then-16-bit striped one, and Opal's
   inter-sequence kernel (pyopal; only when it is importable, it is not a dependency). Every
   kernel's scores are checked equal to the shipped one's.
2. **Stages**: CPU ms per query (the least of 3 passes, variants interleaved) of the retriever
   re-scoring the top 0 / 50 / 200 candidates by alignment and the top 300 / 500 / 1,000 through
   the seed filter (with the alignments it made), of its ORF finding and of the word search
   alone; the cost of one more aligned candidate; with ``--blastx-ms`` (blastx's CPU ms per query from bench/bench_protein.py), how
   many alignments a 1/50 of it leaves after the other stages.
3. **Candidates**: what the aligned candidates are worth, as product token F1 of the best-aligned
   candidate (the first informative product among the top 5; no score threshold, the ranking
   alone), over queries with an informative product, against alignments per query (candidates
   merged over a query's ORFs as the retriever merges them, :func:`merged`): the shipped
   word index's top N (N = 25 ... 1000), the union of its top 25 with another word design's top 25
   (reduced alphabets, other spaced patterns), and a cascade that aligns deeper only when the best
   hit so far is weaker than ``-log10 E`` = T, and the seed filter of
   :mod:`dnahlm_rag.protein_seeds` over the top 300 / 500 / 1,000 (alignments: those it makes).
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_protein import informative, load_segments, token_f1  # noqa: E402
from dnahlm_rag.fused_retriever import FusedRetriever, analyse_query  # noqa: E402
from dnahlm_rag.index import SegmentIndex  # noqa: E402
from dnahlm_rag.protein_align import GAP_EXTEND, GAP_OPEN, AlignScorer  # noqa: E402
from dnahlm_rag.protein_seeds import ALWAYS, MIN_BOUND, SeededScorer  # noqa: E402
from dnahlm_rag.protein_words import WordConfig, WordIndex  # noqa: E402

#: other word designs whose top 25 joins the shipped index's top 25 (table 3)
ALT_DESIGNS: dict[str, WordConfig] = {
    "murphy15 1111": WordConfig("murphy15", ("1111",)),
    "murphy10 11111": WordConfig("murphy10", ("11111",)),
    "murphy10 1111+11011": WordConfig("murphy10", ("1111", "11011")),
    "aa20 111": WordConfig("aa20", ("111",)),
    "aa20 110011+1100011": WordConfig("aa20", ("110011", "1100011")),
    "murphy15 11011+110011": WordConfig("murphy15", ("11011", "110011")),
}
DEPTHS = (25, 50, 100, 200, 400, 1000)
SEED_DEPTHS = (300, 500, 1000)
#: (re-scorer, candidates re-scored) timed in table 2; SHIPPED: FusedRetriever's defaults
STAGE_VARIANTS = (("align", 0), ("align", 50), ("align", 200), ("seeded", 300), ("seeded", 500), ("seeded", 1000))
SHIPPED = (FusedRetriever.model_fields["rescorer"].default, FusedRetriever.model_fields["rerank"].default)
REPEATS = 3
CASCADES = ((50, 1000), (25, 200, 1000))
CASCADE_T = (2.0, 5.0, 12.0)


# ---------------------------------------------------------------------------------------------
# kernels
def parasail_kernel(kind: str, bits: str) -> Callable[[str, Sequence[str]], list[int]]:
    """Scores of a query against targets with parasail's ``sw_<kind>`` at ``bits`` (8, 16 or
    ``8+16``: 8-bit lanes, 16-bit again where they saturate, what AlignScorer does)."""
    import parasail

    def run(query: str, targets: Sequence[str]) -> list[int]:
        if kind == "diag":
            f = getattr(parasail, f"sw_diag_{bits}")
            return [f(query, t, GAP_OPEN + GAP_EXTEND, GAP_EXTEND, parasail.blosum62).score for t in targets]
        first = bits.split("+")[0]
        prof = getattr(parasail, f"profile_create_{first}")(query, parasail.blosum62)
        f = getattr(parasail, f"sw_{kind}_profile_{first}")
        wide, out = None, []
        for t in targets:
            r = f(prof, t, GAP_OPEN + GAP_EXTEND, GAP_EXTEND)
            if bits == "8+16" and r.saturated:
                wide = wide or parasail.profile_create_16(query, parasail.blosum62)
                r = getattr(parasail, f"sw_{kind}_profile_16")(wide, t, GAP_OPEN + GAP_EXTEND, GAP_EXTEND)
            out.append(r.score)
        return out

    return run


def opal_kernel(proteins: Sequence[str]) -> Callable[[str, Sequence[int]], list[int]]:
    """Opal's inter-sequence SIMD search (pyopal) over ``proteins``, restricted per query to the
    candidate positions given (``Database.extract``); ``*`` reads as ``X`` (Opal has no stop)."""
    import pyopal

    db = pyopal.Database([p.replace("*", "X") for p in proteins])
    aligner = pyopal.Aligner("BLOSUM62", gap_open=GAP_OPEN + GAP_EXTEND, gap_extend=GAP_EXTEND)  # same convention as parasail

    def run(query: str, targets: Sequence[int]) -> list[int]:
        return [r.score for r in aligner.align(query.replace("*", "X"), db.extract(list(targets)))]

    return run


def kernel_table(pairs: list[tuple[str, list[int]]], proteins: list[str]) -> list[str]:
    """Rows of table 1 over ``pairs`` ((query protein, candidate positions))."""
    kinds = [("striped", "8+16", "shipped"), ("striped", "8", ""), ("striped", "16", ""), ("scan", "8+16", ""),
             ("scan", "16", ""), ("diag", "16", "")]
    n = sum(len(t) for _, t in pairs)
    rows, reference = [], None
    runners: list[tuple[str, Callable[[str, list[int]], list[int]]]] = [
        (f"parasail {k} {b}" + (f" ({note})" if note else ""),
         lambda q, ids, f=parasail_kernel(k, b): f(q, [proteins[i] for i in ids])) for k, b, note in kinds]
    if importlib.util.find_spec("pyopal") is not None:
        runners.append(("pyopal (Opal, inter-sequence SIMD)", opal_kernel(proteins)))
    else:
        rows.append("| pyopal (Opal) | not installed | |")
    for name, run in runners:
        t = time.process_time()
        scores = [s for q, ids in pairs for s in run(q, ids)]
        us = (time.process_time() - t) * 1e6 / max(1, n)
        if reference is None:
            reference = scores
        same = "yes" if scores == reference else \
            f"no ({sum(a != b for a, b in zip(scores, reference))} of {n} differ; 8-bit lanes saturate)"
        rows.append(f"| {name} | {us:.1f} | {same} |")
        print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# candidates
def merged(orf_lists: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """One query's candidates over its ORFs, as the retriever merges them: each candidate once,
    with the ORF (number) that ranks it best, ordered by that rank (``orf_lists[orf]``: candidate
    positions, best first; ties go to the earlier ORF)."""
    best: dict[int, tuple[int, int]] = {}
    for o, ids in enumerate(orf_lists):
        for r, t in enumerate(ids):
            if int(t) not in best or r < best[int(t)][0]:
                best[int(t)] = (r, o)
    return [(t, o) for t, (r, o) in sorted(best.items(), key=lambda x: x[1])]


def pick(lists: Sequence[list[tuple[int, int]]], plan: Sequence[int]) -> dict[int, int]:
    """Candidate -> ORF: the first ``plan[d]`` of each design's merged list ``lists[d]``, the
    earlier design's ORF kept for a candidate two designs propose."""
    out: dict[int, int] = {}
    for cands, n in zip(lists, plan):
        for t, o in cands[:n]:
            out.setdefault(t, o)
    return out


def cascade_depth(aligned: np.ndarray, steps: Sequence[int], threshold: float) -> int:
    """How many of a query's candidates (``aligned``: their scores in candidate order) a cascade
    aligns: the first step whose best score reaches ``threshold``, else the last step."""
    n = 0
    for d in steps:
        n = min(d, aligned.size)
        if n and float(aligned[:n].max()) >= threshold:
            break
    return n


def best_product(ranked: Sequence[int], products: Sequence[str]) -> str | None:
    """The first informative product among the top 5 of ``ranked`` (positions, best first), else
    the top one's, None without candidates (bench/bench_protein.py's rule, every hit found)."""
    for i in ranked[:5]:
        if informative(products[i]):
            return products[i]
    return products[ranked[0]] if ranked else None


class Aligned:
    """-log10 E of (ORF protein, candidate) pairs, computed once."""

    def __init__(self, scorer: AlignScorer) -> None:
        self.scorer, self.cache = scorer, {}

    def __call__(self, orf: str, targets: Sequence[int], at_least: Sequence[int] | None = None) -> list[float]:
        need = [r for r, t in enumerate(targets) if (orf, t) not in self.cache]
        if need:
            hint = None if at_least is None else np.asarray(at_least)[need]
            got = self.scorer.score(orf, [targets[r] for r in need], at_least=hint)
            self.cache.update({(orf, targets[r]): float(s) for r, s in zip(need, got)})
        return [self.cache[(orf, t)] for t in targets]

    def score(self, orf: str, targets: Sequence[int], at_least: np.ndarray | None = None) -> np.ndarray:
        """AlignScorer's interface, so a SeededScorer can align through this cache."""
        return np.array(self(orf, [int(t) for t in targets], at_least), dtype=np.float64)


def seeded(cand: dict[int, int], orfs: list[str], scorer: SeededScorer) -> tuple[list[tuple[int, float]], int]:
    """One query's candidates (candidate -> ORF, best first) scored as the retriever scores them
    with ``scorer`` (each ORF's share of the query's first ``always`` aligned regardless), and
    how many it aligned."""
    items = list(cand.items())
    scores = np.zeros(len(items))
    before = scorer.aligned
    for o in {o for _, o in items}:
        rows = [r for r, (_, x) in enumerate(items) if x == o]
        scores[rows] = scorer.score(orfs[o], [items[r][0] for r in rows],
                                    always=sum(r < scorer.always for r in rows))
    return [(t, float(sc)) for (t, _), sc in zip(items, scores)], scorer.aligned - before


def candidate_table(truth: list[str], orfs: list[list[str]], lists: dict[str, list[list[tuple[int, int]]]],
                    aligned: Aligned, products: list[str], seeds: SeededScorer) -> list[str]:
    """Rows of table 3. ``lists[design][query]``: the query's :func:`merged` candidates."""
    def scored(q: int, cand: dict[int, int]) -> list[tuple[int, float]]:
        return [(t, aligned(orfs[q][o], [t])[0]) for t, o in cand.items()]

    def row(name: str, picks: list[list[tuple[int, float]]], cost: Sequence[int] | None = None) -> str:
        f1s = []
        for prod, sc in zip(truth, picks):
            if informative(prod):
                pred = best_product([t for t, _ in sorted(sc, key=lambda x: -x[1])], products)
                f1s.append(token_f1(prod, pred) if pred else 0.0)
        n = np.mean(cost if cost is not None else [len(p) for p in picks])
        line = f"| {name} | {n:.0f} | {np.mean(f1s):.3f} |"
        print(line, flush=True)
        return line

    rows = []
    for n in DEPTHS:
        rows.append(row(f"shipped words, top {n}", [scored(q, pick([lists["shipped"][q]], [n])) for q in range(len(orfs))]))
    for name in ALT_DESIGNS:
        rows.append(row(f"shipped top 25 + {name} top 25",
                        [scored(q, pick([lists["shipped"][q], lists[name][q]], [25, 25])) for q in range(len(orfs))]))
    deepest = [scored(q, pick([lists["shipped"][q]], [max(DEPTHS)])) for q in range(len(orfs))]
    for steps in CASCADES:
        for thr in CASCADE_T:
            picks = [sc[:cascade_depth(np.array([s for _, s in sc]), steps, thr)] for sc in deepest]
            rows.append(row(f"cascade {' -> '.join(map(str, steps))}, deeper while best < {thr:g}", picks))
    for n in SEED_DEPTHS:
        done = [seeded(pick([lists["shipped"][q]], [n]), orfs[q], seeds) for q in range(len(orfs))]
        rows.append(row(f"seed filter over the top {n}: top {ALWAYS} and bound >= {MIN_BOUND:g} aligned",
                        [d[0] for d in done], [d[1] for d in done]))
    return rows


# ---------------------------------------------------------------------------------------------
def stage_table(seqs: list[str], dna: SegmentIndex | None, prot: SegmentIndex, flat_orfs: list[str],
                blastx_ms: float | None) -> list[str]:
    """Rows of table 2 (CPU ms per query)."""
    rows: list[str] = []
    per: dict[tuple[str, int], float] = {}
    aligns: dict[tuple[str, int], float] = {}
    prot.words.search(flat_orfs[:8], 50)  # warm-up: the postings matrix is made on first use
    t = time.process_time()
    for s in seqs:
        analyse_query(s, table=11)
    rows.append(f"| ORF finding (both strands, 2 best ORFs) | {(time.process_time() - t) * 1e3 / len(seqs):.2f} |")
    print(rows[-1], flush=True)
    t = time.process_time()
    prot.words.search(flat_orfs, 50)
    rows.append(f"| word search of those ORFs, top 50 | {(time.process_time() - t) * 1e3 / len(seqs):.2f} |")
    print(rows[-1], flush=True)
    made = {}
    for rescorer, rerank in STAGE_VARIANTS:
        r = FusedRetriever(index=dna, protein_index=prot, k=10, fusion="protein-first", rerank=rerank, rescorer=rescorer)
        r.retrieve_many(seqs[:8], k=10)  # warm-up: the scorer is built (and compiled) on first use
        made[(rescorer, rerank)] = r
    for _ in range(REPEATS):  # the least of REPEATS passes, variants interleaved: this VM's speed drifts
        for key, r in made.items():
            before = getattr(r._scorer, "aligned", 0)
            t = time.process_time()
            r.retrieve_many(seqs, k=10)
            per[key] = min(per.get(key, np.inf), (time.process_time() - t) * 1e3 / len(seqs))
            aligns[key] = (getattr(r._scorer, "aligned", before) - before) / len(seqs)
    for (rescorer, rerank), ms in per.items():
        n = aligns[(rescorer, rerank)] if rescorer == "seeded" else rerank
        rows.append(f"| retriever, {rescorer} over the top {rerank}{' (shipped)' if (rescorer, rerank) == SHIPPED else ''} "
                    f"| {ms:.2f} ({n:.0f} alignments) |")
        print(rows[-1], flush=True)
    each = (per[("align", 200)] - per[("align", 50)]) / 150
    rows.append(f"| one more aligned candidate (align, from 50 to 200) | {each * 1e3:.0f} us |")
    if blastx_ms:
        budget = blastx_ms / 50
        rows.append(f"| 1/50 of blastx ({blastx_ms:g} ms) | {budget:.2f}: room for about "
                    f"{max(0.0, (budget - per[('align', 0)]) / each):.0f} alignments after the other stages |")
    print("\n".join(rows[-2 if blastx_ms else -1:]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=Path, default=ROOT / "data" / "segments.jsonl")
    ap.add_argument("--protein-index", type=Path, default=ROOT / "indexes" / "proteins")
    ap.add_argument("--dna-index", type=Path, default=ROOT / "indexes" / "segments",
                    help="DNA index of the retriever (stage table); skipped when missing")
    ap.add_argument("--split", choices=("valid", "test"), default="valid")
    ap.add_argument("--queries", type=int, default=600)
    ap.add_argument("--kernel-depth", type=int, default=50, help="candidates per query in the kernel table")
    ap.add_argument("--blastx-ms", type=float, help="blastx CPU ms per query (bench/bench_protein.py), for the budget row")
    ap.add_argument("--skip", default="", help="tables to leave out: kernels,stages,candidates")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if not args.segments.is_file() or not (args.protein_index / "manifest.json").is_file():
        raise SystemExit(f"error: needs {args.segments} and a protein index in {args.protein_index} "
                         "(`dnahlm data build`, `dnahlm index build --embedder protein --name proteins`)")
    cds = [c for c in load_segments(args.segments) if c.split == args.split and 90 <= len(c.seq)]
    queries = random.Random(0).sample(cds, min(args.queries, len(cds)))
    seqs = [q.seq for q in queries]
    prot = SegmentIndex.load(args.protein_index, expect_embedder="protein")
    proteins = [re.sub(r"[^A-Z*]", "X", str(d.get("protein") or "").upper()) for d in prot.docs]
    products = [str(d.get("product") or "") for d in prot.docs]
    orfs = [[o.protein for o in analyse_query(s, table=11).orfs] for s in seqs]
    flat = [p for os_ in orfs for p in os_]
    print(f"{len(queries)} {args.split} CDS, {len(flat)} ORFs; {len(prot.docs)} train proteins")
    if "kernels" not in skip:
        _, ids = prot.words.search([os_[0] for os_ in orfs if os_], args.kernel_depth)
        pairs = [(os_[0], [int(i) for i in row if i >= 0]) for os_, row in zip([o for o in orfs if o], ids)]
        print("\n| kernel | us per alignment | scores equal to the shipped kernel's |\n|---|---|---|")
        kernel_table(pairs, proteins)
    if "stages" not in skip:
        dna = SegmentIndex.load(args.dna_index) if (args.dna_index / "manifest.json").is_file() else None
        print("\n| stage | CPU ms per query |\n|---|---|")
        stage_table(seqs, dna, prot, flat, args.blastx_ms)
    if "candidates" not in skip:
        lists: dict[str, list[list[list[int]]]] = {}
        for name, index in [("shipped", prot.words), *((n, None) for n in ALT_DESIGNS)]:
            if index is None:
                t = time.perf_counter()
                index = WordIndex.build(proteins, ALT_DESIGNS[name])
                print(f"built {name} words in {time.perf_counter() - t:.1f} s", flush=True)
            depth = max(DEPTHS) if name == "shipped" else 25
            _, ids = index.search(flat, depth)
            rows = iter([[int(i) for i in row if i >= 0] for row in ids])
            lists[name] = [merged([next(rows) for _ in os_]) for os_ in orfs]
        print("\n| candidates | alignments per query | product F1, best aligned |\n|---|---|---|")
        aligned = Aligned(AlignScorer(proteins))
        candidate_table([q.product for q in queries], orfs, lists, aligned, products,
                        SeededScorer(proteins, aligner=aligned))


if __name__ == "__main__":
    main()
