"""The evaluation harness (``dnahlm eval``): tasks x systems on the test splits, with baselines.

Systems (``--modes``):

* ``majority``: the most frequent label of the task's TRAIN split, for every item.
* ``constant`` (open tasks only): the one answer with the best mean token F1 on the VALID split
  (:func:`~dnahlm_rag.metrics.best_constant_answer`; on TRAIN when ``split = "valid"``), for every
  item: how much token F1 a generic answer earns without reading the sequence.
* ``knn``: the vote of the ``k`` nearest TRAIN items' labels (``k`` in ``ks``; ties go to the
  nearer neighbour), no language model. Neighbours come from
  :func:`~dnahlm_rag.instruct.train_neighbours` fitted on the task's train split (k-mer profiles,
  exact inner product; for coding tasks such as ``product``, translated proteins re-ranked by
  homology, :mod:`dnahlm_rag.protein_neighbours`; for site-centred windows such as ``splice``,
  base-by-base agreement weighted by label information, :mod:`dnahlm_rag.embed.site`; for tRNA
  genes (``trna_aa``), the anticodon and the amino acid it decodes, :mod:`dnahlm_rag.embed.trna`;
  for windows of several feature types (``feature_type``), CDS windows only on protein-level
  evidence in an open frame longer than chance, else the nearest non-coding windows,
  :mod:`dnahlm_rag.coding_neighbours`):
  the very neighbours the RAG prompts show.
* ``blast``: the label of the best ``blastn`` hit (bit score) in a database made from the TRAIN
  split (``makeblastdb``; ``blastn-short`` for queries under 100 nt); an item without a hit gets
  the majority label (the hit rate is reported). Skipped when BLAST+ is not installed.
* ``blastx`` (tasks whose items are CDS, :data:`TRANSLATED_TASKS`: ``product``): the label of the
  best ``blastx`` hit (bit score) in a protein database of the TRAIN items translated
  (:func:`~dnahlm_rag.orfs.translate_cds`, genetic code per organism group), the query translated
  in six frames with its own organism's code; no hit: the majority label, as ``blast``. The
  translated search the protein-level retriever is measured against (issue 7).
* ``base-plain``: the pretrained model, plain prompt (no examples).
* ``sft-plain``: the instruction-tuned model, plain prompt.
* ``sft-rag``: the instruction-tuned model with the ``k`` nearest TRAIN items as examples, for
  every ``k`` in ``ks``.
* ``sft-rag-mix``: the same prompts, with the answer distribution mixed with the neighbours'
  answers (:mod:`dnahlm_rag.retrieval_mix`, kNN-LM style) by the weight fitted on the VALID split
  (``retrieval_mix.json`` beside the weights, from ``dnahlm mix fit``); at the primary k only.

Language-model answers on closed tasks are chosen by label scoring
(:func:`dnahlm_rag.scoring.score_labels`: the most likely label given the prompt); greedy free
generation (stopping at ``<|endoftext|>`` or the prompt style's stop strings) is run as well and
gives the **format-valid rate** (the share of completions that parse to an allowed label) and
the generation accuracy. Open tasks (``kind: generation``, e.g. ``product``) are answered by
greedy generation and scored by exact match and token F1 (SQuAD normalisation).

Prompts: each task's phrasings (``prompts/tasks/<task>.toml``); ``seen`` is the first phrasing
used in tuning, ``held-out`` the phrasings held out of tuning (zero-shot wording), ``dev`` the
wordings held out of tuning for choosing between tunings on the valid split (``--split valid
--phrasings seen,dev``; the test report never asks them), each run for
``sft-plain`` and for ``sft-rag`` at the primary k only (``base-plain`` runs once: an untuned
model has seen no phrasing). A task
held out of tuning altogether (``train = false``, e.g. ``promoter``) is a **zero-shot task**:
its ``seen`` cell uses its first phrasing and every cell of it is flagged zero-shot.

Items: at most ``max_items`` per task (``task_items`` sets it per task), a seeded sample of the test split (``split = "valid"``
for comparing designs without the test split), the same items for every system (so systems compare pairwise: McNemar; for open tasks also a paired permutation test of
token F1). Metrics: accuracy, macro-F1, MCC with 95%
bootstrap intervals; retrieval recall@k (a neighbour carries the gold label).

Output folder ``--out`` (default ``reports/eval``): ``cells/<cell>.json`` (one finished
(task, system, k, phrasing) cell each, reused on the next run when its key (items, their train
neighbours, model weights, settings) is unchanged: the run is resumable), ``results.json`` (every number),
``report.md`` and ``plots/*.png`` (rendered by :mod:`dnahlm_rag.eval_report`).
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M
from .atomic import atomic_file, check_dir_path, sha256_file, sha256_text, write_json
from .blast_baselines import blast_available, blast_top_hit, blastx_top_hit
from .errors import DnaHlmError
from .retrieval_mix import DEFAULT_K, MIX_FORMAT

MODES = ("majority", "constant", "knn", "blast", "blastx", "base-plain", "sft-plain", "sft-rag", "sft-rag-mix")
#: Tasks whose items and train items are CDS read 5'->3', so that blastx applies.
TRANSLATED_TASKS = ("product",)
LM_MODES = ("base-plain", "sft-plain", "sft-rag", "sft-rag-mix")
RAG_MODES = ("sft-rag", "sft-rag-mix")
PHRASINGS = ("seen", "held-out", "dev")
#: Splits ``dnahlm eval --split`` takes: test (the reported figures) or valid (choosing designs).
SPLITS = ("test", "valid")
DEFAULT_TASKS = ("splice", "promoter", "trna_aa", "feature_type", "genus_16s", "product")
CELL_FORMAT = 2  # 2: held-out cells ask in every held-out phrasing in turn (1: the first only)


@dataclass
class EvalConfig:
    """What ``dnahlm eval`` runs."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    modes: list[str] = field(default_factory=lambda: list(MODES))
    ks: list[int] = field(default_factory=lambda: [1, 3, 5])
    phrasings: list[str] = field(default_factory=lambda: list(PHRASINGS))
    max_items: int = 200  # per task (seeded sample of the split; 0 = all)
    task_items: dict[str, int] = field(default_factory=dict)  # per-task max_items in its place (0 = all)
    split: str = "test"  # "valid" to compare designs without touching the test split
    seed: int = 0
    n_boot: int = 1000
    batch_size: int = 16
    open_max_new_tokens: int = 24  # generation length for open-text tasks
    generate_closed: bool = True  # also free-generate on closed tasks (format-valid rate)
    threads: int = 0
    base_model: str = "runs/pretrain/cpu/final"
    sft_model: str = "runs/sft/cpu/final"
    prompts_dir: str = ""  # task phrasings ("" = prompts/tasks)
    primary_k: int = DEFAULT_K  # the RAG k the goals are judged on (stated in the report)
    alpha: float = 0.05  # significance level of the goals
    routing: bool = True  # also route the hand-written test questions (prompts/routing/), as `ask` does


