"""Protein-level retrieval vs blastn vs blastx on CDS of organisms the index has never seen.

Usage::

    .venv/bin/python bench/bench_protein.py                    # data/segments.jsonl when built,
                                                               # else the GenBank dev set (--genbank)
    .venv/bin/python bench/bench_protein.py --queries 300 --threads 1 --write docs/benchmarks.md

Data. With ``data/segments.jsonl`` (``--segments``): CDS of ``train`` organisms form the index,
``valid`` organisms choose each method's score threshold, ``test`` organisms are the queries. Without
it (``--genbank DIR``, for development): GenBank files found under DIR, with Leptospira kirschneri as
the validation organism and Roseobacter denitrificans as the test organism, everything else the index.

Methods, all over the same train CDS:

* ``blastn``: nucleotide database of the train CDS; query = the test CDS; ``-task blastn``.
* ``blastx``: protein database of the train CDS translated with :func:`translate_cds`
  (table per organism group); query = the test CDS translated in six frames (query's table).
* ``ours:<design>``: FAISS ``IndexFlatIP`` over protein embeddings of the same translations
  (``*-words`` designs: exact sparse k-mer cosine through an inverted file instead,
  :class:`~dnahlm_rag.protein_words.WordIndex`, what the shipped protein index searches with);
  query = the best ``--orfs`` ORFs of the test CDS (:func:`find_orfs`, no annotation used); a
  query's hits over its ORFs are merged by best score.
* ``ours:<design>+rerank<K>``: the embedding's top-K re-scored by a local alignment
  (Biopython ``PairwiseAligner``, BLOSUM62, gap open 11 / extend 1) of ORF vs candidate protein.
* ``ours:<design>+diag<K>``: the embedding's top-K re-scored by
  :class:`~dnahlm_rag.protein_rerank.DiagonalScorer` (shared 3-mers binned by diagonal, ungapped
  BLOSUM62 segment on the best diagonal, as ``-log10`` of its E-value); its note gives the
  validation F1. ``+diag<K>-self``: the same segment score divided by the ORF's self-score (the
  unit before 2026-11-30), which ranks a short ORF's chance hit above a long gene's homolog.
* ``retriever:<variant>``: the shipped :class:`~dnahlm_rag.fused_retriever.FusedRetriever` over
  the built index folders (``--protein-index``, built into a temporary folder when missing, and
  ``--dna-index``, the ``dnahlm ask`` index ``indexes/segments``: kmer+text over *all* train
  segment types), genetic code 11 for the queries (a user does not say the organism), top 10.
  Variants (:data:`FUSED_VARIANTS`): ``protein-only`` (no DNA index), ``dna-only`` (the DNA
  index alone, what ``ask`` did before), ``rrf`` / ``rrf-c5`` (reciprocal-rank fusion, c = 60 / 5),
  ``protein-first`` and ``+diag<N>`` / ``+align<N>`` / ``+seeded<N>`` (the top N protein hits
  re-scored by :class:`~dnahlm_rag.protein_rerank.DiagonalScorer`, by
  :class:`~dnahlm_rag.protein_align.AlignScorer` on every one, or through the seed filter of
  :class:`~dnahlm_rag.protein_seeds.SeededScorer`; the variants without a suffix set ``rerank=0``). Every variant is first scored on the
  validation organisms; the one with the best validation product F1 is marked "chosen on valid"
  in the test table (the test figures play no part in the choice), and the one with
  ``FusedRetriever``'s default settings, what ``ask`` and ``batch`` run, "shipped"
  (:func:`shipped_variant`; the two differ when a later run's validation figures move).

Metrics, per method:

* found: share of queries with a hit. BLAST: e-value < 1e-5. Ours: top score >= the threshold that
  maximises product F1 on the *validation* organisms (no test data is used). The "found means"
  column also gives a null-model threshold, the 99th percentile of the top scores of residue-
  shuffled validation ORFs (about 1% false hits per query), and the share of test queries above it.
* product F1: token F1 between the query's own product and the predicted product, averaged over
  queries whose product is informative. Tokens are lower-cased ``[a-z0-9]+`` words (as sets).
  The prediction is the product of the best-ranked found hit (up to 5) whose product is
  informative; a query with no found hit scores 0. Uninformative products: empty, or containing
  "hypothetical", "uncharacterized"/"uncharacterised" or "unknown function"; queries with such a
  product are left out of F1 (nothing to name) but count for "found".
* F1>=0.5: share of those queries named correctly in the issue's sense.
* Below the table: the shipped retriever variant (and the one chosen on valid, when another) against blastx, paired over the same
  informative test queries (mean F1 difference, queries that differ, and a paired sign-flip
  permutation test, :func:`dnahlm_rag.metrics.paired_permutation`).
* F1, no threshold: product F1 when every returned hit counts (BLAST: e-value < 10), i.e. the
  quality of the ranking alone.
* wall / CPU ms per query: wall-clock and CPU (user + system) time of the whole query batch
  (BLAST: its process, including reading its database; ours: ORF finding + embedding + search +
  re-ranking) divided by the number of queries, with ``--threads`` threads for every method.
  Speed ratios use CPU time, which holds on a machine shared with other jobs where wall time does
  not. Database/index build times (wall) are reported apart.
"""
from __future__ import annotations

