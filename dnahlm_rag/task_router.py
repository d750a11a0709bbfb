"""Which task a question asks for, from its wording: ``dnahlm ask`` without ``--task``.

A researcher writes "is this a splice donor?", not ``--task splice``. :class:`TaskRouter` embeds
the question with the sentence-transformers text model (:mod:`dnahlm_rag.embed.text`, offline)
and finds the nearest of a bank of labelled wordings:

- every phrasing of every task in ``prompts/tasks/<task>.toml`` (held-out ones included: holding
  a phrasing out concerns tuning the model, not routing), rendered with the task's question and
  labels, ``{length}`` written as ``N``;
- the extra wordings per task and the ``generic`` wordings (questions no task answers: GC
  content, origin, "what is this?") of ``prompts/routing/bank.toml``.

The question goes to the nearest wording's task; to no task (the general segment index answers)
when that wording is generic or its cosine is below :data:`THRESHOLD`. Nothing is trained.

Measured on ``prompts/routing/questions.jsonl`` (hand-written researcher questions, split by a
hash rule) and ``questions_blind.jsonl`` (by a writer who never saw the bank: the held-out
figure); ``bench/bench_routing.py``, figures in docs/benchmarks.md. The threshold was chosen on
valid splits only.
"""
from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DnaHlmError
from .prompts import format_labels

ROUTING_DIR = Path(__file__).resolve().parent.parent / "prompts" / "routing"
GENERIC = "generic"  # the bank's label of wordings that route to no task
BLIND_QUESTIONS = ROUTING_DIR / "questions_blind.jsonl"  # questions by a writer who never saw the bank (README.md there)
#: Where the wordings' vectors are cached, beside the data folder (``cache/`` of the project root).
CACHE_DIR = Path("cache") / "router"
THRESHOLD = 0.5  # cosine below which no task is chosen (valid split: 0.45 / 0.5 / 0.55 -> 0.934 / 0.951 / 0.934)


@dataclass(frozen=True)
class Route:
    """Where a question goes: ``task`` (None: the general segment index), the nearest wording,
    its cosine with the question, and the threshold the router used."""

    task: str | None
    similarity: float
    wording: str
    threshold: float = THRESHOLD

    def describe(self) -> str:
        """One line for ``ask``'s output."""
        if self.task is None:
            why = (f"nearest wording {self.wording!r} is a general question" if self.similarity >= self.threshold
                   else f"no task wording is near it: best cosine {self.similarity:.2f} < {self.threshold}")
            return f"task: none ({why}); answering from the general segment index"
        return f"task: {self.task} (from the question: nearest wording {self.wording!r}, cosine {self.similarity:.2f})"