@dataclass(frozen=True)
class Cell:
    """One (task, system, k, phrasing) measurement."""

    task: str
    mode: str  # one of MODES
    k: int = 0  # neighbours (knn, sft-rag); 0 otherwise
    phrasing: str = ""  # "seen" / "held-out" for LM modes

    @property
    def name(self) -> str:
        s = self.mode + (f"-k{self.k}" if self.k else "")
        return f"{self.task}__{s}" + (f"__{self.phrasing}" if self.phrasing else "")

    @property
    def system(self) -> str:
        return self.mode + (f"-k{self.k}" if self.k else "")


# --------------------------------------------------------------------------------------------
# Task context: items, train split, neighbours
# --------------------------------------------------------------------------------------------


@dataclass
class TaskContext:
    name: str
    closed: bool
    labels: list[str] | None
    question: str
    spec: dict[str, Any]
    train: list[dict[str, Any]]
    items: list[dict[str, Any]]
    neighbours: list[list[int]]  # per item: train row indices, best first (max(ks) of them)
    majority: str
    items_sha: str
    neighbour_level: str = "kmer"  # instruct.task_embedder's name: kmer, protein, coding, site or trna
    constant: str | None = None  # open tasks: the best constant answer (module doc), None when not fitted
    constant_fit: str = ""  # the split it was chosen on


def items_for(cfg: EvalConfig, task: str) -> int:
    """The most items ``task`` is evaluated on: its ``task_items`` entry, else ``max_items`` (0 = all)."""
    return cfg.task_items.get(task, cfg.max_items)


def load_task(data_dir: Path, name: str, cfg: EvalConfig, split: str = "test") -> TaskContext:
    """The task's items (a seeded sample of ``split``), its train split and each item's train neighbours."""
    from .instruct import read_split, read_task, train_neighbours

    task = read_task(data_dir, name)
    closed = task.spec.get("kind") == "classification"
    rows = read_split(data_dir, name, split)
    if not rows:
        raise DnaHlmError(f"task {name!r} has an empty {split} split")
    cap = items_for(cfg, name)
    if cap and len(rows) > cap:
        keep = sorted(random.Random(cfg.seed).sample(range(len(rows)), cap))
        rows = [rows[i] for i in keep]
    train = read_split(data_dir, name, "train")
    if not train:
        raise DnaHlmError(f"task {name!r} has an empty train split")
    kmax = max(cfg.ks) if cfg.ks else 1
    nb = train_neighbours(name, train)
    hits = nb.search([r["seq"] for r in rows], kmax, [str(r["id"]) for r in rows])
    ids_text = "\n".join(f"{r['id']}\t{r['label']}" for r in rows)
    constant, fit_split = None, "train" if split == "valid" else "valid"
    if not closed and "constant" in cfg.modes:
        fit = read_split(data_dir, name, fit_split)
        if fit:
            constant = M.best_constant_answer([str(r["label"]) for r in train], [str(r["label"]) for r in fit],
                                              seed=cfg.seed)[0]
    return TaskContext(name=name, closed=closed, labels=task.labels, question=task.question, spec=task.spec,
                       train=train, items=rows, neighbours=[[h for h, _ in hs] for hs in hits],
                       majority=str(M.majority_label([str(r["label"]) for r in train])),
                       items_sha=sha256_text(ids_text)[:16], neighbour_level=getattr(nb, "level", "kmer"),
                       constant=constant, constant_fit=fit_split if constant is not None else "")