import argparse
import os
import sys

_threads = "1"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _threads = sys.argv[_i + 1]
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _threads  # before numpy/faiss load: every method gets the same cores

import atexit  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dnahlm_rag.metrics import paired_permutation  # noqa: E402
from dnahlm_rag.orfs import find_orfs, genetic_code_for, translate_cds  # noqa: E402
from dnahlm_rag.fused_retriever import FusedRetriever  # noqa: E402
from dnahlm_rag.index import IndexConfig, SegmentIndex, build_index, load_records, protein_records  # noqa: E402
from dnahlm_rag.protein_embed import KmerBlock, ProteinEmbedConfig, ProteinEmbedder  # noqa: E402
from dnahlm_rag.protein_rerank import DiagonalConfig, DiagonalScorer, encode  # noqa: E402
from dnahlm_rag.protein_words import WordConfig, WordIndex  # noqa: E402

# ---------------------------------------------------------------------------------------------
# designs measured against each other (name -> config)
DESIGNS: dict[str, ProteinEmbedConfig] = {
    "aa20-k3": ProteinEmbedConfig([KmerBlock("aa20", "111")], dim=2048),        # 8000 words hashed
    "m10-k3": ProteinEmbedConfig([KmerBlock("murphy10", "111")], dim=1000),     # exact
    "m15-k3": ProteinEmbedConfig([KmerBlock("murphy15", "111")], dim=2048),     # 3375 words hashed
    "m10-k4": ProteinEmbedConfig([KmerBlock("murphy10", "1111")], dim=2048),    # 10^4 words hashed
    "m10-k4-noidf": ProteinEmbedConfig([KmerBlock("murphy10", "1111")], dim=2048, idf=False),
    "m10-k4-exact": ProteinEmbedConfig([KmerBlock("murphy10", "1111")], dim=10000),
    "aa20-k3+m10-k4": ProteinEmbedConfig([KmerBlock("aa20", "111"), KmerBlock("murphy10", "1111")], dim=2048),
}
#: sparse exact-word designs (inverted file, no FAISS): name -> WordConfig
WORD_DESIGNS: dict[str, WordConfig] = {
    "aa20-k4+11011-words": WordConfig("aa20", ("1111", "11011")),  # 4-mers and spaced 4-mers: shipped
    "aa20-k4-words": WordConfig("aa20", ("1111",)),     # 160,000 exact 4-mers: shipped until 2026-11-30
    "m15-k4-words": WordConfig("murphy15", ("1111",)),
    "m10-k5-words": WordConfig("murphy10", ("11111",)),
}


class WordsDesign:
    """A :class:`WordIndex` behind the embedder + FAISS interface that :func:`search` uses
    (``embed`` hands the proteins through; the index searches protein strings)."""

    def __init__(self, config: WordConfig) -> None:
        self.config, self.index = config, None

    @property
    def dim(self) -> int:
        return self.config.n_words

    def fit(self, proteins: list[str]) -> "WordsDesign":
        self.index = WordIndex.build(proteins, self.config)
        return self

    def embed(self, proteins: list[str]) -> list[str]:
        return list(proteins)


@dataclass
class Cds:
    id: str
    organism: str
    product: str
    seq: str       # nucleotides 5'->3'
    split: str
    table: int
    protein: str = ""


# ---------------------------------------------------------------------------------------------
# data
DEV_VALID, DEV_TEST = "Leptospira", "Roseobacter"


def load_segments(path: Path) -> list[Cds]:
    out = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") != "CDS" or not r.get("seq"):
                continue
            org = r.get("organism") or ""
            out.append(Cds(r["id"], org, r.get("product") or "", r["seq"].upper(), r["split"], genetic_code_for(org)))
    return out


def load_genbank(folder: Path) -> list[Cds]:
    """Dev set: every distinct GenBank file under ``folder`` (duplicates by content skipped)."""
    from Bio import SeqIO
    import warnings

    warnings.simplefilter("ignore")
    out, seen = [], set()
    files = sorted(p for p in folder.rglob("*.gbk*") if p.name.endswith((".gbk", ".gbk.gz")))
    for p in files:
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rt") as h:
            for rec in SeqIO.parse(h, "genbank"):
                key = (rec.id, len(rec.seq))
                if key in seen:
                    continue
                seen.add(key)
                org = rec.annotations.get("organism", "")
                if org in ("Genus species", "synthetic DNA construct", ""):
                    continue  # unknown organism: could be anything, keep it out of every split
                src = next((f for f in rec.features if f.type == "source"), None)
                organelle = src.qualifiers.get("organelle", [None])[0] if src is not None else None
                table = genetic_code_for(org, lineage=rec.annotations.get("taxonomy", []), organelle=organelle)
                split = "valid" if org.startswith(DEV_VALID) else "test" if org.startswith(DEV_TEST) else "train"
                for f in rec.features:
                    if f.type != "CDS" or "pseudo" in f.qualifiers:
                        continue
                    try:
                        s = str(f.extract(rec.seq)).upper()
                    except Exception:
                        continue
                    out.append(Cds(f"{rec.id}:{int(f.location.start)}-{int(f.location.end)}:{f.location.strand}",
                                   org, f.qualifiers.get("product", [""])[0], s, split, table))
    return out


