"""Retrieval-mixed answering: the model's answer distribution mixed with its neighbours' answers.

A small generator does not reliably copy the right answer from the few-shot examples in its
prompt (docs/results.md: the kNN vote of the same neighbours is far ahead). kNN-LM
(Khandelwal et al., 2020, "Generalization through Memorization") mixes a language model's
next-token distribution with a distribution read off retrieved neighbours; we mix whole
*answers*:

* **The answer mixture**: ``P(a) = lam * P_nb(a) + (1 - lam) * P_lm(a | prompt)`` for an answer
  ``a`` (its tokens, then ``<|endoftext|>``). ``P_nb`` is the neighbours' vote
  (:class:`NeighbourPrior`): the weighted share of the ``k`` neighbours whose answer is ``a``,
  where the i-th nearest neighbour (0-based) weighs ``1 + RANK_EPS * (k - i)``, so equal counts
  go to the nearer neighbour, as in the kNN baseline, and no count is ever overturned
  (``RANK_EPS`` keeps the total bonus under one vote for k <= 32).
* **Free generation** (:func:`dnahlm_rag.generator.generate`) decodes from that mixture token by
  token. With the answer so far ``g``, the next-token distribution is
  ``p(t | g) = w * p_nb(t | g) + (1 - w) * p_lm(t | prompt, g)`` with the posterior weight
  ``w = lam * P_nb(g) / (lam * P_nb(g) + (1 - lam) * P_lm(g))`` (``P_nb(g)``: share of the
  answers that start with ``g``; :func:`posterior_weight`). The product of these steps is
  exactly ``P(a)``, so greedy decoding follows the answer that is most probable as a whole far
  better than a fixed per-token weight did (table format 3 mixed every token with ``lam``, which
  charged each further token of a multi-token label ``1 - lam`` again: on ``trna_aa`` "Met" (two
  tokens) lost to "Ala" (one) in scoring but not in generation, 4.9 points apart). Once no
  neighbour answer starts with ``g`` the model goes on alone.
* **Closed labels** (:func:`mix_label_probs`) are scored with the same ``P(a)``; the labels'
  probabilities renormalised over the label set are reported.

``lam = 0`` is the model alone (RAG by prompt only); ``lam = 1`` is the neighbours' vote, ties
to the nearer one, so closed-label answers equal the kNN baseline's (the weight is capped at
``1 - TIE_EPS`` so the model's share never vanishes; it only separates answers no neighbour gave).
``lam`` is fitted per task on the VALID split of each tuned task (:func:`choose_lambda`, by
``dnahlm mix fit``), never on test; tasks held out of tuning (the zero-shot ``promoter``) and
questions without a task use ``default`` = :data:`UNTUNED_LAMBDA` (1.0: the neighbours decide,
the model only separates ties). Until stop 28 the default was the ``lam`` best on average over the
fitted closed tasks (still stored, as the curve ``_mean_closed``); but the model's answers to a
task it was never tuned on are not known to be among that task's labels (the zero-shot promoter
parsed in no valid cell of any tuning, docs/sft.md), and stop 29's fit (0.4) gave such a model the
larger share: promoter's mixed generations then parsed for 68-82% of the test items instead of
100%. The fit is stored beside the weights as ``retrieval_mix.json`` (:class:`MixTable`), tied to
them by the weights' SHA-256.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import DnaHlmError

MIX_FILE = "retrieval_mix.json"
#: Neighbours per question unless told otherwise: the k ``mix fit`` fits the weights at, ``dnahlm eval``
#: judges its goals at, and ``ask`` / ``batch`` / ``examples`` retrieve (so what they answer is what
#: was measured). On the valid splits the kNN vote at k = 3 is as good as at 4 or better on 3 of 4
#: closed tasks (docs/results.md, "Neighbour count k"); tuning prompts carry 4 (recipes/instruct).
DEFAULT_K = 3
MIX_FORMAT = 4  # 4: answer-level mixture, posterior-weighted decoding (3: per-token, rank-weighted vote;
#                  2: per-token, uniform vote; 1: label-level scoring, per-token decoding)
UNTUNED_LAMBDA = 1.0  # tasks held out of tuning and questions without a task (module docstring)
GRID = tuple(round(0.1 * i, 1) for i in range(11))  # lambdas tried on valid (closed tasks)
OPEN_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)  # open tasks: each point is a full generation pass
TIE_EPS = 1e-6  # the model's least share at lam = 1
RANK_EPS = 1e-4  # extra weight per rank step of a nearer neighbour (module docstring)


def effective_weight(lam: float) -> float:
    """``lam`` checked to lie in [0, 1] and capped at ``1 - TIE_EPS``."""
    if not 0.0 <= lam <= 1.0:
        raise DnaHlmError(f"the mixing weight must lie in [0, 1], got {lam}")
    return min(lam, 1.0 - TIE_EPS)


def mix_label_probs(score: Any, prior: NeighbourPrior, lam: float) -> dict[str, float]:
    """Each label's probability among the labels under the answer mixture (module docstring).

    ``score``: a :class:`dnahlm_rag.scoring.LabelScore` with ``token_ids`` (each label's tokens,
    then eos) and ``token_logprobs`` (the model's log P of each, nats). Returns label ->
    ``lam * P_nb(label) + (1 - lam) * P_lm(label)`` renormalised over the labels (sums to 1), in
    the labels' order.
    """
    lam = effective_weight(lam)
    mixed = {}
    for lab, ids in score.token_ids.items():
        lm = sum(score.token_logprobs[lab])
        nb = prior.answer_prob(ids) if lam > 0 else 0.0
        mixed[lab] = math.log(lam * nb + (1 - lam) * math.exp(lm)) if nb > 0 else math.log(1 - lam) + lm
    top = max(mixed.values())
    ex = {lab: math.exp(v - top) for lab, v in mixed.items()}
    z = sum(ex.values())
    return {lab: v / z for lab, v in ex.items()}


def posterior_weight(lam: float, nb_prefix_mass: float, lm_prefix_logprob: float) -> float:
    """The neighbours' share ``w`` of the next-token mixture after the answer prefix ``g``.

    ``nb_prefix_mass``: ``P_nb(g)``, the share of neighbour answers that start with ``g``;
    ``lm_prefix_logprob``: ``log P_lm(g | prompt)`` in nats (0 for the empty prefix).
    ``w = lam * P_nb(g) / (lam * P_nb(g) + (1 - lam) * P_lm(g))``, 0 when no answer starts with ``g``.

    >>> posterior_weight(0.5, 1.0, 0.0), posterior_weight(0.5, 0.0, -1.0)
    (0.5, 0.0)
    """
    if nb_prefix_mass <= 0 or lam <= 0:
        return 0.0
    # w = 1 / (1 + exp(log((1 - lam) P_lm(g)) - log(lam P_nb(g)))), in logs so tiny P_lm(g) is fine
    z = math.log1p(-lam) + lm_prefix_logprob - math.log(lam * nb_prefix_mass)
    return 1.0 / (1.0 + math.exp(z)) if z < 700 else 0.0


def best_label(probs: dict[str, float]) -> str:
    """The most probable label; ties go to the first in order."""
    labels = list(probs)
    return max(labels, key=lambda lab: (probs[lab], -labels.index(lab)))


class NeighbourPrior:
    """The neighbours' answers as a next-token distribution for one prompt (module docstring)."""

    def __init__(self, answer_ids: Sequence[Sequence[int]]) -> None:
        """``answer_ids``: the neighbours' answers as token ids, nearest neighbour first."""
        n = len(answer_ids)
        kept = [(tuple(a), 1.0 + RANK_EPS * (n - i)) for i, a in enumerate(answer_ids) if len(a)]
        self.answers = [a for a, _ in kept]
        self.weights = [w for _, w in kept]
        self.total = sum(self.weights)

    @classmethod
    def from_answers(cls, tokenizer: Any, answers: Sequence[str]) -> NeighbourPrior:
        """Tokenize each answer (no special tokens) and end it with ``<|endoftext|>``."""
        eos = tokenizer.eos_token_id
        enc = tokenizer([str(a) for a in answers], add_special_tokens=False)["input_ids"] if answers else []
        return cls([list(ids) + [eos] for ids in enc])

    def prefix_mass(self, prefix: Sequence[int]) -> float:
        """``P_nb(prefix)``: weighted share of the answers that start with ``prefix`` (1 for ``[]``
        when there are answers; 0 when there are none)."""
        n, p = len(prefix), tuple(prefix)
        return self._share(lambda a: a[:n] == p)

    def answer_prob(self, ids: Sequence[int]) -> float:
        """``P_nb(answer)``: weighted share of the answers equal to ``ids`` (tokens, then eos)."""
        t = tuple(ids)
        return self._share(lambda a: a == t)

    def _share(self, match: Any) -> float:
        """Weighted share of the answers for which ``match(answer)`` holds (0 without answers)."""
        return sum(w for a, w in zip(self.answers, self.weights) if match(a)) / self.total if self.total else 0.0

    def next_token_probs(self, prefix: Sequence[int]) -> dict[int, float]:
        """token id -> weighted share of the answers that start with ``prefix`` and continue with it
        ({} when none do)."""
        n = len(prefix)
        p = tuple(prefix)
        votes: dict[int, float] = {}
        for a, w in zip(self.answers, self.weights):
            if len(a) > n and a[:n] == p:
                votes[a[n]] = votes.get(a[n], 0.0) + w
        z = sum(votes.values())
        return {t: v / z for t, v in votes.items()}


def choose_lambda(curve: dict[float, float]) -> float:
    """The ``lam`` with the best score; ties go to the largest (the neighbours' answers first).

    The fit scores the tuned wordings only, where the model keeps to the label format at any
    weight; on a wording it was not tuned on, the model's share is what leaves the format. With
    ties going to the smallest weight (before 2026-11-29) the fit chose 0.2 for trna_aa and
    genus_16s, where every weight from 0.2 up scored alike on valid, and free generation on an
    unseen wording then parsed as a label for 16% and 50% of the test items (label scoring was
    unaffected)."""
    if not curve:
        raise DnaHlmError("no mixing weights were scored")
    best = max(curve.values())
    return max(lam for lam, s in curve.items() if s >= best - 1e-12)


@dataclass
class MixTable:
    """Fitted mixing weights of one model (``retrieval_mix.json`` beside its weights)."""

    default: float
    tasks: dict[str, float] = field(default_factory=dict)
    k: int = 3  # neighbours the weights were fitted with
    model_sha256: str = ""
    fitted_on: str = ""  # which split and how many items
    curves: dict[str, dict[str, float]] = field(default_factory=dict)  # task -> {lam: valid score}
    format_version: int = MIX_FORMAT

    def lam_for(self, task: str | None) -> float:
        """The task's fitted weight, else the default."""
        return self.tasks.get(task, self.default) if task else self.default

    def save(self, model_dir: str | Path) -> Path:
        from .atomic import write_json

        p = Path(model_dir) / MIX_FILE
        write_json(p, asdict(self))
        return p

    @classmethod
    def load(cls, model_dir: str | Path) -> MixTable | None:
        """The table of ``model_dir``, None when it has none; a table made for other weights is an error."""
        from .embed.lm import model_fingerprint

        p = Path(model_dir) / MIX_FILE
        if not p.is_file():
            return None
        try:
            d = json.loads(p.read_text())
            t = cls(**d)
        except (json.JSONDecodeError, TypeError) as e:
            raise DnaHlmError(f"{p} is not a mixing table ({e}); refit it with `dnahlm mix fit --model {model_dir}`") from None
        if t.format_version != MIX_FORMAT:
            raise DnaHlmError(f"{p} has format {t.format_version}, expected {MIX_FORMAT}; refit it with `dnahlm mix fit`")
        if t.model_sha256 != model_fingerprint(str(model_dir)):
            raise DnaHlmError(f"{p} was fitted for other weights; refit it with `dnahlm mix fit --model {model_dir}`")
        return t


def closed_correctness(scored: Sequence[Any], priors: Sequence[NeighbourPrior], gold: Sequence[str]) -> Any:
    """Is each closed-task item answered right at each weight of :data:`GRID`: an (items,
    len(GRID)) boolean array, from the items' label scores (``evaluate.label_scores``), their
    neighbours' answers as priors, and their gold labels. ``fit_mix`` averages its columns;
    ``bench/bench_mix_rule.py`` cross-validates on its rows."""
    import numpy as np

    return np.array([[best_label(mix_label_probs(s, pr, lam)) == g for lam in GRID]
                     for s, pr, g in zip(scored, priors, gold)], dtype=bool).reshape(len(gold), len(GRID))


@dataclass
class FitConfig:
    """What ``dnahlm mix fit`` measures: RAG prompts with ``k`` neighbours on valid items."""

    tasks: list[str] = field(default_factory=lambda: ["splice", "trna_aa", "feature_type", "genus_16s", "product"])
    k: int = DEFAULT_K
    max_items: int = 200  # valid items per task (seeded sample)
    seed: int = 0
    batch_size: int = 16
    open_max_new_tokens: int = 24
    threads: int = 0
    prompts_dir: str = ""  # task phrasings ("" = prompts/tasks)


def fit_mix(data_dir: str | Path, model_dir: str | Path, cfg: FitConfig = FitConfig(),
            progress: bool = True) -> MixTable:
    """Fit one weight per tuned task on its VALID split (tasks held out of tuning are refused).

    Closed tasks: label-scoring accuracy for every ``lam`` in :data:`GRID` (the model runs once).
    Open tasks: token F1 of mixed greedy generation for every ``lam`` in :data:`OPEN_GRID`.
    ``default``: :data:`UNTUNED_LAMBDA`, for tasks held out of tuning and questions without a task.
    """
    import numpy as np
    from tqdm import tqdm

    from . import metrics as M
    from .embed.lm import model_fingerprint
    from .evaluate import (EvalConfig, answer_budget, choose_phrasing, label_scores, load_task, neighbour_answers,
                           render_prompts)
    from .generator import generate, load_checkpoint
    from .instruct import PromptStyle, load_task_prompts, read_prompt_style

    if not cfg.tasks:
        raise DnaHlmError("no tasks to fit (--tasks is empty); an empty table would replace the fitted one")
    model_dir = Path(model_dir)
    lm = load_checkpoint(model_dir, num_threads=cfg.threads)
    style = read_prompt_style(model_dir) or PromptStyle()
    ecfg = EvalConfig(tasks=cfg.tasks, ks=[cfg.k], max_items=cfg.max_items, seed=cfg.seed)
    curves: dict[str, dict[str, float]] = {}
    chosen: dict[str, float] = {}
    closed_curves = []
    n_items = {}
    for name in tqdm(cfg.tasks, desc="mix fit", unit="task", disable=not progress):
        if not load_task_prompts(name, cfg.prompts_dir or None).train:
            raise DnaHlmError(f"task {name!r} is held out of tuning (zero-shot): fitting on it would tune on it; "
                              "it uses the default weight")
        tc = load_task(Path(data_dir), name, ecfg, split="valid")
        ph = choose_phrasing(tc, "seen", cfg.prompts_dir)
        assert ph is not None
        max_new = answer_budget(tc, lm, cfg.open_max_new_tokens)
        prompts = render_prompts(tc, cfg.k, ph, lm, style, max_new)
        nb = neighbour_answers(tc, cfg.k)
        gold = [str(r["label"]) for r in tc.items]
        n_items[name] = len(gold)
        curve: dict[float, float] = {}
        priors = [NeighbourPrior.from_answers(lm.tokenizer, a) for a in nb]
        if tc.closed:
            scored = label_scores(lm, prompts, tc, style, cfg.batch_size, progress, f"{name} score")
            ok = closed_correctness(scored, priors, gold)
            curve = {lam: float(ok[:, i].mean()) for i, lam in enumerate(GRID)}
            closed_curves.append(curve)
        else:
            for lam in tqdm(OPEN_GRID, desc=f"{name} generate", disable=not progress, leave=False):
                gens = generate(lm, prompts, max_new_tokens=max_new, stop=list(style.stop), temperature=0.0,
                                seed=cfg.seed, batch_size=cfg.batch_size, prepend_bos=style.prepend_bos,
                                priors=priors, mix=lam)
                curve[lam] = float(np.mean([M.token_f1_one(g.strip(), t) for g, t in zip(gens, gold)]))
        chosen[name] = choose_lambda(curve)
        curves[name] = {str(lam): round(v, 4) for lam, v in curve.items()}
    if closed_curves:
        mean = {lam: float(np.mean([c[lam] for c in closed_curves])) for lam in GRID}
        curves["_mean_closed"] = {str(lam): round(v, 4) for lam, v in mean.items()}
    return MixTable(default=UNTUNED_LAMBDA, tasks=chosen, k=cfg.k, model_sha256=model_fingerprint(str(model_dir)),
                    fitted_on="valid split, " + ", ".join(f"{t}: {n}" for t, n in n_items.items()) + " items",
                    curves=curves)