# --------------------------------------------------------------------------------------------
# Scoring a cell's predictions
# --------------------------------------------------------------------------------------------


def cell_metrics(tc: TaskContext, preds: Sequence[str | None], n_boot: int, seed: int) -> tuple[dict[str, Any], list[bool]]:
    """Metrics of one system's predictions on ``tc.items``; returns ``(metrics, correct per item)``."""
    gold = [str(r["label"]) for r in tc.items]
    n = len(gold)
    out: dict[str, Any] = {"n": n}
    if tc.closed:
        correct = [p == g for p, g in zip(preds, gold)]
        out["accuracy"] = M.accuracy(gold, list(preds))
        out["accuracy_ci"] = list(M.mean_ci(np.array(correct, float), n_boot, seed))
        g_arr, p_arr = np.array(gold, dtype=object), np.array(list(preds), dtype=object)
        for key, fn in (("macro_f1", M.macro_f1), ("mcc", M.mcc)):
            out[key] = fn(gold, list(preds))
            out[f"{key}_ci"] = list(M.bootstrap_ci(lambda idx, fn=fn: fn(list(g_arr[idx]), list(p_arr[idx])), n, n_boot, seed))
    else:
        correct = [p is not None and M.exact_match_one(p, g) for p, g in zip(preds, gold)]
        f1 = [M.token_f1_one(p, g) if p is not None else 0.0 for p, g in zip(preds, gold)]
        out["exact_match"] = float(np.mean(correct)) if n else float("nan")
        out["exact_match_ci"] = list(M.mean_ci(np.array(correct, float), n_boot, seed))
        out["token_f1"] = float(np.mean(f1)) if n else float("nan")
        out["token_f1_ci"] = list(M.mean_ci(np.array(f1), n_boot, seed))
        out["accuracy"] = out["exact_match"]
        out["accuracy_ci"] = out["exact_match_ci"]
    return out, correct


# --------------------------------------------------------------------------------------------
# Systems
# --------------------------------------------------------------------------------------------


def run_baseline(tc: TaskContext, cell: Cell, work: Path,
                 threads: int = 0) -> tuple[list[str | None], dict[str, Any]]:
    """Predictions of ``majority`` / ``knn`` / ``blast`` and any extra numbers (``threads``: blastn's)."""
    if cell.mode == "majority":
        return [tc.majority] * len(tc.items), {"label": tc.majority}
    if cell.mode == "constant":
        assert tc.constant is not None
        return [tc.constant] * len(tc.items), {"label": tc.constant, "chosen_on": tc.constant_fit}
    if cell.mode == "knn":
        preds = [M.knn_vote([str(tc.train[h]["label"]) for h in hs], cell.k) for hs in tc.neighbours]
        return [p if p is not None else tc.majority for p in preds], {}
    if cell.mode == "blast":
        return blast_top_hit(tc, work, threads)
    if cell.mode == "blastx":
        return blastx_top_hit(tc, work, threads)
    raise DnaHlmError(f"unknown baseline {cell.mode!r}")


@dataclass
class PhrasingChoice:
    """The phrasing(s) of a cell; with several, item ``i`` is asked in ``texts[i % len(texts)]``."""

    id: str  # the phrasings' ids joined by "+"
    texts: tuple[Any, ...]  # instruct.Phrasing
    zero_shot: str | None  # "task" | "phrasing" | None

    def for_item(self, i: int) -> Any:
        return self.texts[i % len(self.texts)]


def _choice(picks: Sequence[Any], zero_shot: str | None) -> PhrasingChoice | None:
    return PhrasingChoice("+".join(p.id for p in picks), tuple(picks), zero_shot) if picks else None


def choose_phrasing(tc: TaskContext, which: str, prompts_dir: str) -> PhrasingChoice | None:
    """The phrasing(s) a ``seen``/``held-out``/``dev`` cell uses, or None when the task has none of that kind.

    ``seen``: the task's first tuning phrasing (``task`` = its own question, what ``ask --task``
    sends). ``held-out``: every phrasing held out of tuning, taken in turn item by item, so the
    unseen-wording figure does not hang on one wording (one at a time they differed by up to 40
    points of accuracy on the valid split, docs/sft.md). ``dev``: the phrasings marked ``dev``, in
    turn likewise. A task held out of tuning altogether: its first phrasing is ``seen``, the others
    ``held-out``, none ``dev``.
    """
    from .instruct import load_task_prompts

    tp = load_task_prompts(tc.name, prompts_dir or None)
    if which == "dev":  # empty, so no cell, for a task held out of tuning altogether
        return _choice(tp.dev_phrasings, "phrasing")
    if not tp.train:  # the whole task is held out of tuning
        return _choice(tp.phrasings[:1] if which == "seen" else tp.phrasings[1:], "task")
    if which == "seen":
        return _choice(tp.train_phrasings[:1], None)
    return _choice(tp.held_out_phrasings, "phrasing")


