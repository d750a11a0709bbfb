"""Approximate vs exact search over the segment index: recall@10 and time per query as the
search effort grows (IVF nprobe, HNSW efSearch, PQ re-ranking factor). Prints a table.

Usage::

    .venv/bin/python bench/bench_ann.py [--index indexes/segments] [--queries 1024] [--threads 1]

Queries are held-out (test-split) CDS, embedded with the index's own embedder; the truth is the
exact (flat inner-product) top 10 over the same vectors. Needs ``dnahlm index build --name segments``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import test_cds  # noqa: E402

from dnahlm_rag.index import FaissConfig, SegmentIndex, _make_faiss  # noqa: E402


def _timed_search(index, q: np.ndarray, k: int = 10, batch: int = 0) -> tuple[np.ndarray, float]:
    b = batch or len(q)
    t = time.perf_counter()
    ids = np.vstack([index.search(q[a : a + b], k)[1] for a in range(0, len(q), b)])
    return ids, 1000 * (time.perf_counter() - t) / len(q)


def _recall(got: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / exact.shape[1] for a, e in zip(got, exact)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default="indexes/segments")
    ap.add_argument("--data", default="data")
    ap.add_argument("--queries", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=0, help="queries per search call (0: all at once)")
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    idx = SegmentIndex.load(args.index)
    q = idx.embedder.embed_queries([r["seq"] for r in test_cds(Path(args.data), args.queries)])
    vecs = idx.index.reconstruct_n(0, idx.index.ntotal)
    _timed_search(idx.index, q[:64])  # warm-up
    exact, t_exact = _timed_search(idx.index, q, batch=args.batch)
    rows = [("flat (exact)", "-", 1.0, t_exact)]
    ivf = _make_faiss(vecs, FaissConfig(kind="ivf"))
    for nprobe in (32, 64, 128, 256, 512):
        ivf.nprobe = nprobe
        got, t = _timed_search(ivf, q, batch=args.batch)
        rows.append((f"ivf, nlist {ivf.nlist}", f"nprobe {nprobe}", _recall(got, exact), t))
    hnsw = _make_faiss(vecs, FaissConfig(kind="hnsw"))
    for ef in (128, 512, 2048):
        hnsw.hnsw.efSearch = ef
        got, t = _timed_search(hnsw, q, batch=args.batch)
        rows.append(("hnsw, M 32", f"efSearch {ef}", _recall(got, exact), t))
    pq = _make_faiss(vecs, FaissConfig(kind="pq"))
    for kf in (10, 20, 30, 100):
        pq.k_factor = kf
        got, t = _timed_search(pq, q, batch=args.batch)
        rows.append((f"pq fast-scan ({faiss.downcast_index(pq.base_index).M} x 4-bit) + exact re-rank", f"{kf} x 10 re-ranked",
                     _recall(got, exact), t))
    print(f"{len(vecs)} vectors x {vecs.shape[1]} dims, {len(q)} held-out CDS queries, {args.threads} thread(s)")
    print("| index | effort | recall@10 | ms/query |\n|---|---|---|---|")
    for name, effort, r, t in rows:
        print(f"| {name} | {effort} | {r:.3f} | {t:.2f} |")


if __name__ == "__main__":
    main()
