"""Instruction data for tuning (``dnahlm instruct build``): tasks rendered in Alpaca form.

Each task's train split becomes records ``instruction / input / output`` (Alpaca): the
instruction is one of the task's phrasings (``prompts/tasks/<task>.toml``, see
``prompts/tasks/README.md``), the input the sequence, the output the label (closed tasks) or text
(open tasks). A share of the records (``rag_share``) also carry ``examples``: the ``k`` nearest
neighbours of the sequence in the task's TRAIN split (never the record itself: neither its id nor
an identical sequence), found with the project's k-mer embedder
(:class:`~dnahlm_rag.embed.kmer.KmerEmbedder`, fitted on that split) and an exact FAISS
inner-product index held in memory; for coding tasks (:data:`CODING_TASKS`: ``product``) at the
protein level instead (:mod:`dnahlm_rag.protein_neighbours`), and for ``feature_type``
(:data:`CODING_EVIDENCE_TASKS`) with the protein level deciding what codes
(:mod:`dnahlm_rag.coding_neighbours`). The rest are plain.

Held out of training: phrasings marked ``held_out`` (unseen wording, measured on the test split),
phrasings marked ``dev`` (unseen wording for choosing between tunings on the valid split), and whole
tasks with ``train = false`` (``promoter``: zero-shot, only retrieved examples show what is wanted). The
valid split is rendered the same way (neighbours again from the train split) for validation
during tuning.

Records are text, not tokens: rendering to a prompt happens in :class:`PromptRenderer`, which
uses the RAG chain's own :class:`~dnahlm_rag.chain.PromptBuilder` and templates, so a training
prompt is exactly what the chain would send the model for the same question, sequence and
neighbours (query cut to its first ``query_seq_chars`` bases, each example to
``example_seq_chars``, examples from least to most similar, the least similar dropped while the
prompt does not fit the context).

Output folder (``runs/instruct/``)::

    train.jsonl   one record per line: task, id, split, phrasing, mode ("plain"|"rag"),
                  instruction, input, output, answer ("labels"|"text"), examples (best first:
                  id, seq, answer, score); ``noised: true`` on a record whose instruction got
                  wording noise (recipe key ``wording_noise``, :mod:`dnahlm_rag.wording_noise`);
                  ``relabelled: {label: name}`` on a record whose labels were renamed (recipe key
                  ``relabel``, :mod:`dnahlm_rag.relabel`)
    valid.jsonl   the same, from the valid split (never noised or relabelled)
    manifest.json stage "instruct": recipe, data manifest hash, prompt style, counts per
                  task / phrasing / mode, noised and relabelled records, held-out phrasings and tasks
"""
from __future__ import annotations

import json
import re
import random
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_dir, sha256_file, sha256_text
from .embed.kmer import KmerConfig, KmerEmbedder
from .embed.site import SiteConfig, SiteEmbedder
from .embed.trna import TrnaEmbedder
from .errors import DnaHlmError, RecipeError
from .manifest import check_replaceable, read_manifest, write_manifest
from .prompts import HINT_FIELDS, PROMPTS_DIR, check_placeholders, format_labels, load_prompt
from .recipes import from_dict, load_recipe, to_dict
from .relabel import relabel
from .wording_noise import perturb

STAGE = "instruct"
FORMAT_VERSION = 1
TASK_PROMPTS_DIR = PROMPTS_DIR / "tasks"
PHRASING_FIELDS = frozenset({"question", "labels", "length"})
ANSWER_KINDS = ("labels", "text")
MODES = ("plain", "rag")
#: The phrasing id every task file has for the task's own question (``text = "{question}"``).
QUESTION_PHRASING = "task"


# --------------------------------------------------------------------------------------------
# Task phrasings
# --------------------------------------------------------------------------------------------
@dataclass
class _PhrasingSpec:
    id: str
    text: str
    held_out: bool = False
    dev: bool = False


@dataclass
class _TaskFileSpec:
    task: str
    version: int
    answer: str
    train: bool = True
    phrasings: list[_PhrasingSpec] = field(default_factory=list)