def render_prompts(tc: TaskContext, k: int, ph: PhrasingChoice, lm: Any, style: Any, reserve: int) -> list[str]:
    """One prompt per item: plain (``k = 0``) or with its ``k`` nearest train items as examples."""
    from .instruct import PromptRenderer

    renderer = PromptRenderer(lm.tokenizer, lm.context, style)
    prompts = []
    for i, (r, hs) in enumerate(zip(tc.items, tc.neighbours)):
        ex = [{"seq": tc.train[h]["seq"], "answer": str(tc.train[h]["label"])} for h in hs[:k]] if k else None
        instr = ph.for_item(i).render(tc.question, tc.labels, len(r["seq"]))
        prompts.append(renderer.render(instr, r["seq"], ex, reserve=reserve, labels=tc.labels))
    return prompts


def neighbour_answers(tc: TaskContext, k: int) -> list[list[str]]:
    """Each item's ``k`` nearest train items' labels (answers), best first."""
    return [[str(tc.train[h]["label"]) for h in hs[:k]] for hs in tc.neighbours]


def answer_budget(tc: TaskContext, lm: Any, open_max_new_tokens: int) -> int:
    """Tokens generated per answer: the longest label + 3 on closed tasks."""
    if tc.closed:
        from .scoring import label_answer_budget

        return label_answer_budget(lm.tokenizer, tc.labels or [])
    return open_max_new_tokens


def label_scores(lm: Any, prompts: Sequence[str], tc: TaskContext, style: Any, bs: int, progress: bool = False,
                 desc: str = "score") -> list[Any]:
    """:func:`dnahlm_rag.scoring.score_labels` over ``prompts`` in batches of ``bs``, with a progress bar."""
    from tqdm import tqdm

    from .scoring import score_labels

    out = []
    for a in tqdm(range(0, len(prompts), bs), desc=desc, disable=not progress, leave=False):
        out += score_labels(lm, prompts[a:a + bs], list(tc.labels or []), batch_size=bs,
                            prepend_bos=style.prepend_bos, task=tc.name)
    return out


def run_lm(tc: TaskContext, cell: Cell, model_dir: Path, ph: PhrasingChoice, cfg: EvalConfig,
           progress: bool, lam: float = 0.0) -> tuple[list[str | None], dict[str, Any], list[dict[str, Any]]]:
    """An LM cell: prompts (plain or with ``cell.k`` train neighbours), label scoring and/or generation.

    ``lam`` > 0 (``sft-rag-mix``) mixes the answer distribution with the neighbours' answers.
    """
    from .generator import generate, load_checkpoint
    from .instruct import PromptStyle, read_prompt_style
    from .retrieval_mix import NeighbourPrior, best_label, mix_label_probs
    from .scoring import parse_label

    lm = load_checkpoint(model_dir, num_threads=cfg.threads)
    style = read_prompt_style(model_dir) or PromptStyle()
    max_new = answer_budget(tc, lm, cfg.open_max_new_tokens)
    prompts = render_prompts(tc, cell.k, ph, lm, style, max_new)
    nb = neighbour_answers(tc, cell.k)
    priors = [NeighbourPrior.from_answers(lm.tokenizer, a) for a in nb] if lam > 0 else None
    extra: dict[str, Any] = {"phrasing_id": ph.id, "model": str(model_dir), "prompt_style": asdict(style)}
    if cell.mode == "sft-rag-mix":
        extra["mix_lambda"] = lam
    per_item: list[dict[str, Any]] = [{} for _ in tc.items]
    bs = cfg.batch_size

    def gen() -> list[str]:
        return generate(lm, prompts, max_new_tokens=max_new, stop=list(style.stop), temperature=0.0,
                        seed=cfg.seed, batch_size=bs, prepend_bos=style.prepend_bos, priors=priors, mix=lam)

    if tc.closed:
        labels = list(tc.labels or [])
        scored = label_scores(lm, prompts, tc, style, bs, progress, f"{cell.name} score")
        probs = [mix_label_probs(s, pr, lam) for s, pr in zip(scored, priors)] if priors else [None] * len(scored)
        preds: list[str | None] = [best_label(p) if p else s.label for s, p in zip(scored, probs)]
        pmax = [p[lab] if p else s.probability for s, p, lab in zip(scored, probs, preds)]
        extra["mean_label_probability"] = float(np.mean(pmax)) if pmax else float("nan")
        for pi, pm in zip(per_item, pmax):
            pi["p"] = round(pm, 4)
        if cfg.generate_closed:
            gens = gen()
            parsed = [parse_label(g, labels) for g in gens]
            gold = [str(r["label"]) for r in tc.items]
            extra["format_valid_rate"] = M.format_valid_rate(parsed)
            extra["generation_accuracy"] = M.accuracy(gold, parsed)
            extra["unparsed_examples"] = [g for g, p in zip(gens, parsed) if p is None][:5]
            for pi, g in zip(per_item, gens):
                pi["gen"] = g
    else:
        preds = [g.strip() for g in gen()]
        extra["empty_rate"] = float(np.mean([not p for p in preds])) if preds else float("nan")
    return preds, extra, per_item


