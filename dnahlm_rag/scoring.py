"""Answering with a tuned model: closed-label scoring, free generation, an exact-match parser.

**Label scoring** (:func:`score_labels`): for a prompt ``p`` and allowed labels ``l_1..l_L`` the
score of a label is ``log P(tokens(l) + <|endoftext|> | p)``, the sum of the log-probabilities of
its tokens and of the end-of-text token after them (so ``Ala`` is not credited with the
probability of ``Alanine``). Scores are **not** length-normalised: the sum is the model's own
log-probability of that complete answer, and the softmax over the ``L`` sums is the model's
distribution restricted to the label set (what ``probability`` reports; it sums to 1).
The prompt runs once (batched over prompts, left-padded); its KV cache is then repeated over the
labels (``DynamicCache.batch_repeat_interleave``) and all labels of all prompts of a batch run as
one right-padded forward pass. Ties go to the first label in the task's order.

**Free generation** goes through the project's generator (:func:`dnahlm_rag.generator.generate`:
greedy, or sampled with a per-prompt seed; it stops at ``<|endoftext|>``). For closed tasks
:func:`parse_label` is an exact-match parser: a completion parses when, after normalisation
(case folded, whitespace collapsed, trailing ``.,;:!?`` and surrounding quotes removed), it equals
one allowed label normalised the same way; otherwise it does not parse (``None``).

A task without allowed labels (``kind: generation``) cannot be scored: :class:`NoLabelsError`.
"""
from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DnaHlmError

_TRAIL = re.compile(r"[\s.,;:!?]+$")


class NoLabelsError(DnaHlmError):
    """A closed-label operation on a task that defines no allowed labels."""


@dataclass
class LabelScore:
    """The best label of one prompt, its probability among the labels, and every label's log-likelihood."""

    label: str
    probability: float
    logprobs: dict[str, float]  # label -> log P(label + eos | prompt), nats
    token_ids: dict[str, list[int]] = field(default_factory=dict)  # label -> its tokens, then eos
    token_logprobs: dict[str, list[float]] = field(default_factory=dict)  # label -> log P of each of them, nats


def normalize_answer(text: str) -> str:
    """Case-folded, whitespace-collapsed, without trailing punctuation or surrounding quotes."""
    s = " ".join(text.split()).casefold()
    s = _TRAIL.sub("", s).strip("\"'` ")
    return _TRAIL.sub("", s)


def parse_label(text: str, labels: Sequence[str]) -> str | None:
    """The allowed label ``text`` equals after :func:`normalize_answer`, or None."""
    want = normalize_answer(text)
    for lab in labels:
        if normalize_answer(lab) == want:
            return lab
    return None


def label_answer_budget(tokenizer: Any, labels: Sequence[str]) -> int:
    """Tokens to reserve for a closed task's answer: its longest label's tokens + 3 (end of text and
    slack). ``dnahlm eval`` generates this many and keeps the rest of the context for the prompt;
    ``ask`` and ``batch`` do the same, so a closed question gets the same prompt (the same
    neighbours shown) in both."""
    return max(len(tokenizer(lab, add_special_tokens=False)["input_ids"]) for lab in labels or [""]) + 3


def require_labels(labels: Sequence[str] | None, task: str = "this task") -> list[str]:
    if not labels:
        raise NoLabelsError(f"task {task!r} has no allowed labels (an open-text task): it cannot be scored by "
                            "label; use free generation")
    return [str(x) for x in labels]


def task_labels(data_dir: str | Path, task: str) -> list[str]:
    """The closed label set of ``data/tasks/<task>/task.json`` (:class:`NoLabelsError` when it has none)."""
    from .instruct import read_task

    return require_labels(read_task(data_dir, task).labels, task)


