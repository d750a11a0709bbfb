"""Neighbours of splice windows: k-mer profiles against the site embedder's weightings, on the VALID split.

Usage::

    .venv/bin/python bench/bench_site.py                      # data/tasks/splice (make demo builds it)
    .venv/bin/python bench/bench_site.py --sigmas 2,3,4,5,8,inf --ks 1,3,5
    .venv/bin/python bench/bench_site.py --plot docs/img/site_weights.png   # also draw the mi weights
    .venv/bin/python bench/bench_site.py --cv 5 --pair-weights 0,1,1.5,2,3  # also cross-validate on train + valid

For each neighbour finder (:func:`~dnahlm_rag.instruct.TrainNeighbours` over the train split:
canonical k-mer profiles, :class:`~dnahlm_rag.embed.site.SiteEmbedder` with mi weights fitted on
the train labels, or with the gauss weighting at each ``sigma``, ``inf`` meaning flat) prints the accuracy of the kNN vote (ties to the nearer neighbour,
as in the evaluation's ``knn`` baseline) on the valid windows, and the time to embed and search
them. With ``--cv F`` it also prints, for the mi weighting at each ``--pair-weights`` value, the
kNN accuracy of an F-fold cross-validation over train + valid together (weights refitted on each
fold's training part): 2,374 windows instead of 300 valid ones, so differences of a point are
visible. This is how the default weighting and pair weight were chosen; the test split is never read.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnahlm_rag.embed.site import SiteConfig, SiteEmbedder  # noqa: E402
from dnahlm_rag.instruct import TrainNeighbours, read_split  # noqa: E402
from dnahlm_rag.metrics import knn_vote  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data", help="data folder of `dnahlm data build`")
    ap.add_argument("--task", default="splice")
    ap.add_argument("--sigmas", default="2,3,4,5,6,8,10,15,inf", help="site weights' widths in bases")
    ap.add_argument("--ks", default="1,3,5", help="neighbour counts of the vote")
    ap.add_argument("--plot", type=Path, default=None, help="write a PNG of the fitted mi weights here")
    ap.add_argument("--pair-weights", default="0,1.5", help="mi rows: weights of the adjacent-pair block (0: none)")
    ap.add_argument("--cv", type=int, default=0, help="folds of a cross-validation over train + valid (0: skip)")
    args = ap.parse_args()
    train, valid = read_split(args.data, args.task, "train"), read_split(args.data, args.task, "valid")
    ks = [int(k) for k in args.ks.split(",")]
    length = max(len(r["seq"]) for r in train)
    pair_weights = [float(w) for w in args.pair_weights.split(",")]
    finders: list[tuple[str, TrainNeighbours]] = [("k-mer profiles (kmer)", TrainNeighbours(train))]
    for pw in pair_weights:
        cfg = SiteConfig(length, pair_weight=pw)
        finders.append((f"site, mi weights (fitted on train labels), pair weight {pw:g}",
                        TrainNeighbours(train, embedder=SiteEmbedder(cfg))))
    for s in args.sigmas.split(","):
        sigma = 1e9 if s == "inf" else float(s)
        cfg = SiteConfig(length, weighting="gauss", sigma=sigma)
        finders.append((f"site, gauss sigma {s} bases", TrainNeighbours(train, embedder=SiteEmbedder(cfg))))
    print(f"{args.task}: {len(train)} train windows, {len(valid)} valid windows, length {length}")
    print_knn_table(finders, train, valid, ks)
    if args.cv:
        print(f"\n{args.cv}-fold cross-validation over train + valid ({len(train) + len(valid)} windows), mi weights")
        print("| pair weight | " + " | ".join(f"kNN k={k}" for k in ks) + " |")
        print("|---|" + "---|" * len(ks))
        for pw in pair_weights:
            accs = cross_validated(train + valid, SiteConfig(length, pair_weight=pw), ks, args.cv)
            print(f"| {pw:g} | " + " | ".join(f"{a:.4f}" for a in accs) + " |")
    if args.plot:
        plot_weights(finders[1][1].embedder, len(train), args.task, args.plot)
        print(f"wrote {args.plot}")


def cross_validated(rows: list[dict], cfg: SiteConfig, ks: list[int], folds: int, seed: int = 0) -> list[float]:
    """kNN-vote accuracy at each k of a ``folds``-fold cross-validation (random seeded folds): each
    fold is searched against a :class:`TrainNeighbours` fitted on the other folds."""
    fold = np.random.default_rng(seed).integers(0, folds, len(rows))
    right = np.zeros(len(ks))
    for f in range(folds):
        fit = [r for r, g in zip(rows, fold) if g != f]
        held = [r for r, g in zip(rows, fold) if g == f]
        accs, _ = knn_accuracies(TrainNeighbours(fit, embedder=SiteEmbedder(cfg)), fit, held, ks)
        right += np.array(accs) * len(held)
    return list(right / len(rows))


def knn_accuracies(nb: Any, train: list[dict], items: list[dict], ks: list[int]) -> tuple[list[float], float]:
    """Accuracy of the kNN vote of ``nb``'s train neighbours on ``items`` at each k (ties to the
    nearer neighbour, as the evaluation's ``knn`` baseline), and ms per query to embed and search."""
    t0 = time.perf_counter()
    hits = nb.search([r["seq"] for r in items], k=max(ks))
    ms = 1000 * (time.perf_counter() - t0) / len(items)
    accs = [sum(knn_vote([str(train[i]["label"]) for i, _ in h], k) == r["label"] for h, r in zip(hits, items))
            / len(items) for k in ks]
    return accs, ms


def print_knn_table(finders: list[tuple[str, Any]], train: list[dict], valid: list[dict], ks: list[int]) -> None:
    """One Markdown row per neighbour finder: kNN-vote accuracy on ``valid`` at each k (ties to the
    nearer neighbour) and the time to embed and search the valid items (ms per query)."""
    print("| neighbours | " + " | ".join(f"kNN k={k}" for k in ks) + " | ms per query (embed + search) |")
    print("|---|" + "---|" * len(ks) + "---|")
    for name, nb in finders:
        accs, ms = knn_accuracies(nb, train, valid, ks)
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {ms:.3f} |")


def plot_weights(emb: SiteEmbedder, n_train: int, task: str, path: Path) -> None:
    """Heat map of the mi weights: squared weight (bits of label information) per position and base."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dnahlm_rag.atomic import write_png

    bits = (emb.weights.astype(float) ** 2).T  # (4, length): MI in bits
    n = bits.shape[1]
    fig, ax = plt.subplots(figsize=(10, 2.4))
    im = ax.imshow(bits, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(4), list("ACGT"))
    ticks = list(range(0, n, 5))
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.axvline((n - 1) / 2, color="white", lw=0.8, ls="--")
    ax.set_xlabel("position in the window (0-based; dashed: the site, between 29 and 30 for splice)")
    ax.set_title(f"{task}: mutual information of 'base b at position i' with the label (bits), {n_train} train windows",
                 fontsize=9)
    fig.colorbar(im, ax=ax, label="bits", fraction=0.03)
    fig.tight_layout()
    write_png(fig, path, dpi=100)

if __name__ == "__main__":
    main()