# ---------------------------------------------------------------------------------------------
# product names
_TOK = re.compile(r"[a-z0-9]+")
_UNINFORMATIVE = re.compile(r"hypothetical|uncharacteri[sz]ed|unknown function")


def informative(product: str) -> bool:
    return bool(product.strip()) and not _UNINFORMATIVE.search(product.lower())


def token_f1(truth: str, pred: str) -> float:
    a, b = set(_TOK.findall(truth.lower())), set(_TOK.findall(pred.lower()))
    common = len(a & b)
    if not common:
        return 0.0
    p, r = common / len(b), common / len(a)
    return 2 * p * r / (p + r)


def predicted_product(hits: list[tuple[int, float]], train: list[Cds], found) -> str | None:
    """Product of the best-ranked found hit with an informative product (first 5 hits)."""
    passing = [i for i, s in hits[:5] if found(s)]
    if not passing:
        return None
    for i in passing:
        if informative(train[i].product):
            return train[i].product
    return train[passing[0]].product


@dataclass
class Outcome:
    method: str
    found: float
    f1: float
    f1_half: float
    ms_per_query: float
    cpu_ms: float
    build_s: float
    note: str = ""
    f1_any: float = 0.0  # product F1 when every returned hit counts as found (ranking alone)
    per_query: list[float] = field(default_factory=list, repr=False)  # product F1 of each informative query, in order


def score(method: str, queries: list[Cds], train: list[Cds], hits: list[list[tuple[int, float]]], found,
          ms: float, cpu_ms: float, build_s: float, note: str = "") -> Outcome:
    n_found, f1s, f1_any = 0, [], []
    for q, h in zip(queries, hits):
        ok = bool(h) and found(h[0][1])
        n_found += ok
        if informative(q.product):
            pred = predicted_product(h, train, found)
            f1s.append(token_f1(q.product, pred) if pred else 0.0)
            pred = predicted_product(h, train, lambda s: True)
            f1_any.append(token_f1(q.product, pred) if pred else 0.0)
    f1 = float(np.mean(f1s)) if f1s else 0.0
    half = float(np.mean([x >= 0.5 for x in f1s])) if f1s else 0.0
    return Outcome(method, n_found / len(queries), f1, half, ms, cpu_ms, build_s, note,
                   float(np.mean(f1_any)) if f1_any else 0.0, f1s)


# ---------------------------------------------------------------------------------------------
# BLAST
def _fasta(path: Path, items: list[tuple[str, str]]) -> None:
    with open(path, "w") as f:
        for name, s in items:
            f.write(f">{name}\n{s}\n")


def run_blast(kind: str, queries: list[Cds], train: list[Cds], work: Path, threads: int) -> tuple[list, float, float, float]:
    """(hits per query as [(train index, -evalue)], wall ms per query, CPU ms per query, db build s)."""
    dbtype = "nucl" if kind == "blastn" else "prot"
    db = work / f"db_{dbtype}"
    if dbtype == "nucl":
        _fasta(work / "train_nt.fa", [(str(i), c.seq) for i, c in enumerate(train)])
        src = work / "train_nt.fa"
    else:
        _fasta(work / "train_aa.fa", [(str(i), c.protein.replace("*", "X")) for i, c in enumerate(train) if c.protein])
        src = work / "train_aa.fa"
    t = time.perf_counter()
    if not (db.with_suffix(".pin").exists() or db.with_suffix(".nin").exists()):
        subprocess.run(["makeblastdb", "-in", str(src), "-dbtype", dbtype, "-out", str(db)], check=True,
                       capture_output=True)
    build = time.perf_counter() - t
    qf = work / "queries.fa"
    _fasta(qf, [(str(i), q.seq) for i, q in enumerate(queries)])
    cmd = [kind, "-query", str(qf), "-db", str(db), "-evalue", "10", "-max_target_seqs", "20",
           "-outfmt", "6 qseqid sseqid evalue bitscore", "-num_threads", str(threads)]
    if kind == "blastn":
        cmd += ["-task", "blastn"]
    else:
        cmd += ["-query_gencode", str(queries[0].table)]
    t, c = time.perf_counter(), _child_cpu()
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    ms = (time.perf_counter() - t) * 1000 / len(queries)
    cpu_ms = (_child_cpu() - c) * 1000 / len(queries)
    hits: list[list[tuple[int, float]]] = [[] for _ in queries]
    for line in res.stdout.splitlines():
        q, s, e, _ = line.split("\t")
        h = hits[int(q)]
        if all(int(s) != j for j, _ in h):  # HSPs of one subject: keep the first (best)
            h.append((int(s), -float(e)))
    return hits, ms, cpu_ms, build


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------------------------
# ours
def query_orfs(queries: list[Cds], n_orfs: int) -> list[list[str]]:
    return [[o.protein for o in find_orfs(q.seq, table=q.table, min_codons=30, max_orfs=n_orfs).orfs] for q in queries]


