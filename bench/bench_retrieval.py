"""Retrieval, BLAST comparison and batch-RAG throughput on the real data; prints a table.

Usage::

    .venv/bin/python bench/bench_retrieval.py [--data data] [--queries 300] [--threads 2]
        [--model DIR] [--write docs/benchmarks.md]

What is measured (all on this machine's CPU, wall-clock):

1. **Index build** over all annotated train segments of ``data/segments.jsonl`` with the default
   recipe (kmer+text, flat), written to ``indexes/segments`` (the index ``dnahlm ask`` uses):
   k-mer fit + embedding, text embeddings of the annotation texts, FAISS add, total.
2. **Query latency** at batch 256: k-mer embedding of held-out (test-split) CDS plus flat FAISS
   search, per query.
3. **Recall@10** of IVF, HNSW and PQ against exact search over the same vectors and queries; IVF
   and HNSW with the search effort ``dnahlm index build`` would choose (recall 0.98 on the valid
   split's records, dnahlm_rag/ann_effort.py).
4. **Side by side with blastn** (Debian ncbi-blast+; database from the same train segments via
   makeblastdb; ``-task blastn`` (word size 11; megablast finds almost nothing across species
   here), e-value 1e-5): on held-out CDS with a BLAST hit, how often
   our top hit's product equals BLAST's top hit's product (case-insensitive), and the time per query
   of each (ours: embedding + search at batch 256; BLAST: blastn wall time / queries). Besides the
   DNA index alone, the same for the retriever ``ask``/``batch`` use on a coding query
   (:class:`~dnahlm_rag.fused_retriever.FusedRetriever` over ``--protein-index`` and the DNA
   index: ORFs, protein hits first, diagonal re-rank), when that index exists.
5. **Batch RAG throughput** on closed-label questions (the splice task's test items, with a
   splice-task train index, ``ask``'s default k = 3 neighbours, greedy, 4 new tokens): questions per second through
   ``Answerer.answer_many`` (retrieval + prompt + generation). Without ``--model`` a random-init
   GPT-2 (4 layers x 256, context 256, a 4k BPE trained here) stands in for the pretrained model:
   speed only, no answer quality. The splice index is built with the site embedder, as in
   ``make demo``; with ``--model`` RAG answers use the model's fitted retrieval mixing.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dnahlm_rag.ann_effort import calibrate, recall_at, sample_rows  # noqa: E402
from dnahlm_rag.blast_baselines import best_blast_hits  # noqa: E402
from dnahlm_rag.index import FaissConfig, IndexConfig, SegmentIndex, _make_faiss, build_index, load_records, read_jsonl  # noqa: E402
from dnahlm_rag.recipes import load_recipe  # noqa: E402

START, END = "<!-- bench_retrieval:start -->", "<!-- bench_retrieval:end -->"


def norm(p: str | None) -> str:
    return " ".join((p or "").lower().split())


def build(data: Path, out: Path) -> tuple[dict, float]:
    cfg = load_recipe(IndexConfig, "index", "default")
    t = time.perf_counter()
    docs, source = load_records(data, splits=cfg.splits)
    t_read = time.perf_counter() - t
    m = build_index(docs, out, cfg, source, show_progress=False)
    return m, t_read


def test_cds(data: Path, n: int, seed: int = 0) -> list[dict]:
    rows = [r for r in read_jsonl(data / "segments.jsonl")
            if r.get("split") == "test" and r.get("type") == "CDS" and r.get("product")]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def latency(idx: SegmentIndex, seqs: list[str], batch: int = 256) -> tuple[float, float]:
    """(embed ms/query, search ms/query) at ``batch`` queries per call."""
    t_emb = t_search = 0.0
    for a in range(0, len(seqs), batch):
        t = time.perf_counter()
        q = idx.embedder.embed_queries(seqs[a : a + batch])
        t_emb += time.perf_counter() - t
        t = time.perf_counter()
        idx.search_vectors(q, 10)
        t_search += time.perf_counter() - t
    return 1000 * t_emb / len(seqs), 1000 * t_search / len(seqs)


def recall(idx: SegmentIndex, seqs: list[str], held_out: list[dict]) -> list[tuple[str, float, float, float, str]]:
    """(kind, recall@10 on ``seqs`` against exact search, build s, ms/query, effort) for ivf, hnsw
    and pq over the index's vectors. ivf and hnsw choose their effort as ``dnahlm index build``
    does: on a sample of ``held_out`` (the valid split's records), never on ``seqs``."""
    vecs = idx.index.reconstruct_n(0, idx.index.ntotal)
    q = idx.embedder.embed_queries(seqs)
    _, exact = idx.search_vectors(q, 10)
    cal_q = idx.embedder.embed_queries([r["seq"] for r in sample_rows(held_out, FaissConfig().calibration_queries)])
    out = []
    for kind, cfg in (("ivf", FaissConfig(kind="ivf")), ("hnsw", FaissConfig(kind="hnsw")), ("pq", FaissConfig(kind="pq"))):
        t = time.perf_counter()
        ann = _make_faiss(vecs, cfg)
        effort = f"{cfg.k_factor} x 10 re-ranked"
        if cfg.calibrates:
            cal = calibrate(ann, kind, vecs, cal_q, cfg.target_recall)
            effort = (f"{'nprobe' if kind == 'ivf' else 'efSearch'} {cal.effort} "
                      f"(valid recall {cal.recall:.3f}{'' if cal.met else ', target not met'})")
        t_build = time.perf_counter() - t
        t = time.perf_counter()
        _, got = ann.search(q, 10)
        t_q = 1000 * (time.perf_counter() - t) / len(seqs)
        out.append((kind, recall_at(got, exact), t_build, t_q, effort))
    return out


def blast_side_by_side(idx: SegmentIndex, queries: list[dict], threads: int, protein_index: Path | None = None) -> dict:
    if not shutil.which("blastn"):
        return {"skipped": "blastn not installed"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-blast-"))
    try:
        with open(tmp / "db.fa", "w") as f:
            for i, d in enumerate(idx.docs):
                f.write(f">s{i}\n{d['seq']}\n")
        t = time.perf_counter()
        subprocess.run(["makeblastdb", "-in", str(tmp / "db.fa"), "-dbtype", "nucl", "-out", str(tmp / "db")],
                       check=True, capture_output=True)
        t_db = time.perf_counter() - t
        with open(tmp / "q.fa", "w") as f:
            for j, q in enumerate(queries):
                f.write(f">q{j}\n{q['seq']}\n")
        t = time.perf_counter()
        res = subprocess.run(["blastn", "-task", "blastn", "-query", str(tmp / "q.fa"), "-db", str(tmp / "db"), "-evalue", "1e-5",
                              "-outfmt", "6 qseqid sseqid bitscore", "-max_target_seqs", "5",
                              "-num_threads", str(threads)], check=True, capture_output=True, text=True)
        t_blast = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = best_blast_hits(res.stdout)
    seqs = [q["seq"] for q in queries]
    t = time.perf_counter()
    hits = idx.search(seqs, k=1)
    t_ours = time.perf_counter() - t
    question = "What protein does this coding sequence encode?"
    hits_q = idx.search(seqs, [question] * len(seqs), k=1)
    with_hit = sorted(best)
    agree = sum(norm(hits[i][0].doc["product"]) == norm(idx.docs[best[i][1]]["product"]) for i in with_hit)
    agree_q = sum(norm(hits_q[i][0].doc["product"]) == norm(idx.docs[best[i][1]]["product"]) for i in with_hit)
    own_ours = sum(norm(hits[i][0].doc["product"]) == norm(queries[i]["product"]) for i in range(len(queries)))
    own_blast = sum(norm(idx.docs[best[i][1]]["product"]) == norm(queries[i]["product"]) for i in with_hit)
    per_ours, per_blast = t_ours / len(queries), t_blast / len(queries)
    fused: dict = {}
    if protein_index is not None and (protein_index / "manifest.json").is_file():
        from dnahlm_rag.fused_retriever import FusedRetriever

        retriever = FusedRetriever(index=idx, protein_index=SegmentIndex.load(protein_index), k=1)
        retriever.retrieve_many(seqs[:8])  # warm-up (loads the re-rank scorer)
        t = time.perf_counter()
        docs = retriever.retrieve_many(seqs)
        per_fused = (time.perf_counter() - t) / len(queries)
        top = [norm(d[0].metadata.get("product")) if d else "" for d in docs]
        fused = {"fused_agree": sum(top[i] == norm(idx.docs[best[i][1]]["product"]) for i in with_hit),
                 "fused_ms_per_query": 1000 * per_fused, "fused_speed_ratio": per_blast / per_fused,
                 "fused_protein_top": sum(bool(d) and d[0].metadata.get("level") == "protein" for d in docs)}
    return {**fused, "queries": len(queries), "blast_hits": len(with_hit), "agree": agree, "agree_with_question": agree_q,
            "own_product_ours": own_ours, "own_product_blast": own_blast, "makeblastdb_s": t_db,
            "blast_ms_per_query": 1000 * per_blast, "ours_ms_per_query": 1000 * per_ours,
            "speed_ratio": per_blast / per_ours}


def tiny_model(folder: Path, data: Path) -> Path:
    """A random-init 4 x 256 GPT-2 with a 4k byte-level BPE trained on a sample of the data."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    texts = []
    for i, r in enumerate(read_jsonl(data / "segments.jsonl")):
        if i % 20 == 0:
            texts += [r["seq"][:2000], r["description"]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=4096, special_tokens=["<|endoftext|>", "<|pad|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|pad|>")
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(fast), n_positions=256, n_embd=256, n_layer=4, n_head=4,
                     bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def rag_throughput(data: Path, model: Path | None, n: int, threads: int, tmp: Path) -> dict:
    from dnahlm_rag.answer import AnswerConfig, Answerer, task_question_and_labels
    from dnahlm_rag.chain import ChainConfig
    from dnahlm_rag.metrics import knn_vote
    from dnahlm_rag.retrieval_mix import DEFAULT_K

    task = "splice"
    if not (data / "tasks" / task / "task.json").is_file():
        return {"skipped": f"no task {task}"}
    cfg = IndexConfig(embedder="site")  # as the demo's splice task index (make demo)
    t = time.perf_counter()
    docs, source = load_records(data, task=task, splits=["train"])
    build_index(docs, tmp / "idx", cfg, source, show_progress=False)
    t_idx = time.perf_counter() - t
    stand_in = model is None
    if model is None:
        model = tiny_model(tmp / "model", data)
    question, labels = task_question_and_labels(data, task)
    items = [{"question": question, "seq": r["seq"]} for r in read_jsonl(data / "tasks" / task / "test.jsonl")][:n]
    out = {"task": task, "index_build_s": t_idx, "questions": len(items), "k": DEFAULT_K,
           "model": "random-init 4x256 stand-in" if stand_in else str(model)}
    for mode in ("rag", "plain"):
        a = Answerer(AnswerConfig(mode=mode, model_dir=str(model), index_dir=str(tmp / "idx"), chain=ChainConfig(k=DEFAULT_K), task=task,
                                  max_new_tokens=4, batch_size=64, num_threads=threads), labels)
        a.answer_many(items[:64])  # warm-up
        t = time.perf_counter()
        res = a.answer_many(items)
        dt = time.perf_counter() - t
        out[f"{mode}_qps"] = len(items) / dt
        # the share the model itself answered in the labels: answers that were no label are
        # replaced by the most probable label (Answerer._snap_to_labels, timed above) and say so
        snapped = sum(any("none of the task's labels" in p for p in r.get("provenance", [])) for r in res)
        out[f"{mode}_label_share"] = 1 - snapped / len(res)
        gold = [r.get("label") for r in read_jsonl(data / "tasks" / task / "test.jsonl")][: len(items)]
        out[f"{mode}_accuracy"] = sum(r["answer"] == g for r, g in zip(res, gold)) / len(res)
        if mode == "rag":  # the kNN vote of the same neighbours, for reference
            votes = [knn_vote([d.metadata["label"] for d in r["neighbours"]], DEFAULT_K) for r in res]
            out["knn_vote_accuracy"] = sum(v == g for v, g in zip(votes, gold)) / len(res)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--index", type=Path, default=ROOT / "indexes" / "segments")
    ap.add_argument("--protein-index", type=Path, default=ROOT / "indexes" / "proteins",
                    help="protein index of `ask`'s fused retriever (skipped when absent)")
    ap.add_argument("--queries", type=int, default=300, help="held-out CDS for the BLAST comparison")
    ap.add_argument("--latency-queries", type=int, default=1024)
    ap.add_argument("--rag-questions", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint for the throughput figure")
    ap.add_argument("--skip-build", action="store_true", help="reuse --index")
    ap.add_argument("--write", type=Path, default=None, help="append/replace this section in a markdown file")
    args = ap.parse_args()

    import faiss
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    lines = []
    # the build row: this run's build, or (--skip-build) the reused index's own manifest timings
    t_read = None if args.skip_build else build(args.data, args.index)[1]
    idx = SegmentIndex.load(args.index)
    m, s = idx.manifest, idx.manifest["seconds"]
    how = "flat (from the reused index's manifest)" if t_read is None else "flat"
    read = "" if t_read is None else f"read {t_read:.1f}, "
    lines.append(f"| index build, {m['count']} train segments, {idx.embedder_name} ({m['dim']}-d), {how} | "
                 f"{s['total'] + (t_read or 0.0):.1f} s ({read}k-mer fit {s['fit']:.1f}, embed {s['embed']:.1f}, "
                 f"FAISS {s['index']:.1f}) | < 180 s |")
    queries = test_cds(args.data, max(args.queries, args.latency_queries))
    emb_ms, search_ms = latency(idx, [q["seq"] for q in queries[: args.latency_queries]])
    lines.append(f"| query latency at batch 256 ({len(queries[:args.latency_queries])} test CDS, top 10, flat) | "
                 f"{emb_ms + search_ms:.2f} ms/query (embed {emb_ms:.2f} + search {search_ms:.2f}) | < 5 ms |")
    held_out, _ = load_records(args.data, splits=["valid"])
    for kind, r, tb, tq, effort in recall(idx, [q["seq"] for q in queries[: args.latency_queries]], held_out):
        lines.append(f"| recall@10 of {kind} vs exact, {effort} (build {tb:.1f} s, search {tq:.2f} ms/query) | "
                     f"{r:.3f} | >= 0.98 |")
    b = blast_side_by_side(idx, queries[: args.queries], args.threads, args.protein_index)
    if "skipped" not in b:
        nh = max(b["blast_hits"], 1)
        lines.append(f"| top hit product = blastn top hit product ({b['blast_hits']} of {b['queries']} test CDS with a "
                     f"BLAST hit; k-mer only / with question) | {100 * b['agree'] / nh:.1f}% / "
                     f"{100 * b['agree_with_question'] / nh:.1f}% | >= 80% |")
        lines.append(f"| speed per query: blastn {b['blast_ms_per_query']:.1f} ms vs ours {b['ours_ms_per_query']:.2f} ms | "
                     f"{b['speed_ratio']:.0f}x | >= 50x |")
        if "fused_agree" in b:
            lines.append(f"| the same with ask's fused retriever (protein hits first; top hit at the protein level for "
                         f"{b['fused_protein_top']} of {b['queries']}) | {100 * b['fused_agree'] / nh:.1f}%, "
                         f"{b['fused_ms_per_query']:.2f} ms/query ({b['fused_speed_ratio']:.1f}x blastn) | >= 80%, >= 50x |")
        lines.append(f"| (context) top hit product = the query's own product: ours {100 * b['own_product_ours'] / b['queries']:.1f}% "
                     f"of {b['queries']}, blastn {100 * b['own_product_blast'] / nh:.1f}% of its {b['blast_hits']} hits | | |")
    with tempfile.TemporaryDirectory() as tmp:
        r = rag_throughput(args.data, args.model, args.rag_questions, args.threads, Path(tmp))
    if "skipped" not in r:
        lines.append(f"| batch RAG throughput, {r['task']} test ({r['questions']} closed-label questions, {r['model']}, "
                     f"k {r['k']}, batch 64, 4 new tokens) | rag {r['rag_qps']:.1f} q/s, plain {r['plain_qps']:.1f} q/s | >= 20 q/s |")
        lines.append(f"| (context) {r['task']} accuracy: rag {r['rag_accuracy']:.3f}, plain {r['plain_accuracy']:.3f}, "
                     f"kNN vote of the same {r['k']} neighbours {r['knn_vote_accuracy']:.3f}; task index build {r['index_build_s']:.1f} s | | |")
    load1 = os.getloadavg()[0]
    header = ["| measure | result | goal |", "|---|---|---|"]
    table = "\n".join(header + lines)
    print(table)
    print(f"\nload average {load0:.1f} at start, {load1:.1f} at end; {args.threads} threads; {os.cpu_count()} CPUs")
    if args.write:
        section = (f"{START}\n## Retrieval, BLAST comparison, batch RAG (bench/bench_retrieval.py)\n\n"
                   f"Measured {time.strftime('%Y-%m-%d')} on this machine's CPU ({os.cpu_count()} cores shared with other "
                   f"jobs: load average {load0:.1f} at start, {load1:.1f} at end), {args.threads} threads.\n\n{table}\n{END}\n")
        path = args.write
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        if START in text and END in text:
            a, rest = text.split(START, 1)
            old, after = rest.split(END, 1)
            if old.count("\n## ") > 1:  # other sections between the markers: writing would delete them
                raise SystemExit(f"{path}: more than one '## ' section between {START} and {END}; "
                                 "move the start marker to this bench's own heading and rerun")
            text = a + section.rstrip("\n") + after
        else:
            text = text.rstrip("\n") + "\n\n" + section
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
