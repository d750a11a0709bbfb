"""Task builders: labelled items per split, capped, deduplicated, written as JSONL.

Every task item has ``id``, ``seq`` (5'->3', pure A/C/G/T), ``label`` and optionally ``organism``
and ``meta``. Tasks from annotated genomes (:class:`GenomeTasks`) take the split of the record's
organism. Caps use seeded reservoir sampling per (split, class), so memory is bounded by the caps
and the result depends only on the seed and the input order.

Lengths (bases):

* ``feature_type``: a feature up to ``max_window`` (500) long is used whole; a longer CDS gives one
  window of ``max_window`` at a seeded random offset inside it; a longer rRNA gives up to
  ``rrna_windows`` non-overlapping windows (rRNA is the rarest class). Intergenic windows: one per
  gap between annotated features (any feature type) of at least ``min_len``, of a seeded random
  length in ``[min_len, max_window]`` at a random offset, on a random strand. Record ends (before
  the first and after the last feature) are not used: they may hold unannotated genes.
* ``trna_aa``: the whole tRNA (``/product="tRNA-Xxx"``; ``fMet``/``Ile2`` style names map to the
  amino acid), at most ``trna_aa.max_len``.
* ``product``: the first ``product.max_len`` bases of the CDS (its 5' end, from the start codon);
  the full CDS stays in ``segments.jsonl``. Products that say nothing (hypothetical, uncharacterized,
  DUF, putative/predicted protein) are skipped.
* ``next_kmer``: ``window`` (50) bases, label = the next ``k`` (6) bases.
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_json
from ..seq import reverse_complement
from .genbank import Record
from .recipe import SPLITS, DataRecipe, NextKmerConfig
from .splits import check_disjoint, enforce_disjoint


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str
    question: str
    description: str
    split_policy: str


SPECS: dict[str, TaskSpec] = {s.name: s for s in (
    TaskSpec("splice", "classification",
             "Is this 60-nt primate sequence a splice donor (exon-intron boundary), a splice acceptor "
             "(intron-exon boundary), or neither?",
             "StatLog primate splice junctions (mlbench DNA); the boundary lies between positions 30 and 31.",
             "stratified random split per class with a seed; duplicates removed across splits"),
    TaskSpec("promoter", "classification", "Is this 57-nt E. coli sequence a promoter?",
             "E. coli promoter benchmark (kernlab promotergene): 53 promoters and 53 non-promoters.",
             "stratified random split per class with a seed; duplicates removed across splits"),
    TaskSpec("trna_aa", "classification", "Which amino acid does this tRNA carry?",
             "tRNA genes from annotated genomes, labelled with the amino acid of /product tRNA-Xxx.",
             "by organism (species): the recipe names valid and test species; no species in two splits"),
    TaskSpec("feature_type", "classification",
             "Is this sequence a protein-coding sequence (CDS), a tRNA gene, an rRNA gene, or intergenic?",
             "Windows of at most max_window bases from annotated genomes; classes capped per split.",
             "by organism (species): the recipe names valid and test species; no species in two splits"),
    TaskSpec("genus_16s", "classification", "Which bacterial or archaeal genus does this 16S rRNA gene come from?",
             "Near-full-length 16S rRNA sequences from NCBI Combined16SrRNA, closed set of genera.",
             "by species within each genus (test species are not in train); species whose genome is in "
             "the pretraining DNA are forced into train; identical sequences kept once"),
    TaskSpec("product", "generation", "What protein does this coding sequence encode?",
             "CDS from annotated genomes (5' end, capped length) with their /product names.",
             "by organism (species): the recipe names valid and test species; no species in two splits"),
    TaskSpec("next_kmer", "generation", "What are the next bases after this DNA sequence?",
             "50-nt windows of human chrX from a region held out of pretraining; label = next 6 bases "
             "(k-mer targets are label[:k]).",
             "the held-out region is cut into three consecutive blocks (train, valid, test) separated by "
             "gaps, none of it in pretraining"),
)}

AMINO_ACIDS = {"Ala", "Arg", "Asn", "Asp", "Cys", "Gln", "Glu", "Gly", "His", "Ile", "Leu", "Lys", "Met", "Phe",
               "Pro", "Ser", "Thr", "Trp", "Tyr", "Val", "Sec", "Pyl"}
_TRNA = re.compile(r"^tRNA-(f?)([A-Z][a-z]{2})")
_UNINFORMATIVE = re.compile(r"hypothetical|uncharacteri[sz]ed|unknown|\bDUF\d|^(putative|predicted|conserved)"
                            r"( membrane| exported| secreted| lipo)? protein$|^protein$|^orf|^ORF", re.I)
_ACGT = re.compile(r"^[ACGT]+$")


def is_acgt(seq: str) -> bool:
    return bool(_ACGT.match(seq))


def trna_amino_acid(product: str) -> str | None:
    """``"tRNA-Ala"`` -> ``"Ala"``; ``"tRNA-fMet"`` -> ``"Met"``; ``"tRNA-Xxx"`` -> None."""
    m = _TRNA.match(product.strip())
    if not m:
        return None
    aa = m.group(2)
    return aa if aa in AMINO_ACIDS else None


def informative_product(product: str) -> bool:
    p = product.strip()
    return len(p) >= 3 and not _UNINFORMATIVE.search(p)


class Reservoir:
    """Seeded reservoir sampling per ``(split, class)``; ``caps[split]`` None means keep all."""

    def __init__(self, caps: dict[str, int] | None, seed: int, name: str):
        self.caps = caps
        self.rng = random.Random(f"{seed}:reservoir:{name}")
        self.kept: dict[tuple[str, str], list[dict]] = defaultdict(list)
        self.offered: Counter = Counter()

    def offer(self, split: str, cls: str, item: dict) -> None:
        key = (split, cls)
        self.offered[key] += 1
        cap = None if self.caps is None else self.caps.get(split)
        bucket = self.kept[key]
        if cap is None or len(bucket) < cap:
            bucket.append(item)
        else:
            j = self.rng.randrange(self.offered[key])
            if j < cap:
                bucket[j] = item

    def by_split(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {s: [] for s in SPLITS}
        for (split, _), items in sorted(self.kept.items()):
            out[split].extend(items)
        return out


class GenomeTasks:
    """Collects trna_aa, feature_type and product items from annotated records."""

    def __init__(self, recipe: DataRecipe):
        self.r = recipe
        ft = recipe.feature_type
        self.feature_type = Reservoir(ft.max_per_class, recipe.seed, "feature_type")
        # product: one bucket per split (class = "all"): cap the total, not per product name
        self.product = Reservoir(recipe.product.max_items, recipe.seed, "product")
        self.trna = Reservoir(None, recipe.seed, "trna_aa")
        self.rng = random.Random(f"{recipe.seed}:genome_tasks")
        self.dropped: Counter = Counter()

    def add_record(self, rec: Record, split: str) -> None:
        ft = self.r.feature_type
        want = set(self.r.tasks)
        annotated = False
        for f in rec.features:
            if f.type not in ("CDS", "tRNA", "rRNA"):
                continue
            annotated = True
            if not is_acgt(f.seq):
                self.dropped["ambiguous_bases"] += 1
                continue
            base = {"organism": rec.organism, "meta": {"accession": rec.accession, "start": f.start, "end": f.end,
                                                       "strand": f.strand, "feature_len": len(f.seq)}}
            fid = f"{rec.accession}:{f.type}:{f.start}-{f.end}:{'+' if f.strand == 1 else '-'}"
            if "feature_type" in want and len(f.seq) >= ft.min_len:
                for k, w in enumerate(self._windows(f.seq, ft.max_window, ft.rrna_windows if f.type == "rRNA" else 1)):
                    self.feature_type.offer(split, f.type, {"id": f"{fid}:w{k}", "seq": w, "label": f.type, **base})
            if f.type == "tRNA" and "trna_aa" in want:
                aa = trna_amino_acid(f.product)
                if aa is None:
                    self.dropped["trna_no_amino_acid"] += 1
                elif len(f.seq) > self.r.trna_aa.max_len:
                    self.dropped["trna_too_long"] += 1
                else:
                    self.trna.offer(split, aa, {"id": fid, "seq": f.seq, "label": aa, **base})
            if f.type == "CDS" and "product" in want:
                if not informative_product(f.product):
                    self.dropped["product_uninformative"] += 1
                elif len(f.seq) < self.r.product.min_len:
                    self.dropped["product_too_short"] += 1
                else:
                    self.product.offer(split, "all", {"id": fid, "seq": f.seq[: self.r.product.max_len],
                                                      "label": f.product, **base})
        if annotated and "feature_type" in want:
            self._intergenic(rec, split)

    def _windows(self, seq: str, max_window: int, n_max: int) -> list[str]:
        if len(seq) <= max_window:
            return [seq]
        if n_max <= 1:
            off = self.rng.randrange(len(seq) - max_window + 1)
            return [seq[off:off + max_window]]
        n = min(n_max, len(seq) // max_window)
        return [seq[i * max_window:(i + 1) * max_window] for i in range(n)]

    def _intergenic(self, rec: Record, split: str) -> None:
        ft = self.r.feature_type
        spans = sorted((p[0], p[1]) for f in rec.features for p in f.parts)
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        for (_, a), (b, _) in zip(merged, merged[1:]):
            gap = b - a
            if gap < ft.min_len:
                continue
            n = self.rng.randint(ft.min_len, min(gap, ft.max_window))
            off = a + self.rng.randrange(gap - n + 1)
            strand = self.rng.choice((1, -1))
            w = rec.seq[off:off + n]
            if strand == -1:
                w = reverse_complement(w)
            if not is_acgt(w):
                continue
            self.feature_type.offer(split, "intergenic", {
                "id": f"{rec.accession}:intergenic:{off}-{off + n}:{'+' if strand == 1 else '-'}", "seq": w,
                "label": "intergenic", "organism": rec.organism,
                "meta": {"accession": rec.accession, "start": off, "end": off + n, "strand": strand}})


def next_kmer_items(seq: str, cfg: NextKmerConfig, seed: int) -> dict[str, list[dict]]:
    """Items from ``seq[cfg.start:cfg.end]`` cut into train/valid/test blocks (sizes ~ cfg.n)."""
    lo, hi = cfg.start, min(cfg.end, len(seq))
    span = cfg.window + cfg.k
    total_n = sum(cfg.n.get(s, 0) for s in SPLITS) or 1
    usable = hi - lo - 2 * span
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    pos = lo
    for split in SPLITS:
        block = int(usable * cfg.n.get(split, 0) / total_n)
        b_lo, b_hi = pos, pos + block
        pos = b_hi + span  # gap between blocks: no window crosses into the next block
        want = cfg.n.get(split, 0)
        if block < span or want == 0:
            continue
        rng = random.Random(f"{seed}:next_kmer:{split}")
        seen: set[int] = set()
        for _ in range(want * 20):
            if len(out[split]) >= want:
                break
            p = rng.randrange(b_lo, b_hi - span + 1)
            if p in seen:
                continue
            seen.add(p)
            w = seq[p:p + span]
            if not is_acgt(w):
                continue
            out[split].append({"id": f"{cfg.record}:{p}-{p + span}", "seq": w[: cfg.window], "label": w[cfg.window:],
                               "meta": {"record": cfg.record, "start": p, "end": p + cfg.window}})
    return out


def write_task(folder: Path, name: str, by_split: dict[str, list[dict]], labels: list[str] | None = None,
               extra: dict | None = None) -> dict:
    """Dedup across splits, write ``<folder>/<name>/{train,valid,test}.jsonl`` and ``task.json``."""
    spec = SPECS[name]
    clean, removed = enforce_disjoint(by_split)
    # The same feature can come from two input files (a record shipped by two packages): keep one
    # item per id across all splits, so ids stay unique keys for indexes and resumable batches.
    seen: set[str] = set()
    for split in ("test", "valid", "train"):  # the held-out copy wins, as in enforce_disjoint
        kept = [it for it in clean[split] if not (it["id"] in seen or seen.add(it["id"]))]
        removed[f"duplicate_id_{split}"] = len(clean[split]) - len(kept)
        clean[split] = kept
    check_disjoint(clean)
    d = folder / name
    d.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        with open(d / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for it in clean[split]:
                f.write(json.dumps(it, ensure_ascii=False) + "\n")
    counts = {s: len(clean[s]) for s in SPLITS}
    if spec.kind == "classification" and labels is None:
        labels = sorted({it["label"] for s in SPLITS for it in clean[s]})
    per_label = {s: dict(sorted(Counter(it["label"] for it in clean[s]).items())) for s in SPLITS} \
        if spec.kind == "classification" else None
    meta = {"name": name, "kind": spec.kind, "question": spec.question, "description": spec.description,
            "split_policy": spec.split_policy, "counts": counts, "dedup_removed": removed}
    if spec.kind == "classification":
        meta["labels"] = labels
        meta["counts_per_label"] = per_label
    if extra:
        meta.update(extra)
    write_json(d / "task.json", meta)
    return {"counts": counts, "dedup_removed": removed, **({"labels": len(labels)} if labels else {})}