# --------------------------------------------------------------------------------------------
# Cells, caching, the run
# --------------------------------------------------------------------------------------------


def plan_cells(tc: TaskContext, cfg: EvalConfig, have_blast: bool) -> list[Cell]:
    cells: list[Cell] = []
    for mode in cfg.modes:
        if mode not in MODES:
            raise DnaHlmError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        if mode == "majority":
            cells.append(Cell(tc.name, mode))
        elif mode == "constant":
            if tc.constant is not None:  # open tasks only: a closed task's best constant is a label
                cells.append(Cell(tc.name, mode))
        elif mode == "knn":
            cells += [Cell(tc.name, mode, k) for k in cfg.ks]
        elif mode == "blast":
            if have_blast:
                cells.append(Cell(tc.name, mode))
        elif mode == "blastx":
            if tc.name in TRANSLATED_TASKS and blast_available("blastx"):
                cells.append(Cell(tc.name, mode))
        elif mode == "sft-rag":
            for ph in cfg.phrasings:  # held-out wording: only at the primary k (it costs a full LM pass per k)
                cells += [Cell(tc.name, mode, k, ph) for k in cfg.ks if ph == "seen" or k == primary_k(cfg)]
        elif mode == "sft-rag-mix":  # the primary k only
            cells += [Cell(tc.name, mode, primary_k(cfg), ph) for ph in cfg.phrasings]
        elif mode == "base-plain":  # the base model was never tuned: seen/held-out wording means nothing to it
            cells.append(Cell(tc.name, mode, 0, "seen" if "seen" in cfg.phrasings else cfg.phrasings[0]))
        else:
            cells += [Cell(tc.name, mode, 0, ph) for ph in cfg.phrasings]
    return cells


def primary_k(cfg: EvalConfig) -> int:
    """The RAG k the goals are judged on: ``cfg.primary_k`` when it is run, else the largest k."""
    return cfg.primary_k if cfg.primary_k in cfg.ks else max(cfg.ks)


def _model_identity(model_dir: Path) -> str:
    w = model_dir / "model.safetensors"
    return sha256_file(w)[:16] if w.is_file() else "none"


def cell_key(tc: TaskContext, cell: Cell, cfg: EvalConfig, model_id: str | None, lam: float = 0.0,
             ph: PhrasingChoice | None = None) -> str:
    parts = {"format": CELL_FORMAT, "cell": cell.name, "items": tc.items_sha, "model": model_id, "seed": cfg.seed,
             **({"mix_lambda": lam, "mix_format": MIX_FORMAT} if lam else {}),
             **({"neighbours": tc.neighbour_level} if tc.neighbour_level != "kmer" else {}),
             **({"constant": tc.constant} if cell.mode == "constant" else {}),
             # the neighbours themselves: a changed neighbour finder (embedder version, weights) recomputes
             "neighbour_rows": sha256_text(json.dumps(tc.neighbours))[:16],
             "n_boot": cfg.n_boot, "ks_max": max(cfg.ks) if cfg.ks else 1, "generate_closed": cfg.generate_closed,
             "open_max_new_tokens": cfg.open_max_new_tokens, "prompts_dir": cfg.prompts_dir,
             # the wordings themselves: an edited phrasing recomputes the cells that ask in it
             **({"phrasings": [[p.id, p.text] for p in ph.texts]} if ph is not None else {}),
             "train_sha": sha256_text("\n".join(f"{r['id']}\t{r['label']}" for r in tc.train))[:16]}
    return sha256_text(json.dumps(parts, sort_keys=True))[:24]