def score_labels(lm: Any, prompts: Sequence[str], labels: Sequence[str], *, batch_size: int = 8,
                 prepend_bos: bool = True, task: str = "this task") -> list[LabelScore]:
    """Score every label after every prompt (see the module docstring); ``lm`` is a generator.LoadedModel."""
    import torch

    from .generator import prompt_ids

    labels = require_labels(labels, task)
    tok, model, dev = lm.tokenizer, lm.model, lm.device
    eos = tok.eos_token_id
    lab_ids = [list(tok(lab, add_special_tokens=False)["input_ids"]) + [eos] for lab in labels]
    L, M = len(labels), max(map(len, lab_ids))
    ids = prompt_ids(lm, prompts, max_new_tokens=M, prepend_bos=prepend_bos)
    lab = torch.full((L, M), lm.pad_id, dtype=torch.long)
    lab_mask = torch.zeros((L, M), dtype=torch.bool)
    for i, x in enumerate(lab_ids):
        lab[i, :len(x)] = torch.tensor(x)
        lab_mask[i, :len(x)] = True
    out: list[LabelScore | None] = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for a in range(0, len(order), batch_size):
            idx = order[a:a + batch_size]
            B, T = len(idx), max(len(ids[i]) for i in idx)
            x = torch.full((B, T), lm.pad_id, dtype=torch.long)
            am = torch.zeros((B, T), dtype=torch.long)
            for r, i in enumerate(idx):  # left padding: every prompt ends at column T-1
                x[r, T - len(ids[i]):] = torch.tensor(ids[i])
                am[r, T - len(ids[i]):] = 1
            pos = (am.cumsum(-1) - 1).clamp(min=0)
            # only the last prompt position's logits are read (the LM head over all is most of the cost)
            res = model(input_ids=x.to(dev), attention_mask=am.to(dev), position_ids=pos.to(dev), use_cache=True,
                        logits_to_keep=1)
            first = torch.log_softmax(res.logits[:, -1, :].float(), -1)  # (B, V): the first label token
            cache = res.past_key_values
            cache.batch_repeat_interleave(L)  # (B*L, ...) prompt b's cache repeated for its L labels
            lx = lab.repeat(B, 1).to(dev)  # (B*L, M)
            lam = torch.cat([am.repeat_interleave(L, 0), torch.ones((B * L, M), dtype=torch.long)], 1).to(dev)
            lpos = (pos[:, -1:] + 1).repeat_interleave(L, 0) + torch.arange(M)[None, :]
            lres = model(input_ids=lx, attention_mask=lam, position_ids=lpos.to(dev), past_key_values=cache, use_cache=False)
            lp = torch.log_softmax(lres.logits.float(), -1).cpu()  # (B*L, M, V): predicts label token j+1
            first = first.cpu()
            for r, i in enumerate(idx):
                per_token = []
                for li in range(L):
                    row = r * L + li
                    toks = [float(first[r, lab_ids[li][0]])]
                    n = len(lab_ids[li])
                    if n > 1:
                        tgt = lab[li, 1:n]
                        toks += [float(v) for v in lp[row, : n - 1].gather(-1, tgt[:, None])[:, 0]]
                    per_token.append(toks)
                scores = [sum(t) for t in per_token]
                top = max(scores)
                z = sum(math.exp(s - top) for s in scores)
                best = max(range(L), key=lambda j: (scores[j], -j))
                out[i] = LabelScore(labels[best], math.exp(scores[best] - top) / z, dict(zip(labels, scores)),
                                    dict(zip(labels, lab_ids)), dict(zip(labels, per_token)))
    return [o for o in out if o is not None]


def score_labels_naive(lm: Any, prompt: str, labels: Sequence[str], prepend_bos: bool = True) -> dict[str, float]:
    """Reference: one full forward pass of ``prompt + label + eos`` per label (no cache); for tests."""
    import torch

    from .generator import prompt_ids

    tok = lm.tokenizer
    eos = tok.eos_token_id
    lab_ids = [list(tok(lab, add_special_tokens=False)["input_ids"]) + [eos] for lab in require_labels(labels)]
    p = prompt_ids(lm, [prompt], max_new_tokens=max(map(len, lab_ids)), prepend_bos=prepend_bos)[0]
    out = {}
    with torch.inference_mode():
        for lab, li in zip(labels, lab_ids):
            x = torch.tensor([p + li], device=lm.device)
            lp = torch.log_softmax(lm.model(input_ids=x).logits[0].float(), -1)
            out[lab] = float(sum(lp[len(p) - 1 + j, t] for j, t in enumerate(li)))
    return out