def load_bank(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check ``prompts/routing/bank.toml``: ``generic`` (list of str) and ``tasks``
    (task -> list of str)."""
    p = Path(path) if path else ROUTING_DIR / "bank.toml"
    try:
        with open(p, "rb") as f:
            bank = tomllib.load(f)
    except FileNotFoundError:
        raise DnaHlmError(f"routing bank {p} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise DnaHlmError(f"{p}: not valid TOML: {e}") from None
    generic, tasks = bank.get("generic", []), bank.get("tasks", {})
    ok = isinstance(generic, list) and isinstance(tasks, dict) and all(
        isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v) for v in [generic, *tasks.values()])
    if not ok:
        raise DnaHlmError(f"{p}: expected `generic = [\"...\"]` and a [tasks] table of task = [\"...\"] lists of non-empty strings")
    return {"generic": list(generic), "tasks": {str(k): list(v) for k, v in tasks.items()}}


def task_wordings(task: str, data_dir: str | Path, prompts_dir: str | Path | None = None) -> list[str]:
    """Every phrasing of ``task`` (``prompts/tasks/<task>.toml``) rendered with its question and labels."""
    from .instruct import load_task_prompts, read_task

    t = read_task(data_dir, task)
    labels = format_labels(list(t.labels or []))
    return [p.text.replace("{length}", "N").format(question=t.question, labels=labels)
            for p in load_task_prompts(task, prompts_dir).phrasings]


def routable_tasks(data_dir: str | Path, prompts_dir: str | Path | None = None) -> list[str]:
    """Tasks with both a ``data/tasks/<task>/task.json`` and phrasings in ``prompts/tasks/``."""
    from .instruct import TASK_PROMPTS_DIR

    pdir = Path(prompts_dir) if prompts_dir else TASK_PROMPTS_DIR
    tdir = Path(data_dir) / "tasks"
    if not tdir.is_dir():
        return []
    return sorted(p.parent.name for p in tdir.glob("*/task.json") if (pdir / f"{p.parent.name}.toml").is_file())


class TaskRouter:
    """Nearest labelled wording of a question (see the module docstring)."""

    def __init__(self, data_dir: str | Path = "data", tasks: Sequence[str] | None = None,
                 bank_path: str | Path | None = None, prompts_dir: str | Path | None = None,
                 threshold: float = THRESHOLD, embedder: Any = None) -> None:
        self.threshold = threshold
        self.tasks = list(tasks) if tasks is not None else routable_tasks(data_dir, prompts_dir)
        if not self.tasks:
            raise DnaHlmError(f"no task to route to: {Path(data_dir) / 'tasks'} has no task with phrasings "
                              "(build the data with `dnahlm data build`, or pass --task)")
        bank = load_bank(bank_path)
        self.labels: list[str] = []  # the task (or GENERIC) of each wording
        self.wordings: list[str] = []
        for task in self.tasks:
            for w in task_wordings(task, data_dir, prompts_dir) + bank["tasks"].get(task, []):
                self.labels.append(task)
                self.wordings.append(w)
        for w in bank["generic"]:
            self.labels.append(GENERIC)
            self.wordings.append(w)
        if embedder is None:
            from .embed.text import TextEmbedder

            self.embedder: Any = TextEmbedder()
            self._vectors = self._cached_vectors(Path(data_dir).absolute().parent / CACHE_DIR)
        else:  # an embedder given by the caller (tests, a benchmark's own model): nothing is cached
            self.embedder = embedder
            self._vectors = embedder.embed(self.wordings)

    def _cached_vectors(self, cache_dir: Path) -> np.ndarray:
        """The wordings' vectors from ``cache_dir`` when an earlier run stored the same wordings
        embedded by the same text model; else embedded now and stored (atomically; a folder that
        cannot be written just means no cache). Embedding the 178 wordings takes 3-6 s of each
        ``ask`` on 2 cores; a cached file loads in milliseconds. The file name holds a hash of the
        wordings and the embedder's name, version and settings; a file of the wrong shape or
        type, or an unreadable one, is embedded again."""
        from .atomic import atomic_file, sha256_text

        key = sha256_text(json.dumps({"embedder": [self.embedder.name, self.embedder.version, self.embedder.params],
                                      "wordings": self.wordings}, sort_keys=True))[:24]
        path = cache_dir / f"router-{key}.npy"
        try:
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape == (len(self.wordings), self.embedder.dim) and vectors.dtype == np.float32:
                return vectors
        except (OSError, ValueError, EOFError):
            pass  # absent or damaged: embed again
        vectors = np.asarray(self.embedder.embed(self.wordings), dtype=np.float32)
        try:
            with atomic_file(path, "wb") as f:
                np.save(f, vectors, allow_pickle=False)
        except (OSError, DnaHlmError):
            pass  # a read-only checkout: no cache, same answers
        return vectors

    def without(self, texts: Sequence[str]) -> TaskRouter:
        """A copy whose bank leaves out the wordings in ``texts`` (to route them as unseen wordings)."""
        import copy

        drop = set(texts)
        keep = [i for i, w in enumerate(self.wordings) if w not in drop]
        out = copy.copy(self)
        out.wordings = [self.wordings[i] for i in keep]
        out.labels = [self.labels[i] for i in keep]
        out._vectors = self._vectors[keep]
        return out

    def route_many(self, questions: Sequence[str]) -> list[Route]:
        """One :class:`Route` per question (an empty question routes to no task)."""
        if not questions:
            return []
        if not self.wordings:
            raise DnaHlmError("the task router has no wordings to compare a question with")
        sims = self.embedder.embed(list(questions)) @ self._vectors.T
        out = []
        for q, s in zip(questions, sims):
            if not q or not q.strip():
                out.append(Route(None, 0.0, "", self.threshold))
                continue
            j = int(np.argmax(s))
            task = self.labels[j] if self.labels[j] != GENERIC and s[j] >= self.threshold else None
            out.append(Route(task, float(s[j]), self.wordings[j], self.threshold))
        return out

    def route(self, question: str) -> Route:
        return self.route_many([question])[0]


def read_questions(path: str | Path | None = None, split: str | None = None) -> list[dict[str, str]]:
    """Rows (``question``, ``task`` or ``none``, ``split``) of ``prompts/routing/questions.jsonl``."""
    p = Path(path) if path else ROUTING_DIR / "questions.jsonl"
    if not p.is_file():
        raise DnaHlmError(f"routing questions {p} not found")
    rows = [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
    return [r for r in rows if split is None or r.get("split") == split]


def measure_routing(router: TaskRouter, rows: Sequence[dict[str, str]], n_boot: int = 1000,
                    seed: int = 0) -> dict[str, Any]:
    """Route each row's question; a row is right when its route (``none`` for no task) equals its
    ``task``. Questions labelled with a task the router does not know are left out. Returns n,
    accuracy with a 95% bootstrap interval, right / n per label, and the errors."""
    from .metrics import mean_ci

    known = set(router.tasks) | {"none"}
    rows = [r for r in rows if r["task"] in known]
    routes = router.route_many([r["question"] for r in rows])
    right = [float((x.task or "none") == r["task"]) for x, r in zip(routes, rows)]
    by_label: dict[str, list[int]] = {}
    for r, ok in zip(rows, right):
        by_label.setdefault(r["task"], [0, 0])
        by_label[r["task"]][0] += int(ok)
        by_label[r["task"]][1] += 1
    errors = [{"question": r["question"], "label": r["task"], "routed": x.task or "none", "wording": x.wording,
               "cosine": round(x.similarity, 3)} for x, r, ok in zip(routes, rows, right) if not ok]
    acc = sum(right) / len(right) if right else float("nan")
    ci = mean_ci(right, n_resamples=n_boot, seed=seed) if right else (float("nan"), float("nan"))
    return {"n": len(rows), "accuracy": acc, "accuracy_ci": [float(ci[0]), float(ci[1])],
            "by_label": {k: {"right": v[0], "n": v[1]} for k, v in sorted(by_label.items())}, "errors": errors,
            "threshold": router.threshold}