def run_cell(tc: TaskContext, cell: Cell, cfg: EvalConfig, out: Path, models: dict[str, Path | None],
             progress: bool) -> dict[str, Any] | None:
    """Compute (or load from ``out/cells``) one cell; None when it cannot run (no model, no phrasing)."""
    ph = None
    model_dir = None
    if cell.mode in LM_MODES:
        model_dir = models["base" if cell.mode == "base-plain" else "sft"]
        if model_dir is None:
            return None
        ph = choose_phrasing(tc, cell.phrasing, cfg.prompts_dir)
        if ph is None:
            return None
    lam = 0.0
    if cell.mode == "sft-rag-mix":
        from .retrieval_mix import MixTable

        assert model_dir is not None
        table = MixTable.load(model_dir)
        if table is None:
            return None
        lam = table.lam_for(tc.name)
    model_id = _model_identity(model_dir) if model_dir else None
    key = cell_key(tc, cell, cfg, model_id, lam, ph)
    path = out / "cells" / f"{cell.name}.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and old.get("key") == key:
                old["cached"] = True
                return old
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            pass  # a damaged cell is computed again (and rewritten)
    t0 = time.perf_counter()
    per_item: list[dict[str, Any]] = [{} for _ in tc.items]
    if cell.mode in LM_MODES:
        assert model_dir is not None and ph is not None
        preds, extra, per_item = run_lm(tc, cell, model_dir, ph, cfg, progress, lam)
        extra["zero_shot"] = None if cell.mode == "base-plain" else ph.zero_shot  # the base model was never tuned
    else:
        preds, extra = run_baseline(tc, cell, out / "work", cfg.threads)
        extra["zero_shot"] = None
    mets, correct = cell_metrics(tc, preds, cfg.n_boot, cfg.seed)
    res = {"key": key, "task": cell.task, "mode": cell.mode, "system": cell.system, "k": cell.k,
           "phrasing": cell.phrasing, **mets, **extra, "seconds": round(time.perf_counter() - t0, 2),
           "items": [{"id": str(r["id"]), "gold": str(r["label"]), "pred": p, "correct": bool(c), **pi}
                     for r, p, c, pi in zip(tc.items, preds, correct, per_item)]}
    write_json(path, res)
    res["cached"] = False
    return res


def retrieval_recall(tc: TaskContext, ks: Sequence[int]) -> dict[str, float]:
    labs = [[str(tc.train[h]["label"]) for h in hs] for hs in tc.neighbours]
    gold = [str(r["label"]) for r in tc.items]
    same = None if tc.closed else M.exact_match_one
    return {str(k): M.recall_at_k(labs, gold, k, same) for k in ks}


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """McNemar of cell ``a`` against cell ``b`` on their (identical) items; for open tasks also a
    paired sign-flip permutation test of per-item token F1 (the task's metric)."""
    if [x["id"] for x in a["items"]] != [x["id"] for x in b["items"]]:
        raise DnaHlmError(f"cells {a['system']} and {b['system']} of {a['task']} were run on different items")
    t = M.mcnemar([x["correct"] for x in a["items"]], [x["correct"] for x in b["items"]])
    out = {"a": a["system"], "b": b["system"], "phrasing": a.get("phrasing", ""),
           "accuracy_a": a["accuracy"], "accuracy_b": b["accuracy"], "difference": a["accuracy"] - b["accuracy"], **t}
    if "token_f1" in a and "token_f1" in b:  # open tasks: their metric is token F1, tested per item
        fa, fb = ([M.token_f1_one(x["pred"] or "", x["gold"]) for x in c["items"]] for c in (a, b))
        f = M.paired_permutation(fa, fb)
        out.update(token_f1_a=a["token_f1"], token_f1_b=b["token_f1"], f1_difference=f["mean_difference"],
                   f1_differing=f["differing"], f1_method=f["method"], f1_p_value=f["p_value"])
    return out


def _decisive(c: dict[str, Any]) -> tuple[float, float]:
    """(difference, p) of a comparison on its task's metric: token F1 for open tasks, else accuracy."""
    return (c["f1_difference"], c["f1_p_value"]) if "f1_p_value" in c else (c["difference"], c["p_value"])