def search(embedder: ProteinEmbedder, index, orfs: list[list[str]], k: int) -> list[list[tuple[int, float, int]]]:
    """Per query: [(train index, score, which ORF)] best first, merged over the query's ORFs."""
    flat = [p for ps in orfs for p in ps]
    owner = [qi for qi, ps in enumerate(orfs) for _ in ps]
    which = [j for ps in orfs for j in range(len(ps))]
    out: list[dict[int, tuple[float, int]]] = [dict() for _ in orfs]
    if flat:
        D, I = index.search(embedder.embed(flat), k)
        for row in range(len(flat)):
            best = out[owner[row]]
            for s, i in zip(D[row], I[row]):
                if i >= 0 and (i not in best or s > best[i][0]):
                    best[int(i)] = (float(s), which[row])
    return [sorted(((i, s, w) for i, (s, w) in b.items()), key=lambda x: -x[1]) for b in out]


_ALIGNER = None


def aligner():
    global _ALIGNER
    if _ALIGNER is None:
        from Bio import Align
        from Bio.Align import substitution_matrices

        _ALIGNER = Align.PairwiseAligner(mode="local", substitution_matrix=substitution_matrices.load("BLOSUM62"),
                                         open_gap_score=-11, extend_gap_score=-1)
    return _ALIGNER


def _clean(p: str) -> str:
    return p.replace("*", "X")


def rerank(hits: list[list[tuple[int, float, int]]], orfs: list[list[str]], train: list[Cds], k: int):
    """Re-score each query's top-k candidates by local alignment score / the ORF's self-score
    (1.0 = identical over the whole ORF)."""
    al = aligner()
    out = []
    for h, ps in zip(hits, orfs):
        self_scores = [max(1.0, al.score(_clean(p), _clean(p))) for p in ps]
        scored = [(i, al.score(_clean(ps[w]), _clean(train[i].protein)) / self_scores[w], w) for i, _, w in h[:k]]
        out.append(sorted(scored, key=lambda x: -x[1]))
    return out


def diag_rerank(scorer: DiagonalScorer, hits: list[list[tuple[int, float, int]]], orfs: list[list[str]], k: int,
                unit: str = "evalue"):
    """Re-score each query's top-k candidates with :class:`DiagonalScorer` (shared 3-mers on the best
    diagonal, ungapped BLOSUM62 segment), each with the ORF that found it; ``unit`` "evalue"
    (``-log10 E``, what the retriever ships) or "self" (raw score / the ORF's BLOSUM62 self-score)."""
    out = []
    for h, ps in zip(hits, orfs):
        h = h[:k]
        scores = np.zeros(len(h))
        for w, p in enumerate(ps):
            sel = [r for r, x in enumerate(h) if x[2] == w]
            if sel and unit == "self":
                q = encode(p)
                scores[sel] = scorer.raw(p, [h[r][0] for r in sel]) / max(1.0, float(scorer.matrix[q, q].sum()))
            elif sel:
                scores[sel] = scorer.score(p, [h[r][0] for r in sel])
        out.append(sorted(((i, float(sc), w) for (i, _, w), sc in zip(h, scores)), key=lambda x: -x[1]))
    return out


