"""Search effort of an approximate FAISS index, chosen so that recall@10 reaches a target.

An IVF index probes ``nprobe`` of its lists per query and an HNSW index keeps ``efSearch``
candidates; how much effort a recall needs depends on the queries. Cross-species queries sit far
from every stored vector and their exact top 10 is spread over many lists (docs/benchmarks.md,
"Approximate vs exact search": IVF needs 512 of 833 lists for recall 0.98 on held-out CDS, where
32 gave 0.38). So ``dnahlm index build --kind ivf|hnsw`` measures it: held-out queries (the valid
split's records, never test) are searched exactly and at doubling efforts, and the least effort
whose mean recall@10 reaches the target is stored with the index (manifest ``faiss``), with the
measured curve. When even the largest effort falls short, the largest is kept and the manifest
says the target was not met.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Efforts tried, in order: IVF ``nprobe`` (capped at the list count), HNSW ``efSearch``.
EFFORTS = {"ivf": (16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
           "hnsw": (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)}


@dataclass
class Calibration:
    """What the calibration measured: the chosen effort, its recall@k and time per query."""

    kind: str
    effort: int  # nprobe (ivf) or efSearch (hnsw)
    recall: float  # mean recall@k of the calibration queries at ``effort``, against exact search
    target: float
    met: bool
    queries: int
    k: int
    ms_per_query: float  # search time at ``effort``, all queries in one call
    curve: list[list[float]] = field(default_factory=list)  # [effort, recall, ms/query] for each effort tried

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sample_rows(rows: list[Any], n: int, seed: int = 0) -> list[Any]:
    """At most ``n`` of ``rows``, a seeded sample kept in their order (the calibration queries)."""
    keep = sorted(np.random.default_rng(seed).permutation(len(rows))[:n])
    return [rows[i] for i in keep]


def set_effort(index: Any, kind: str, effort: int) -> None:
    """Set ``nprobe`` (ivf) or ``efSearch`` (hnsw) on a FAISS index."""
    if kind == "ivf":
        index.nprobe = int(effort)
    elif kind == "hnsw":
        index.hnsw.efSearch = int(effort)
    else:
        raise ValueError(f"no search effort to set on a {kind!r} index")


def recall_at(got: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top k found in its approximate top k (FAISS's -1 never counts)."""
    k = exact.shape[1]
    return float(np.mean([len(set(a[a >= 0]) & set(e[e >= 0])) / k for a, e in zip(got, exact)]))


def calibrate(index: Any, kind: str, vectors: np.ndarray, queries: np.ndarray, target: float = 0.98,
              k: int = 10) -> Calibration:
    """Choose the least effort of :data:`EFFORTS` at which ``index`` (built over ``vectors``, inner
    product) finds ``target`` of the exact top ``k`` of ``queries`` on average; set it on ``index``.

    The exact top ``k`` comes from a flat inner-product search over ``vectors``. Returns what was
    measured; ``met`` is False when the largest effort still falls short (that effort is kept).
    """
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    exact_index = faiss.IndexFlatIP(vectors.shape[1])
    exact_index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    k = min(k, len(vectors))
    _, exact = exact_index.search(queries, k)
    cap = int(getattr(index, "nlist", 0)) or None
    curve: list[list[float]] = []
    for effort in EFFORTS[kind]:
        effort = min(effort, cap) if cap else effort
        set_effort(index, kind, effort)
        t = time.perf_counter()
        _, got = index.search(queries, k)
        ms = 1000 * (time.perf_counter() - t) / max(len(queries), 1)
        curve.append([effort, round(recall_at(got, exact), 4), round(ms, 3)])
        if curve[-1][1] >= target or effort == cap:
            break
    effort, recall, ms = curve[-1]
    return Calibration(kind=kind, effort=int(effort), recall=recall, target=target, met=recall >= target,
                       queries=len(queries), k=k, ms_per_query=ms, curve=curve)