def run_eval(data_dir: str | Path, out_dir: str | Path, cfg: EvalConfig = EvalConfig(), progress: bool = True) -> dict[str, Any]:
    """Run every cell (reusing finished ones), then write ``results.json``, ``report.md`` and plots."""
    import torch
    from tqdm import tqdm

    from .manifest import read_manifest

    data = Path(data_dir)
    data_manifest = read_manifest(data, "data")
    bad = [p for p in cfg.phrasings if p not in PHRASINGS] + [str(k) for k in cfg.ks if k < 1]
    if bad or not cfg.tasks:
        raise DnaHlmError(f"eval: unknown phrasing or k {', '.join(bad)} (phrasings: {', '.join(PHRASINGS)}; k >= 1)"
                          if bad else "eval: no tasks")
    if cfg.split not in SPLITS:
        raise DnaHlmError(f"eval: unknown split {cfg.split!r} (splits: {', '.join(SPLITS)})")
    if not cfg.modes:
        raise DnaHlmError(f"eval: no systems (--modes: {', '.join(MODES)})")
    stray = [t for t in cfg.task_items if t not in cfg.tasks]
    if stray:
        raise DnaHlmError(f"eval: --task-items names {stray[0]!r}, which is not among the tasks ({', '.join(cfg.tasks)})")
    if any(n < 0 for n in cfg.task_items.values()):
        raise DnaHlmError("eval: --task-items counts must be 0 (all) or more")
    unknown = [m for m in cfg.modes if m not in MODES]
    if unknown:  # before any task is loaded or any cell run
        raise DnaHlmError(f"unknown mode {unknown[0]!r}; known: {', '.join(MODES)}")
    if not cfg.ks and any(m in ("knn", "sft-rag", "sft-rag-mix") for m in cfg.modes):
        raise DnaHlmError("eval: --ks is empty, and knn / sft-rag need neighbour counts (e.g. --ks 3)")
    if not cfg.phrasings and any(m.endswith(("plain", "rag", "rag-mix")) for m in cfg.modes):
        raise DnaHlmError(f"eval: --phrasings is empty (phrasings: {', '.join(PHRASINGS)})")
    out = Path(out_dir)
    check_dir_path(out, marker=None)  # a file at --out or among its parents
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    models: dict[str, Path | None] = {}
    skipped: list[str] = []
    for key, path, modes in (("base", cfg.base_model, ("base-plain",)), ("sft", cfg.sft_model, ("sft-plain",) + RAG_MODES)):
        p = Path(path)
        ok = (p / "config.json").is_file()
        models[key] = p if ok else None
        if not ok and any(m in cfg.modes for m in modes):
            skipped.append(f"{', '.join(modes)}: no model at {p}")
    have_blast = blast_available()
    if "blast" in cfg.modes and not have_blast:
        skipped.append("blast: blastn/makeblastdb not installed")
    if "blastx" in cfg.modes and not blast_available("blastx"):
        skipped.append("blastx: blastx/makeblastdb not installed")
    t0 = time.perf_counter()
    results: dict[str, Any] = {"config": asdict(cfg), "data": str(data), "models": {k: str(v) if v else None for k, v in models.items()},
                               "data_policies": data_manifest.get("policies", {}), "skipped": skipped, "tasks": {}}
    if models.get("sft") is not None:  # what the tuned model's plain prompts add after the question
        from .instruct import read_prompt_style

        results["sft_label_hint"] = getattr(read_prompt_style(models["sft"]), "label_hint", "")
    for name in tqdm(cfg.tasks, desc="eval tasks", unit="task", disable=not progress):
        tc = load_task(data, name, cfg, cfg.split)
        cells = plan_cells(tc, cfg, have_blast)
        done: dict[str, dict[str, Any]] = {}
        for cell in tqdm(cells, desc=f"{name} cells", unit="cell", disable=not progress, leave=False):
            r = run_cell(tc, cell, cfg, out, models, progress)
            if r is None:
                skipped.append(f"{cell.name}: no model, no such phrasing" +
                               (", or no retrieval_mix.json (run `dnahlm mix fit`)" if cell.mode == "sft-rag-mix" else ""))
                continue
            done[cell.name] = r
        comps = []
        blastx = done.get(Cell(name, "blastx").name)
        for c in done.values():
            if c["mode"] in RAG_MODES:
                plain = done.get(Cell(name, "sft-plain", 0, c["phrasing"]).name)
                knn = done.get(Cell(name, "knn", c["k"]).name)
                if plain:
                    comps.append({"kind": "rag_vs_plain", **compare(c, plain)})
                if knn:
                    comps.append({"kind": "rag_vs_knn", **compare(c, knn)})
                if blastx and c["mode"] == "sft-rag-mix" and c["phrasing"] == "seen":
                    comps.append({"kind": "rag_vs_blastx", **compare(c, blastx)})
            if c["mode"] == "knn" and blastx:  # the protein-level neighbours alone against blastx
                comps.append({"kind": "knn_vs_blastx", **compare(c, blastx)})
            if c["mode"] == "sft-plain":
                base = done.get(Cell(name, "base-plain", 0, c["phrasing"]).name)
                if base:
                    comps.append({"kind": "sft_vs_base", **compare(c, base)})
        results["tasks"][name] = {
            "kind": "classification" if tc.closed else "generation", "n": len(tc.items),
            "test_size": tc.spec.get("counts", {}).get("test"), "split_policy": tc.spec.get("split_policy"),
            "labels": len(tc.labels or []), "majority_label": tc.majority,
            **({"constant_answer": tc.constant, "constant_chosen_on": tc.constant_fit} if tc.constant is not None else {}),
            "retrieval_recall_at_k": retrieval_recall(tc, cfg.ks),
            "cells": {n: {k: v for k, v in c.items() if k not in ("items", "key", "prompt_style")} for n, c in done.items()},
            "comparisons": comps,
        }
    if cfg.routing:
        results["routing"] = routing_results(data, cfg)
    results["goals"] = judge_goals(results, cfg)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    all_cells = [c for t in results["tasks"].values() for c in t["cells"].values()]
    results["cells_total"] = len(all_cells)
    results["cells_reused"] = sum(bool(c.get("cached")) for c in all_cells)
    results["cell_seconds_total"] = round(sum(c.get("seconds", 0.0) for c in all_cells), 1)
    write_json(out / "results.json", results)
    from .eval_report import make_plots, render_report

    plots = make_plots(results, out / "plots")
    results["plots"] = [str(p.relative_to(out)) for p in plots]
    write_json(out / "results.json", results)
    with atomic_file(out / "report.md") as f:
        f.write(render_report(results))
    return results