# --------------------------------------------------------------------------------------------
# Measuring a tuned model on closed tasks
# --------------------------------------------------------------------------------------------
CLOSED_TASKS = ("splice", "promoter", "trna_aa", "feature_type", "genus_16s")


def evaluate_closed_tasks(model_dir: str | Path, data_dir: str | Path, tasks: Sequence[str] | None = None,
                          split: str = "test", limit: int = 200, mode: str = "plain", phrasing: str = "task",
                          threads: int = 0, seed: int = 0, max_new_tokens: int = 16, batch_size: int = 16,
                          progress: bool = True, prompts_dir: str | Path | None = None) -> dict[str, Any]:
    """Label-scoring accuracy, greedy free-generation accuracy and parse rate per closed task.

    Items: ``limit`` of the split (a seeded sample; 0 = all). Prompts: the phrasing ``phrasing`` of
    ``prompts/tasks/<task>.toml`` rendered in the model's saved prompt style, plain or with ``k``
    neighbours from the task's train split (``mode="rag"``). Free generation is greedy and stops
    at ``<|endoftext|>`` only (no stop strings), so a parse counts only an answer the model ended.
    """
    from tqdm import tqdm

    from .generator import generate, load_checkpoint
    from .instruct import PromptStyle, PromptRenderer, load_task_prompts, train_neighbours, read_prompt_style, read_split, read_task

    if mode not in ("plain", "rag"):
        raise DnaHlmError(f"unknown mode {mode!r}: expected plain or rag")
    lm = load_checkpoint(model_dir, num_threads=threads)
    style = read_prompt_style(model_dir) or PromptStyle()
    renderer = PromptRenderer(lm.tokenizer, lm.context, style)
    report: dict[str, Any] = {"model": str(model_dir), "split": split, "mode": mode, "phrasing": phrasing,
                              "limit": limit, "prompt_style": style.__dict__, "tasks": {}}
    for name in tasks or CLOSED_TASKS:
        t0 = time.perf_counter()
        task = read_task(data_dir, name)
        labels = require_labels(task.labels, name)
        tp = load_task_prompts(name, prompts_dir)
        ph = tp.phrasing(phrasing)
        rows = read_split(data_dir, name, split)
        if limit and len(rows) > limit:
            rows = random.Random(seed).sample(rows, limit)
        examples: list[list[dict[str, Any]]] = [[] for _ in rows]
        if mode == "rag":
            train = read_split(data_dir, name, "train")
            nb = train_neighbours(name, train)
            hits = nb.search([r["seq"] for r in rows], style.k, [str(r["id"]) for r in rows])
            examples = [[{"seq": train[h]["seq"], "answer": str(train[h]["label"])} for h, _ in hs] for hs in hits]
        prompts = [renderer.render(ph.render(task.question, labels, len(r["seq"])), r["seq"], ex, reserve=max_new_tokens,
                                   labels=labels) for r, ex in zip(rows, examples)]
        gold = [str(r["label"]) for r in rows]
        scored: list[LabelScore] = []
        for a in tqdm(range(0, len(prompts), batch_size), desc=f"score {name}", disable=not progress, leave=False):
            scored += score_labels(lm, prompts[a:a + batch_size], labels, batch_size=batch_size,
                                   prepend_bos=style.prepend_bos, task=name)
        gens = generate(lm, prompts, max_new_tokens=max_new_tokens, stop=None, temperature=0.0, seed=seed,
                        batch_size=batch_size, prepend_bos=style.prepend_bos)
        parsed = [parse_label(g, labels) for g in gens]
        n = len(rows)
        report["tasks"][name] = {
            "n": n,
            "label_accuracy": sum(s.label == g for s, g in zip(scored, gold)) / max(n, 1),
            "generation_accuracy": sum(p == g for p, g in zip(parsed, gold)) / max(n, 1),
            "parse_rate": sum(p is not None for p in parsed) / max(n, 1),
            "majority_baseline": max(gold.count(x) for x in set(gold)) / max(n, 1) if gold else 0.0,
            "mean_label_probability": sum(s.probability for s in scored) / max(n, 1),
            "unparsed_examples": [g for g, p in zip(gens, parsed) if p is None][:5],
            "seconds": round(time.perf_counter() - t0, 1),
        }
    return report