@dataclass(frozen=True)
class Phrasing:
    """One wording of a task's instruction (``str.format`` text over :data:`PHRASING_FIELDS`)."""

    id: str
    text: str
    held_out: bool
    fields: frozenset[str]
    dev: bool = False  # held out of tuning to validate unseen wording on the valid split (never on test)

    def render(self, question: str, labels: Sequence[str] | None, length: int) -> str:
        return self.text.format(question=question, labels=format_labels(labels or []), length=length)


@dataclass(frozen=True)
class TaskPrompts:
    """A loaded ``prompts/tasks/<task>.toml``."""

    task: str
    version: int
    answer: str  # "labels" | "text"
    train: bool  # False: the whole task is held out of training
    phrasings: tuple[Phrasing, ...]
    path: Path
    sha256: str

    @property
    def train_phrasings(self) -> list[Phrasing]:
        """Phrasings used in training (none when the task is held out; never ``held_out`` or ``dev`` ones)."""
        return [p for p in self.phrasings if not (p.held_out or p.dev)] if self.train else []

    @property
    def dev_phrasings(self) -> list[Phrasing]:
        """Wordings held out of tuning to choose between tunings on the valid split (unseen wording
        without looking at the test wordings); empty when the task is held out altogether."""
        return [p for p in self.phrasings if p.dev] if self.train else []

    @property
    def held_out_phrasings(self) -> list[Phrasing]:
        return [p for p in self.phrasings if p.held_out or not self.train]

    def phrasing(self, pid: str) -> Phrasing:
        for p in self.phrasings:
            if p.id == pid:
                return p
        raise DnaHlmError(f"{self.path}: no phrasing {pid!r}; known: {', '.join(p.id for p in self.phrasings)}")


def load_task_prompts(task: str, prompts_dir: str | Path | None = None) -> TaskPrompts:
    """Load and check ``<prompts_dir>/<task>.toml`` (default ``prompts/tasks/``)."""
    d = Path(prompts_dir) if prompts_dir else TASK_PROMPTS_DIR
    path = d / f"{task}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in d.glob("*.toml"))
        raise DnaHlmError(f"no phrasings for task {task!r}: {path} not found; known: {', '.join(known) or 'none'}")
    raw = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as e:
        raise DnaHlmError(f"{path}: not valid TOML: {e}") from None
    try:
        spec = from_dict(_TaskFileSpec, data)
    except RecipeError as e:
        raise DnaHlmError(f"{path}: {e}") from None
    if spec.task != task:
        raise DnaHlmError(f"{path}: says task = {spec.task!r}, expected {task!r} (the file name)")
    if spec.answer not in ANSWER_KINDS:
        raise DnaHlmError(f"{path}: answer = {spec.answer!r}; expected one of {', '.join(ANSWER_KINDS)}")
    if not spec.phrasings:
        raise DnaHlmError(f"{path}: no [[phrasings]]")
    phrasings, seen = [], set()
    for p in spec.phrasings:
        if p.id in seen:
            raise DnaHlmError(f"{path}: phrasing id {p.id!r} appears twice")
        seen.add(p.id)
        allowed = PHRASING_FIELDS if spec.answer == "labels" else PHRASING_FIELDS - {"labels"}
        fields = check_placeholders(p.text, allowed, f"prompt {path}: phrasing {p.id!r}")
        if not p.text.strip():
            raise DnaHlmError(f"{path}: phrasing {p.id!r} is empty")
        if p.held_out and p.dev:
            raise DnaHlmError(f"{path}: phrasing {p.id!r} is both held_out (test wording) and dev (valid wording); "
                              "choose one")
        if p.id == QUESTION_PHRASING and (p.held_out or p.dev):
            raise DnaHlmError(f"{path}: phrasing {p.id!r} is the task's own question and cannot be held out or dev")
        phrasings.append(Phrasing(p.id, p.text, p.held_out, fields, p.dev))
    tp = TaskPrompts(spec.task, spec.version, spec.answer, spec.train, tuple(phrasings), path, sha256_text(raw))
    if tp.train and not tp.train_phrasings:
        raise DnaHlmError(f"{path}: train = true but every phrasing is held out")
    return tp