def shuffled(orfs: list[list[str]], seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [["".join(rng.sample(p, len(p))) for p in ps] for ps in orfs]


def threshold(null_hits: list[list[tuple[int, float, int]]], q: float = 0.99) -> float:
    """The ``q`` quantile of the top scores that residue-shuffled queries get (a null model)."""
    tops = [h[0][1] if h else 0.0 for h in null_hits]
    return float(np.quantile(tops, q))


def best_threshold(valid: list[Cds], train: list[Cds], hits: list[list[tuple[int, float, int]]]) -> float:
    """The top-score cut-off that maximises product F1 on the validation queries."""
    pairs = [[(i, s) for i, s, _ in h] for h in hits]
    cands = sorted({math.floor(h[0][1] * 1e4) / 1e4 for h in hits if h})  # floor: the top itself passes
    best, best_f1 = float("inf"), -1.0
    for tau in cands:
        f1 = score("", valid, train, pairs, lambda s, t=tau: s >= t, 0, 0, 0).f1
        if f1 > best_f1:
            best, best_f1 = tau, f1
    return best


# ---------------------------------------------------------------------------------------------
# the shipped retriever (FusedRetriever) over built index folders
FUSED_VARIANTS: dict[str, dict] = {
    "protein-only": {"dna": False, "rerank": 0},
    "dna-only": {"protein": False},
    "rrf": {"fusion": "rrf", "rerank": 0},
    "rrf-c5": {"fusion": "rrf", "rrf_c": 5.0, "rerank": 0},
    "protein-first": {"fusion": "protein-first", "rerank": 0},
    "protein-first+diag25": {"fusion": "protein-first", "rerank": 25, "rescorer": "diagonal"},
    "protein-first+diag50": {"fusion": "protein-first", "rerank": 50, "rescorer": "diagonal"},
    "protein-first+diag100": {"fusion": "protein-first", "rerank": 100, "rescorer": "diagonal"},
    "rrf-c5+diag50": {"fusion": "rrf", "rrf_c": 5.0, "rerank": 50, "rescorer": "diagonal"},
    "protein-first+align50": {"fusion": "protein-first", "rerank": 50, "rescorer": "align"},
    "protein-first+align100": {"fusion": "protein-first", "rerank": 100, "rescorer": "align"},
    "protein-first+align200": {"fusion": "protein-first", "rerank": 200, "rescorer": "align"},
    "protein-first+seeded50": {"fusion": "protein-first", "rerank": 50, "rescorer": "seeded"},
    "protein-first+seeded300": {"fusion": "protein-first", "rerank": 300, "rescorer": "seeded"},
    "protein-first+seeded500": {"fusion": "protein-first", "rerank": 500, "rescorer": "seeded"},
    "protein-first+seeded1000": {"fusion": "protein-first", "rerank": 1000, "rescorer": "seeded"},
}


def shipped_variant() -> str | None:
    """The :data:`FUSED_VARIANTS` entry whose settings are :class:`FusedRetriever`'s defaults
    (what ``ask`` and ``batch`` run), or None when none is."""
    d = {k: FusedRetriever.model_fields[k].default for k in ("fusion", "rrf_c", "rerank", "rescorer")}
    for name, v in FUSED_VARIANTS.items():
        if v.get("dna", True) and v.get("protein", True) and {k: v.get(k, d[k]) for k in d} == d:
            return name
    return None


def load_fused_indexes(args, segments: Path) -> tuple[SegmentIndex | None, SegmentIndex, float]:
    """(DNA index or None, protein index, protein index build seconds: 0 when it was on disk)."""
    dna = SegmentIndex.load(args.dna_index) if (args.dna_index / "manifest.json").is_file() else None
    if dna is None:
        print(f"note: no DNA index at {args.dna_index}: only the protein-only variants run")
    build = 0.0
    pdir = args.protein_index
    if not (pdir / "manifest.json").is_file():
        tmp = Path(tempfile.mkdtemp(prefix="bench-proteins-"))
        atexit.register(shutil.rmtree, tmp, True)  # about 100 MB; pass --protein-index to keep one
        pdir = tmp / "proteins"
        t = time.perf_counter()
        docs, source = load_records(segments.parent, splits=["train"])
        build_index(protein_records(docs), pdir, IndexConfig(embedder="protein"), source, show_progress=False)
        build = time.perf_counter() - t
        print(f"built a protein index in {pdir} ({build:.1f} s)")
    return dna, SegmentIndex.load(pdir, expect_embedder="protein"), build


def fused_hits(retriever: FusedRetriever | None, dna: SegmentIndex | None, queries: list[Cds], pool: dict,
               products: list[str], k: int = 10) -> tuple[list[list[tuple[int, float]]], float, float]:
    """Hits per query as [(pool index, fused score)], wall ms and CPU ms per query."""
    t, c = time.perf_counter(), time.process_time()
    if retriever is not None:
        docs = retriever.retrieve_many([q.seq for q in queries], k=k)
        rows = [[(d.metadata["id"], d.metadata["product"], float(d.metadata["score"])) for d in ds] for ds in docs]
    else:
        assert dna is not None
        rows = [[(h.doc["id"], h.doc.get("product"), h.score) for h in hs] for hs in dna.search([q.seq for q in queries], k=k)]
    ms = (time.perf_counter() - t) * 1000 / len(queries)
    cpu = (time.process_time() - c) * 1000 / len(queries)
    out = []
    for row in rows:
        h = []
        for i, prod, sc in row:
            if i not in pool:
                pool[i] = len(products)
                products.append(prod or "")
            h.append((pool[i], sc))
        out.append(h)
    return out, ms, cpu


def run_fused(args, segments: Path, valid: list[Cds], test: list[Cds]) -> tuple[list[Outcome], list[str]]:
    """Test outcomes of every :data:`FUSED_VARIANTS` entry, and the validation table's lines."""
    dna, prot, build = load_fused_indexes(args, segments)
    pool: dict[str, int] = {}
    products: list[str] = []
    fake = _Products(products)
    variants = {n: v for n, v in FUSED_VARIANTS.items() if dna is not None or v.get("dna") is False}
    made: dict[str, FusedRetriever | None] = {}
    for name, v in variants.items():
        kw = {k: x for k, x in v.items() if k not in ("dna", "protein")}
        made[name] = None if v.get("protein") is False else \
            FusedRetriever(index=dna if v.get("dna", True) else None, protein_index=prot, k=10,
                           max_orfs=args.orfs, **kw)
    val_lines = ["| variant | product F1 | F1>=0.5 | F1, no threshold |", "|---|---|---|---|"]
    taus, val_f1 = {}, {}
    for name, r in made.items():
        hits, _, _ = fused_hits(r, dna, valid, pool, products)
        taus[name] = best_threshold(valid, fake, [[(i, s, 0) for i, s in h] for h in hits])
        o = score(name, valid, fake, hits, lambda s, t=taus[name]: s >= t, 0, 0, 0)
        val_f1[name] = o.f1
        val_lines.append(f"| {name} | {o.f1:.3f} | {o.f1_half:.1%} | {o.f1_any:.3f} |")
        print("valid", o)
    chosen = max(val_f1, key=lambda n: val_f1[n])
    out = []
    for name, r in made.items():
        hits, ms, cpu = fused_hits(r, dna, test, pool, products)
        note = f"score >= {taus[name]:.4f}" + ("; shipped" if name == shipped_variant() else "") \
            + ("; chosen on valid" if name == chosen else "")
        out.append(score(f"retriever:{name}", test, fake, hits, lambda s, t=taus[name]: s >= t, ms, cpu, build, note))
        print(out[-1])
    return out, val_lines


class _Products:
    """Index -> object with ``.product``: what :func:`score` reads from its ``train`` list."""

    def __init__(self, products: list[str]) -> None:
        self.products = products

    def __getitem__(self, i: int) -> Cds:
        return Cds("", "", self.products[i], "", "", 11)


# ---------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=Path, default=ROOT / "data" / "segments.jsonl")
    ap.add_argument("--genbank", type=Path, help="dev set (a folder of GenBank files) when segments are absent")
    ap.add_argument("--queries", type=int, default=300, help="test CDS sampled as queries")
    ap.add_argument("--valid", type=int, default=300, help="validation CDS sampled for thresholds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--orfs", type=int, default=2, help="best ORFs per query searched")
    ap.add_argument("--designs", default=",".join([*DESIGNS, *WORD_DESIGNS]))
    ap.add_argument("--rerank", default="m10-k4:10,m10-k4-exact:10", help="design:K pairs to re-rank, comma-separated")
    ap.add_argument("--diag", default="m10-k3:50,aa20-k4-words:50,aa20-k4-words:50:self,aa20-k4+11011-words:25,"
                                      "aa20-k4+11011-words:50,aa20-k4+11011-words:100",
                    help="design:K[:self] items whose top K are re-scored by the diagonal scorer, comma-separated "
                         "(':self': in units of the ORF's self-score instead of -log10 E)")
    ap.add_argument("--skip-blast", action="store_true")
    ap.add_argument("--protein-index", type=Path, default=ROOT / "indexes" / "proteins",
                    help="protein index folder for the retriever rows (built in a temporary folder when missing)")
    ap.add_argument("--dna-index", type=Path, default=ROOT / "indexes" / "segments", help="DNA index folder")
    ap.add_argument("--skip-fused", action="store_true", help="leave out the retriever:* rows")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", type=Path, help="update this markdown file's 'Protein-level retrieval' section")
    ap.add_argument("--plot", type=Path, help="write a PNG of test product F1 against CPU speed relative to blastx")
    args = ap.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.segments.is_file():
        cds, source = load_segments(args.segments), str(args.segments)
    elif args.genbank:
        cds, source = load_genbank(args.genbank), f"GenBank files under {args.genbank} (dev set)"
    else:
        sys.exit(f"error: {args.segments} not found (run `dnahlm data build`) and no --genbank folder given")
    for c in cds:
        c.protein = translate_cds(c.seq, c.table)
    train = [c for c in cds if c.split == "train" and len(c.protein) >= 10]
    pools = {s: [c for c in cds if c.split == s and len(c.seq) >= 90] for s in ("valid", "test")}
    # each sample from its own generator: the validation sample (and so every choice made on it)
    # does not depend on --queries (until 2026-11-30 it was drawn after the test sample, from the same one)
    test = random.Random(args.seed).sample(pools["test"], min(args.queries, len(pools["test"])))
    valid = random.Random(args.seed).sample(pools["valid"], min(args.valid, len(pools["valid"])))
    orgs = {s: sorted({c.organism for c in cds if c.split == s}) for s in ("train", "valid", "test")}
    print(f"data: {source}; loaded in {time.perf_counter() - t0:.1f}s")
    print(f"index: {len(train)} CDS of {len(orgs['train'])} organisms; valid: {len(valid)} of {orgs['valid']}; "
          f"test: {len(test)} of {orgs['test']}")
    n_inf = sum(informative(q.product) for q in test)
    print(f"test queries with an informative product: {n_inf}/{len(test)}")

    results: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_blast:
            for kind in ("blastn", "blastx"):
                hits, ms, cpu, build = run_blast(kind, test, train, work, args.threads)
                results.append(score(kind, test, train, hits, lambda s: s > -1e-5, ms, cpu, build, "e-value < 1e-5"))
                print(results[-1])

    rerank_plan: dict[str, list[int]] = {}
    for item in filter(None, args.rerank.split(",")):
        d, k = item.split(":")
        rerank_plan.setdefault(d, []).append(int(k))
    diag_plan: dict[str, list[tuple[int, str]]] = {}
    for item in filter(None, args.diag.split(",")):
        d, k, *unit = item.split(":")
        diag_plan.setdefault(d, []).append((int(k), "self" if unit == ["self"] else "evalue"))
    designs = [d for d in args.designs.split(",") if d]
    designs += [d for d in [*rerank_plan, *diag_plan] if d not in designs]
    designs = list(dict.fromkeys(designs))
    scorer: DiagonalScorer | None = None
    orf_time, orf_cpu = time.perf_counter(), time.process_time()
    test_orfs = query_orfs(test, args.orfs)
    orf_ms = (time.perf_counter() - orf_time) * 1000 / len(test)
    orf_cpu = (time.process_time() - orf_cpu) * 1000 / len(test)
    valid_orfs = query_orfs(valid, args.orfs)
    null_orfs = shuffled(valid_orfs, args.seed)
    print(f"ORF finding: {orf_ms:.2f} ms/query; queries without ORF: {sum(not o for o in test_orfs)}")
    for name in designs:
        emb = WordsDesign(WORD_DESIGNS[name]) if name in WORD_DESIGNS else ProteinEmbedder(DESIGNS[name])
        t = time.perf_counter()
        proteins = [c.protein for c in train]
        vecs = emb.fit(proteins).embed(proteins)
        if isinstance(emb, WordsDesign):
            index = emb.index
        else:
            index = faiss.IndexFlatIP(emb.dim)
            index.add(vecs)
        build = time.perf_counter() - t
        kmax = max([10, *rerank_plan.get(name, []), *(k for k, _ in diag_plan.get(name, []))])
        valid_hits = search(emb, index, valid_orfs, kmax)
        tau = best_threshold(valid, train, valid_hits)
        tau_null = threshold(search(emb, index, null_orfs, 1))
        t, c = time.perf_counter(), time.process_time()
        hits = search(emb, index, test_orfs, kmax)
        ms = (time.perf_counter() - t) * 1000 / len(test) + orf_ms
        cpu = (time.process_time() - c) * 1000 / len(test) + orf_cpu
        pairs = [[(i, s) for i, s, _ in h] for h in hits]
        null_found = np.mean([bool(h) and h[0][1] >= tau_null for h in hits])
        results.append(score(f"ours:{name}", test, train, pairs, lambda s, tau=tau: s >= tau, ms, cpu, build,
                             f"cosine >= {tau:.3f} (null 1%: >= {tau_null:.3f}, found {null_found:.0%}); "
                             f"dim {emb.dim}"))
        print(results[-1])
        for k in rerank_plan.get(name, []):
            tau_r = best_threshold(valid, train, rerank([h[:k] for h in valid_hits], valid_orfs, train, k))
            tau_rnull = threshold(rerank(search(emb, index, null_orfs, k), null_orfs, train, k))
            t, c = time.perf_counter(), time.process_time()
            rr = rerank([h[:k] for h in hits], test_orfs, train, k)
            ms_r = ms + (time.perf_counter() - t) * 1000 / len(test)
            cpu_r = cpu + (time.process_time() - c) * 1000 / len(test)
            null_found = np.mean([bool(h) and h[0][1] >= tau_rnull for h in rr])
            results.append(score(f"ours:{name}+rerank{k}", test, train, [[(i, s) for i, s, _ in h] for h in rr],
                                 lambda s, tau=tau_r: s >= tau, ms_r, cpu_r, build,
                                 f"aligned/self >= {tau_r:.3f} (null 1%: >= {tau_rnull:.3f}, found {null_found:.0%})"))
            print(results[-1])

        for k, unit in diag_plan.get(name, []):
            if scorer is None:
                t = time.perf_counter()
                scorer = DiagonalScorer([c.protein for c in train], DiagonalConfig())
                print(f"diagonal scorer over the train proteins: {time.perf_counter() - t:.1f} s")
            vr = diag_rerank(scorer, valid_hits, valid_orfs, k, unit)
            tau_r = best_threshold(valid, train, vr)
            v_f1 = score("", valid, train, [[(i, s) for i, s, _ in h] for h in vr], lambda s, t=tau_r: s >= t,
                         0, 0, 0).f1
            tau_rnull = threshold(diag_rerank(scorer, search(emb, index, null_orfs, k), null_orfs, k, unit))
            t, c = time.perf_counter(), time.process_time()
            rr = diag_rerank(scorer, hits, test_orfs, k, unit)
            ms_r = ms + (time.perf_counter() - t) * 1000 / len(test)
            cpu_r = cpu + (time.process_time() - c) * 1000 / len(test)
            null_found = np.mean([bool(h) and h[0][1] >= tau_rnull for h in rr])
            label = "diagonal/self" if unit == "self" else "-log10 E"
            results.append(score(f"ours:{name}+diag{k}" + ("-self" if unit == "self" else ""), test, train,
                                 [[(i, s) for i, s, _ in h] for h in rr], lambda s, tau=tau_r: s >= tau, ms_r, cpu_r,
                                 build, f"{label} >= {tau_r:.3f} (null 1%: >= {tau_rnull:.3f}, found "
                                 f"{null_found:.0%}); valid F1 {v_f1:.3f}"))
            print(results[-1])

    val_lines: list[str] = []
    if not args.skip_fused and args.segments.is_file():
        fused, val_lines = run_fused(args, args.segments, valid, test)
        results += fused

    blastx = next((r for r in results if r.method == "blastx"), None)
    header = ("| method | found | product F1 | F1>=0.5 | F1, no threshold | wall ms/query | CPU ms/query "
              "| CPU speed vs blastx | build s | found means |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        speed = f"{blastx.cpu_ms / r.cpu_ms:.1f}x" if blastx else "-"
        lines.append(f"| {r.method} | {r.found:.1%} | {r.f1:.3f} | {r.f1_half:.1%} | {r.f1_any:.3f} "
                     f"| {r.ms_per_query:.1f} | {r.cpu_ms:.1f} | {speed} "
                     f"| {r.build_s:.1f} | {r.note} |")
    table = "\n".join(lines)
    print()
    print(table)
    cpu = platform.processor() or platform.machine()
    meta = (f"Data: {source}. Index: {len(train)} CDS of {len(orgs['train'])} organisms. Thresholds from the "
            f"validation organism(s) {', '.join(orgs['valid'])} ({len(valid)} CDS). Queries: {len(test)} CDS "
            f"(seed {args.seed}) of {', '.join(orgs['test'])}, {n_inf} with an informative product. "
            f"{args.threads} thread(s) for every method, {os.cpu_count()}-core CPU ({cpu}). "
            f"Ours searches the best {args.orfs} ORF(s) per query.")
    chosen = next((r for r in results if r.note.endswith("chosen on valid")), None)
    shipped = next((r for r in results if "; shipped" in r.note), None)
    compared = [("Shipped retriever", shipped)] + ([("Retriever chosen on valid", chosen)] if chosen is not shipped else [])
    for who, r in compared:
        if blastx and r:
            t = paired_permutation(r.per_query, blastx.per_query)
            meta += (f" {who} ({r.method}) against blastx, paired over the {len(r.per_query)} informative "
                     f"queries: product F1 {r.f1:.3f} vs {blastx.f1:.3f} ({t['mean_difference']:+.3f}), "
                     f"{t['differing']} queries differ, {t['method']} p = {t['p_value']:.3g}, "
                     f"{blastx.cpu_ms / r.cpu_ms:.0f}x blastx's CPU speed.")
    print(meta)
    if val_lines:
        table += ("\n\nRetriever variants on the validation organisms (how the shipped rule was chosen; same "
                  "metrics):\n\n" + "\n".join(val_lines))
        print("\n".join(val_lines))
    if args.write:
        cmd = "python bench/bench_protein.py " + " ".join(sys.argv[1:])
        write_section(args.write, f"Test organisms: {', '.join(orgs['test'])}", table, meta, cmd)
    if args.plot and blastx:
        plot_tradeoff(results, blastx, chosen, args.plot, shipped)
        print(f"plot: {args.plot}")


def plot_tradeoff(results: list[Outcome], blastx: Outcome, chosen: Outcome | None, path: Path,
                  shipped: Outcome | None = None) -> None:
    """Test product F1 against CPU speed relative to blastx (log scale), one point per method,
    with blastx's F1 and the issue's 50x line: what each design trades. A star marks the shipped
    retriever (FusedRetriever's defaults), a diamond the variant best on valid when it differs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dnahlm_rag.atomic import write_png

    fig, ax = plt.subplots(figsize=(9, 5.5))
    colors = {"blast": "black", "retriever": "tab:red", "design": "tab:blue"}
    for kind, label in (("design", "an embedding or word design (ours:*)"), ("retriever", "the shipped retriever's variants")):
        rows = [r for r in results if (r.method.startswith("retriever:") == (kind == "retriever"))
                and not r.method.startswith("blast")]
        ax.scatter([blastx.cpu_ms / r.cpu_ms for r in rows], [r.f1 for r in rows], s=25, color=colors[kind],
                   label=label, zorder=3)
    ours = [r for r in results if r.method.startswith("ours:")]
    named = [r for r in results if r.method.startswith("blast")] + [r for r in (shipped, chosen) if r] + \
        ([max(ours, key=lambda r: r.f1)] if ours else [])
    for r in [r for i, r in enumerate(named) if all(r is not o for o in named[:i])]:  # a few names; the rest are in the table
        x = blastx.cpu_ms / r.cpu_ms
        if r is shipped:
            ax.scatter(x, r.f1, s=160, color="tab:red", marker="*", zorder=4,
                       label="shipped (ask's defaults)" + ("; also best on valid" if r is chosen else ""))
        elif r is chosen:
            ax.scatter(x, r.f1, s=60, color="tab:red", marker="D", zorder=4, label="best on valid")
        elif r.method.startswith("blast"):
            ax.scatter(x, r.f1, s=30, color=colors["blast"], zorder=4)
        ax.annotate(r.method, (x, r.f1), fontsize=7, xytext=(5, -10 if r is shipped else 4), textcoords="offset points")
    ax.axhline(blastx.f1, color="black", lw=0.8, ls=":", label=f"blastx product F1 {blastx.f1:.3f}")
    ax.axvline(50, color="tab:green", lw=0.8, ls="--", label="goal: 50x blastx's speed")
    ax.set_xscale("log")
    ax.set_xlabel("CPU speed relative to blastx (x, log scale; one shared-machine run)")
    ax.set_ylabel("test product token F1")
    ax.set_title("Protein-level retrieval on the test organisms: product F1 against speed", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_png(fig, path)
    plt.close(fig)


def write_section(path: Path, sub: str, table: str, meta: str, cmd: str) -> None:
    """Write ``### sub`` inside the ``## Protein-level retrieval`` section of a markdown file,
    replacing an earlier run with the same subtitle and leaving every other section alone."""
    title = "## Protein-level retrieval"
    body = f"### {sub}\n\nCommand: `{cmd}`\n\n{meta}\n\n{table}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    m = re.search(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if not m:
        intro = (f"{title}\n\nMade by `bench/bench_protein.py`; its docstring defines every column. "
                 "CPU time is the fair speed measure on this shared machine.\n\n")
        path.write_text(text.rstrip("\n") + "\n\n" + intro + body)
        return
    section = m.group(0)
    s = re.search(rf"^### {re.escape(sub)}\n.*?(?=^### |\Z)", section, flags=re.S | re.M)
    section = (section[:s.start()] + body + ("\n" if s.end() < len(section) else "") + section[s.end():]) if s \
        else section.rstrip("\n") + "\n\n" + body
    if m.end() < len(text) and not section.endswith("\n\n"):
        section += "\n"
    path.write_text(text[:m.start()] + section + text[m.end():])


if __name__ == "__main__":
    main()