def routing_results(data: Path, cfg: EvalConfig) -> dict[str, Any]:
    """The task router of ``ask``/``batch`` on the test split of ``prompts/routing/questions.jsonl``
    (:func:`dnahlm_rag.task_router.measure_routing`), with the same for the test split of
    ``questions_blind.jsonl`` under ``"blind"``, or why it was not measured."""
    from .task_router import BLIND_QUESTIONS, TaskRouter, measure_routing, read_questions

    try:
        router = TaskRouter(data, prompts_dir=cfg.prompts_dir or None)
        out = measure_routing(router, read_questions(split="test"), cfg.n_boot, cfg.seed)
        out["blind"] = measure_routing(router, read_questions(BLIND_QUESTIONS, split="test"), cfg.n_boot, cfg.seed)
        return out
    except DnaHlmError as e:
        return {"skipped": str(e)}


# --------------------------------------------------------------------------------------------
# Goals (the report and plots: dnahlm_rag.eval_report)
# --------------------------------------------------------------------------------------------


def judge_goals(results: dict[str, Any], cfg: EvalConfig) -> list[dict[str, Any]]:
    """The issue's three goals, each judged from the measured cells (met / not met / not measured)."""
    goals = []
    rag_systems = [f"{m}-k{primary_k(cfg)}" for m in RAG_MODES]
    sig: dict[str, list[str]] = {}
    tested: list[str] = []
    beats_knn = []
    for name, t in results["tasks"].items():
        for c in t["comparisons"]:
            diff, p = _decisive(c)
            if c["kind"] == "rag_vs_plain" and c["phrasing"] == "seen" and c["a"] in rag_systems:
                tested.append(name)
                if p < cfg.alpha and diff > 0:
                    sig.setdefault(c["a"], []).append(f"{name} (+{100 * diff:.1f} points, p={p:.2g})")
            if c["kind"] == "rag_vs_knn" and p < cfg.alpha and diff > 0:
                beats_knn.append(f"{name}: {c['a']} {c['phrasing']} (+{100 * diff:.1f} points, p={p:.2g})")
    n_tasks = len(set(tested))
    goals.append({"goal": f"RAG beats plain prompting significantly (p < {cfg.alpha}: McNemar on accuracy, paired permutation "
                          f"on token F1 for open tasks; RAG k={primary_k(cfg)} vs plain, "
                          "instruction-tuned model, seen phrasing) on at least three tasks (judged per RAG system)",
                  "status": "not measured" if not tested else ("met" if any(len(v) >= 3 for v in sig.values()) else "not met"),
                  "evidence": " / ".join(f"{sysname}: {len(sig.get(sysname, []))} of {n_tasks} tasks: " +
                                         ("; ".join(sig.get(sysname, [])) or "none")
                                         for sysname in rag_systems if any(sysname == c["a"] for t in results["tasks"].values()
                                                                           for c in t["comparisons"]))})
    tested_knn = any(c["kind"] == "rag_vs_knn" for t in results["tasks"].values() for c in t["comparisons"])
    goals.append({"goal": f"RAG beats the kNN vote of the same neighbours (same k, p < {cfg.alpha}, tests as above) on at least one task",
                  "status": "not measured" if not tested_knn else ("met" if beats_knn else "not met"),
                  "evidence": "; ".join(beats_knn) or "no significant win of RAG over kNN"})
    sp = results["tasks"].get("splice")
    if sp:
        lm = {n: c for n, c in sp["cells"].items() if c["mode"] in LM_MODES}
        allc = sp["cells"]
        if lm:
            best_name, best = max(lm.items(), key=lambda kv: kv[1]["accuracy"])
            ci = best["accuracy_ci"]
            other = max(allc.values(), key=lambda c: c["accuracy"])
            goals.append({"goal": "splice accuracy towards the 96% of the best classic learners (met at >= 95%)",
                          "status": "met" if best["accuracy"] >= 0.95 else "not met",
                          "evidence": f"best LM cell {best['system']} ({best['phrasing']}): {100 * best['accuracy']:.1f}% "
                                      f"(95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}), n={best['n']}; best of all systems: "
                                      f"{other['system']} {100 * other['accuracy']:.1f}%"})
        else:
            goals.append({"goal": "splice accuracy towards 96%", "status": "not measured", "evidence": "no LM cell on splice"})
    else:
        goals.append({"goal": "splice accuracy towards 96%", "status": "not measured", "evidence": "splice not evaluated"})
    return goals