# --------------------------------------------------------------------------------------------
# Tasks and neighbours
# --------------------------------------------------------------------------------------------
@dataclass
class TaskData:
    """``data/tasks/<task>``: its ``task.json`` and the rows of one split."""

    name: str
    spec: dict[str, Any]
    question: str
    labels: list[str] | None  # closed label set, or None (open text)


def read_task(data_dir: str | Path, task: str) -> TaskData:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", task):
        raise DnaHlmError(f"no task {task!r}: a task is named by letters, digits, '_' and '-' (a folder of {data_dir}/tasks/)")
    p = Path(data_dir) / "tasks" / task / "task.json"
    if not p.is_file():
        raise DnaHlmError(f"no task {task!r}: {p} not found (build the data with `dnahlm data build`)")
    try:
        spec = json.loads(p.read_text())
        q = str(spec["question"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise DnaHlmError(f"{p} is not a task description ({str(e)[:120]})") from None
    labels = [str(x) for x in spec.get("labels") or []] if spec.get("kind") == "classification" else []
    return TaskData(task, spec, q, labels or None)


def read_split(data_dir: str | Path, task: str, split: str) -> list[dict[str, Any]]:
    """Rows ``{id, seq, label, ...}`` of ``data/tasks/<task>/<split>.jsonl``."""
    from .index import read_jsonl

    path = Path(data_dir) / "tasks" / task / f"{split}.jsonl"
    if not path.is_file():
        raise DnaHlmError(f"{path} not found: task {task!r} has no {split!r} split")
    rows = []
    for n, r in enumerate(read_jsonl(path), 1):
        if "id" not in r or "seq" not in r or "label" not in r:
            raise DnaHlmError(f"{path}: a row lacks id, seq or label")
        if not isinstance(r["seq"], str) or not r["seq"]:
            raise DnaHlmError(f"{path}: row {n} (id {r['id']!r}): seq is not a non-empty string")
        rows.append(r)
    return rows


class TrainNeighbours:
    """Nearest train rows of a task by a DNA embedding (exact inner product), excluding the query
    itself: canonical k-mer profiles by default (``level`` "kmer"), or the given ``embedder``
    (anything with ``name``, ``fit`` and ``embed``; ``level`` is its name, e.g. "site")."""

    def __init__(self, rows: list[dict[str, Any]], config: KmerConfig | None = None,
                 embedder: Any | None = None) -> None:
        import faiss

        self.rows = rows
        seqs = [r["seq"] for r in rows]
        emb = embedder or KmerEmbedder(config or KmerConfig())
        # A supervised embedder (the site embedder's mi weights) is fitted on these rows' labels.
        self.embedder = emb.fit(seqs, [str(r["label"]) for r in rows]) if getattr(emb, "supervised", False) else emb.fit(seqs)
        self.level = "kmer" if embedder is None else str(embedder.name)
        vecs = np.ascontiguousarray(self.embedder.embed(seqs), dtype=np.float32)
        self.index = faiss.IndexFlatIP(vecs.shape[1])
        self.index.add(vecs)

    def search(self, seqs: Sequence[str], k: int, exclude_ids: Sequence[str | None] | None = None,
               batch: int = 512) -> list[list[tuple[int, float]]]:
        """For each query: up to ``k`` ``(row index, score)``, best first, never the row whose id is the
        query's ``exclude_ids`` entry nor a row with the very same sequence."""
        out: list[list[tuple[int, float]]] = []
        exclude = list(exclude_ids) if exclude_ids is not None else [None] * len(seqs)
        want = min(len(self.rows), k + 2)
        for a in range(0, len(seqs), batch):
            q = np.ascontiguousarray(self.embedder.embed(list(seqs[a:a + batch])), dtype=np.float32)
            scores, ids = self.index.search(q, want)
            for j, (srow, irow) in enumerate(zip(scores, ids)):
                seq, ex = seqs[a + j], exclude[a + j]
                hits = [(int(i), float(s)) for s, i in zip(srow, irow) if i >= 0 and is_other(self.rows[int(i)], seq, ex)]
                out.append(hits[:k])
        return out


def is_other(row: dict[str, Any], seq: str, exclude_id: str | None) -> bool:
    """Whether ``row`` may be a neighbour of the query ``seq``: not the row with the query's own id
    (``exclude_id``: the query item itself, when it is a train row) and not a row with the very same
    sequence (a duplicate would hand the model the answer). Every neighbour finder applies it."""
    return row["id"] != exclude_id and row["seq"] != seq


# Tasks whose items are coding sequences (5' end of a CDS, frame 0): their neighbours are found at
# the protein level, since the test organisms share little DNA with the train ones.
CODING_TASKS = frozenset({"product"})

# Tasks whose items are fixed-length windows centred on a site: their neighbours agree base by base
# where bases tell the labels apart (site embedder with SiteConfig's defaults, weights fitted on the
# train rows' labels; chosen on the splice VALID split), which k-mer profiles cannot see.
SITE_TASKS = frozenset({"splice"})

# Tasks whose items are tRNA genes: their neighbours carry the same anticodon and decoded amino acid
# first (tRNA embedder; k-mer profiles of whole tRNAs mostly see how related two organisms are).
TRNA_TASKS = frozenset({"trna_aa"})


# Tasks whose items are windows of several feature types, CDS among them: a window is called coding
# only on protein-level evidence (its ORFs against the train CDS windows' ORFs) in an open frame longer
# than chance, else it is compared with the non-coding train windows by k-mer profile (valid k=3 vote
# 0.583 -> 0.826 -> 0.887 with the open-frame check).
CODING_EVIDENCE_TASKS = frozenset({"feature_type"})

#: Tasks whose neighbours come from the task's train rows through a finder with no index folder:
#: ``batch --task`` builds that finder from ``data/tasks/<task>/train.jsonl`` (:mod:`dnahlm_rag.task_retriever`).
INDEXLESS_TASKS = CODING_TASKS | CODING_EVIDENCE_TASKS


def task_embedder(task: str) -> str:
    """The embedder name of a task's neighbours and task index: ``protein`` (:data:`CODING_TASKS`),
    ``coding`` (:data:`CODING_EVIDENCE_TASKS`), ``site`` (:data:`SITE_TASKS`), ``trna``
    (:data:`TRNA_TASKS`), else ``kmer``."""
    if task in CODING_TASKS:
        return "protein"
    if task in CODING_EVIDENCE_TASKS:
        return "coding"
    if task in SITE_TASKS:
        return "site"
    return "trna" if task in TRNA_TASKS else "kmer"


def train_neighbours(task: str, rows: list[dict[str, Any]], kmer: KmerConfig | None = None) -> Any:
    """The neighbour finder of a task's train rows, the same for tuning, mixing and evaluation:
    :class:`~dnahlm_rag.protein_neighbours.ProteinTrainNeighbours` for :data:`CODING_TASKS`,
    :class:`~dnahlm_rag.coding_neighbours.CodingNeighbours` for :data:`CODING_EVIDENCE_TASKS`,
    :class:`TrainNeighbours` with the site embedder for :data:`SITE_TASKS`, with the tRNA embedder
    for :data:`TRNA_TASKS`, with k-mer profiles otherwise. All have ``search(seqs, k, exclude_ids)``
    and a ``level`` (:func:`task_embedder`'s name)."""
    kind = task_embedder(task)
    if kind == "protein":
        from .protein_neighbours import ProteinTrainNeighbours

        return ProteinTrainNeighbours(rows)
    if kind == "coding":
        from .coding_neighbours import CodingNeighbours

        return CodingNeighbours(rows)
    if kind == "site":
        return TrainNeighbours(rows, embedder=SiteEmbedder(SiteConfig()))
    if kind == "trna":
        return TrainNeighbours(rows, embedder=TrnaEmbedder())
    return TrainNeighbours(rows, kmer)


# --------------------------------------------------------------------------------------------
# Prompt style and rendering (shared by tuning and answering)
# --------------------------------------------------------------------------------------------
@dataclass
class PromptStyle:
    """What a tuned model was trained on; saved beside its weights (``dnahlm.json``) and used at inference."""

    plain: str = "plain.v1"  # prompts/<name>.vN.txt
    rag: str = "rag.v1"
    example: str = "rag_example.v1"
    k: int = 4  # neighbours shown
    query_seq_chars: int = 240  # bases of the query shown
    example_seq_chars: int = 48  # bases of each neighbour shown
    prepend_bos: bool = True  # the prompt starts after <|endoftext|>, as a pretraining document
    response_end: str = "<|endoftext|>"  # the token that ends every response (learned)
    stop: list[str] = field(default_factory=lambda: ["\n\n", "###"])
    # appended to the instruction of plain prompts on closed tasks (prompts.with_label_hint); "" none
    label_hint: str = ""

    def chain_config(self) -> Any:
        """The :class:`~dnahlm_rag.chain.ChainConfig` that renders prompts the way training did."""
        from .chain import ChainConfig

        return ChainConfig(k=self.k, rag_prompt=self.rag, example_prompt=self.example, plain_prompt=self.plain,
                           query_seq_chars=self.query_seq_chars, example_seq_chars=self.example_seq_chars,
                           stop=list(self.stop), label_hint=self.label_hint)


def resolve_style(plain: str, rag: str, example: str, **kw: Any) -> PromptStyle:
    """A :class:`PromptStyle` with each template pinned to its version (``rag`` -> ``rag.v1``)."""
    return PromptStyle(plain=load_prompt(plain).id, rag=load_prompt(rag).id, example=load_prompt(example).id, **kw)


def style_from_dict(d: dict[str, Any]) -> PromptStyle:
    return from_dict(PromptStyle, {k: v for k, v in d.items() if k in PromptStyle.__dataclass_fields__})


def read_prompt_style(model_dir: str | Path) -> PromptStyle | None:
    """The prompt style saved in ``model_dir/dnahlm.json`` by ``dnahlm sft`` (None for a base model)."""
    from .checkpoint import read_model_meta

    meta = read_model_meta(model_dir, missing_ok=True) or {}
    return style_from_dict(meta["prompt_style"]) if isinstance(meta.get("prompt_style"), dict) else None


@dataclass
class _Budget:
    """The few attributes of :class:`~dnahlm_rag.llm.DnaHlmLLM` that ``PromptBuilder`` reads."""

    loaded: Any
    context: int
    max_new_tokens: int
    prepend_bos: bool


class PromptRenderer:
    """Render ``(instruction, sequence, examples)`` with the chain's ``PromptBuilder``.

    ``reserve`` tokens are kept free after the prompt (the response at training time, the
    generated tokens at inference); examples are dropped, least similar first, until it fits.
    """

    def __init__(self, tokenizer: Any, context: int, style: PromptStyle) -> None:
        from types import SimpleNamespace

        from .chain import PromptBuilder

        self.style = style
        self._budget = _Budget(SimpleNamespace(tokenizer=tokenizer), int(context), 0, style.prepend_bos)
        self.builder = PromptBuilder(self._budget, style.chain_config())  # type: ignore[arg-type]

    def render(self, instruction: str, seq: str, examples: Sequence[dict[str, Any]] | None, reserve: int,
               labels: Sequence[str] | None = None) -> str:
        """With no examples the plain prompt, whose instruction gets the style's label hint when
        ``labels`` (a closed task's) are given and it fits the context less ``reserve``; tuning
        renders its plain records the same way (``dnahlm sft``), so the model learns the hint."""
        self._budget.max_new_tokens = int(reserve)
        if not examples:
            return self.builder.render_plain(instruction, seq, labels)
        from langchain_core.documents import Document

        docs = [Document(page_content=str(e["answer"]), metadata={"label": str(e["answer"]), "seq": e["seq"]})
                for e in examples]
        return self.builder.render_rag(instruction, seq, docs)


# --------------------------------------------------------------------------------------------
# Building the instruction data
# --------------------------------------------------------------------------------------------
@dataclass
class InstructRecipe:
    """``recipes/instruct/<name>.toml``."""

    name: str = "default"
    description: str = ""
    tasks: list[str] = field(default_factory=lambda: ["splice", "promoter", "trna_aa", "feature_type",
                                                      "genus_16s", "product", "next_kmer"])
    max_per_task: int = 1500  # training records per task (tasks are balanced to this cap)
    max_repeats: int = 3  # a small task's rows are rendered up to this many times (other phrasing/mode)
    valid_per_task: int = 100  # validation records per task (from its valid split)
    rag_share: float = 0.5  # share of records that carry retrieved neighbours
    # share of records asked in the task's own question (phrasing ``task``, what ``ask --task`` and the
    # evaluation's seen cells send); 0: every tuning phrasing equally likely
    question_share: float = 0.0
    # share of the other TRAIN records whose instruction gets wording noise (dnahlm_rag.wording_noise:
    # words dropped, case, punctuation, openers); 0: every instruction exactly as its phrasing
    wording_noise: float = 0.0
    # share of the other TRAIN records with examples (closed tasks) whose labels are renamed to made-up
    # words in the examples and the output (dnahlm_rag.relabel; 0 in every shipped recipe)
    relabel: float = 0.0
    k: int = 4  # neighbours retrieved for a rag record
    seed: int = 0
    prompts_dir: str = ""  # task phrasings folder ("" = prompts/tasks)
    plain_prompt: str = "plain"  # chain templates (newest version unless .vN is given)
    rag_prompt: str = "rag"
    example_prompt: str = "rag_example"
    query_seq_chars: int = 240
    example_seq_chars: int = 48
    # appended to the instruction of plain records on closed tasks, and at answering to plain prompts
    # (saved in the prompt style; prompts.with_label_hint): "Answer with one of {labels}."; "" none
    label_hint: str = ""
    kmer: KmerConfig = field(default_factory=KmerConfig)


def load_instruct_recipe(name_or_path: str | Path) -> InstructRecipe:
    r = load_recipe(InstructRecipe, "instruct", name_or_path)
    for key in ("rag_share", "question_share", "wording_noise", "relabel"):
        if not 0.0 <= getattr(r, key) <= 1.0:
            raise RecipeError(f"recipe key {key!r}: expected 0..1, got {getattr(r, key)}")
    for key in ("max_per_task", "max_repeats", "k"):
        if getattr(r, key) < 1:
            raise RecipeError(f"recipe key {key!r}: must be >= 1")
    if not r.tasks:
        raise RecipeError("recipe key 'tasks': empty")
    try:
        check_placeholders(r.label_hint, HINT_FIELDS, "recipe key 'label_hint'")
    except DnaHlmError as e:
        raise RecipeError(str(e)) from None
    twice = sorted({t for t in r.tasks if r.tasks.count(t) > 1})
    if twice:
        raise RecipeError(f"recipe key 'tasks': {', '.join(twice)} listed twice")
    if r.valid_per_task < 0:
        raise RecipeError("recipe key 'valid_per_task': must be >= 0")
    return r


def recipe_style(recipe: InstructRecipe) -> PromptStyle:
    return resolve_style(recipe.plain_prompt, recipe.rag_prompt, recipe.example_prompt, k=recipe.k,
                         query_seq_chars=recipe.query_seq_chars, example_seq_chars=recipe.example_seq_chars,
                         label_hint=recipe.label_hint)


def _records_for(task: TaskData, tp: TaskPrompts, rows: list[dict[str, Any]], n: int, split: str,
                 recipe: InstructRecipe, neighbours: Any, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` records from ``rows`` (each row used at most ``ceil(n / len(rows))`` times, with other phrasings)."""
    phrasings = tp.train_phrasings
    labels_text = format_labels(task.labels or [])  # what a phrasing's {labels} renders to
    order = list(range(len(rows)))
    rng.shuffle(order)
    picks = [order[i % len(order)] for i in range(n)]
    recs: list[dict[str, Any]] = []
    used: dict[int, set[str]] = {}
    for ri in picks:
        r = rows[ri]
        seen = used.setdefault(ri, set())
        fresh = [p for p in phrasings if p.id not in seen] or phrasings  # a repeat gets new wording
        if recipe.question_share > 0 and len(fresh) > 1 and any(p.id == QUESTION_PHRASING for p in fresh):
            own = rng.random() < recipe.question_share
            fresh = [p for p in fresh if (p.id == QUESTION_PHRASING) == own]
        ph = rng.choice(fresh)
        seen.add(ph.id)
        mode = "rag" if (neighbours is not None and rng.random() < recipe.rag_share) else "plain"
        instruction = ph.render(task.question, task.labels, len(r["seq"]))
        noised = (recipe.wording_noise > 0 and split == "train" and ph.id != QUESTION_PHRASING
                  and rng.random() < recipe.wording_noise)  # no draw at all when the recipe has none
        if noised:
            instruction = perturb(instruction, rng, labels_text if "labels" in ph.fields else "")
        recs.append({"task": task.name, "id": str(r["id"]), "split": split, "phrasing": ph.id, "mode": mode,
                     "instruction": instruction, "input": r["seq"], "output": str(r["label"]),
                     "answer": tp.answer, "examples": [], **({"noised": True} if noised else {})})
    rag = [i for i, x in enumerate(recs) if x["mode"] == "rag"]
    if rag and neighbours is not None:
        hits = neighbours.search([recs[i]["input"] for i in rag], recipe.k, [recs[i]["id"] for i in rag])
        for i, hs in zip(rag, hits):
            recs[i]["examples"] = [{"id": str(neighbours.rows[h]["id"]), "seq": neighbours.rows[h]["seq"],
                                    "answer": str(neighbours.rows[h]["label"]), "score": round(s, 5)} for h, s in hs]
            if not hs:
                recs[i]["mode"] = "plain"
    if recipe.relabel > 0 and split == "train" and tp.answer == "labels":  # no draw at all when the recipe has none
        for x in recs:
            if x["examples"] and x["phrasing"] != QUESTION_PHRASING and rng.random() < recipe.relabel:
                listed = labels_text if "labels" in tp.phrasing(x["phrasing"]).fields else ""
                relabel(x, task.labels or [], listed, rng)
    return recs


def build_instruct(data_dir: str | Path, out_dir: str | Path, recipe: InstructRecipe,
                   progress: bool = True) -> dict[str, Any]:
    """Write ``out_dir`` (train.jsonl, valid.jsonl, manifest.json) atomically; return the manifest."""
    from tqdm import tqdm

    data = Path(data_dir)
    read_manifest(data, "data")
    check_replaceable(out_dir, STAGE)
    style = recipe_style(recipe)
    rng = random.Random(recipe.seed)
    train: list[dict[str, Any]] = []
    valid: list[dict[str, Any]] = []
    task_files: dict[str, Any] = {}
    held_tasks: list[str] = []
    held_phrasings: dict[str, list[str]] = {}
    task_labels: dict[str, list[str]] = {}  # closed tasks' labels: what tuning's label hint lists
    for name in tqdm(recipe.tasks, desc="instruct", unit="task", disable=not progress):
        task = read_task(data, name)
        tp = load_task_prompts(name, recipe.prompts_dir or None)
        if tp.answer == "labels" and not task.labels:
            raise DnaHlmError(f"{tp.path} says answer = 'labels' but task {name!r} has no labels in its task.json")
        if tp.answer == "labels":
            task_labels[name] = list(task.labels or [])
        task_files[name] = {"path": str(tp.path), "version": tp.version, "sha256": tp.sha256, "answer": tp.answer,
                            "train": tp.train, "phrasings": [p.id for p in tp.phrasings],
                            "held_out": [p.id for p in tp.held_out_phrasings],
                            "dev": [p.id for p in tp.dev_phrasings]}
        held_phrasings[name] = [p.id for p in tp.held_out_phrasings]
        if not tp.train:
            held_tasks.append(name)
            continue
        rows = read_split(data, name, "train")
        if not rows:
            raise DnaHlmError(f"task {name!r} has an empty train split")
        nb = train_neighbours(name, rows, recipe.kmer) if recipe.rag_share > 0 and len(rows) > 1 else None
        task_files[name]["neighbours"] = getattr(nb, "level", None)
        n_train = min(recipe.max_per_task, recipe.max_repeats * len(rows))
        train += _records_for(task, tp, rows, n_train, "train", recipe, nb, rng)
        vrows = read_split(data, name, "valid") if (data / "tasks" / name / "valid.jsonl").is_file() else []
        if vrows and recipe.valid_per_task > 0:
            vrng = random.Random(recipe.seed + 1)
            vrows = vrng.sample(vrows, min(len(vrows), recipe.valid_per_task))
            valid += _records_for(task, tp, vrows, len(vrows), "valid", recipe, nb, vrng)
    if not train:
        raise DnaHlmError("no training records: every task of the recipe is held out")
    rng.shuffle(train)
    random.Random(recipe.seed + 2).shuffle(valid)  # so any first-N subset mixes the tasks

    def counts(recs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"total": len(recs),
                "per_task": dict(sorted(Counter(r["task"] for r in recs).items())),
                "per_task_mode": {t: dict(sorted(Counter(r["mode"] for r in recs if r["task"] == t).items()))
                                  for t in sorted({r["task"] for r in recs})},
                "per_task_phrasing": {t: dict(sorted(Counter(r["phrasing"] for r in recs if r["task"] == t).items()))
                                      for t in sorted({r["task"] for r in recs})},
                "per_mode": dict(sorted(Counter(r["mode"] for r in recs).items())),
                "noised": sum(bool(r.get("noised")) for r in recs),
                "relabelled": sum(bool(r.get("relabelled")) for r in recs)}

    with atomic_dir(out_dir) as tmp:
        for fname, recs in (("train.jsonl", train), ("valid.jsonl", valid)):
            with open(tmp / fname, "w", encoding="utf-8") as f:
                for r in recs:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        manifest = write_manifest(
            tmp, STAGE, FORMAT_VERSION, recipe_name=recipe.name, recipe=to_dict(recipe),
            data_dir=str(data), data_manifest_sha256=sha256_file(data / "manifest.json"),
            prompt_style=to_dict(style), task_prompts=task_files,
            held_out_tasks=held_tasks, held_out_phrasings=held_phrasings, task_labels=task_labels,
            counts={"train": counts(train), "valid": counts(valid)},
            files={n: sha256_file(tmp / n) for n in ("train.jsonl", "valid.jsonl")},
        )
    return manifest


def read_instruct(folder: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``(manifest, train records, valid records)`` of an instruct folder, hashes checked."""
    from .index import read_jsonl

    folder = Path(folder)
    m = read_manifest(folder, STAGE, FORMAT_VERSION)
    if not isinstance(m.get("prompt_style"), dict) or not isinstance(m.get("files"), dict):
        raise DnaHlmError(f"{folder}/manifest.json lacks prompt_style or files: rebuild with `dnahlm instruct build`")
    out = []
    for name in ("train.jsonl", "valid.jsonl"):
        p = folder / name
        if not p.is_file() or sha256_file(p) != m["files"].get(name):
            raise DnaHlmError(f"{p} is missing or does not match its manifest hash: rebuild with `dnahlm instruct build`")
        recs = list(read_jsonl(p))
        for n, r in enumerate(recs, 1):
            if not all(isinstance(r.get(k), str) for k in ("task", "instruction", "input", "output")):
                raise DnaHlmError(f"{p}: record {n} lacks a task, instruction, input or output string")
        out.append(recs)
    return m, out[0], out[1]
