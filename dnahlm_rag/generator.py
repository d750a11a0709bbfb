"""Loading a checkpoint folder and generating text from it: the one decoding loop of the project.

A checkpoint folder is a ``save_pretrained`` folder (``config.json``, ``model.safetensors``,
tokenizer files) loadable with ``GPT2LMHeadModel`` and ``PreTrainedTokenizerFast``; special
tokens ``<|endoftext|>`` (bos/eos) and ``<|pad|>`` (pad).

Generation (:func:`generate`) is batched with left padding and a KV cache. Decoding is greedy by
default; with ``temperature > 0`` each prompt samples from its own ``torch.Generator`` seeded by
``seed`` and the prompt text, so a prompt's completion does not depend on which other prompts
share its batch. A prompt longer than the context minus ``max_new_tokens`` is cut on the *left*
(its beginning is dropped), so the instruction's end and the response marker are always kept.
Completions never include the prompt; they end before the first stop string or at eos.
:func:`complete` also says why each ended (:data:`FINISH_REASONS`): ``"eos"``, ``"stop"`` (a
stop string) or ``"length"`` (``max_new_tokens`` generated: the answer may be cut short).

Retrieval mixing: with ``priors`` (one :class:`~dnahlm_rag.retrieval_mix.NeighbourPrior` or None per
prompt) and ``mix > 0``, each step decodes from ``w * p_nb + (1 - w) * p_lm``, ``w`` the posterior
weight of the neighbours after the answer so far (:func:`~dnahlm_rag.retrieval_mix.posterior_weight`),
so whole answers are drawn from ``mix * P_nb + (1 - mix) * P_lm`` (see :mod:`dnahlm_rag.retrieval_mix`);
``p_lm`` is the model's distribution after temperature and top-k.
"""
from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DnaHlmError

#: Sampling temperatures below this are raised to it (in effect greedy; float32 cannot divide by less).
MIN_TEMPERATURE = 1e-4


@dataclass
class LoadedModel:
    model: Any  # transformers.GPT2LMHeadModel, eval mode
    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    device: str
    context: int  # n_positions

    @property
    def pad_id(self) -> int:
        pid = self.tokenizer.pad_token_id
        return int(pid if pid is not None else self.tokenizer.eos_token_id)


def check_checkpoint(model_dir: str | Path) -> Path:
    """Return ``model_dir`` as a Path if it looks like a checkpoint folder, else raise one clear line."""
    d = Path(model_dir)
    if not d.is_dir():
        raise DnaHlmError(f"model folder {d} is a file, not a folder" if d.exists() else
                          f"model folder {d} does not exist")
    missing = [f for f in ("config.json", "tokenizer.json") if not (d / f).is_file()]
    if missing or not any((d / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")):
        raise DnaHlmError(
            f"{d} is not a checkpoint folder (needs config.json, model.safetensors, tokenizer.json; "
            f"missing {', '.join(missing) or 'model.safetensors'})"
        )
    return d


@functools.lru_cache(maxsize=4)
def _load(model_dir: str, mtime: float, device: str, dtype: str) -> LoadedModel:
    import torch
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        tok = PreTrainedTokenizerFast.from_pretrained(model_dir)
        model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    except Exception as e:  # noqa: BLE001 - OSError, ValueError, safetensors' SafetensorError (a truncated file), ...
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DnaHlmError(f"cannot load the checkpoint in {model_dir}: {first}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=tok, device=device, context=int(model.config.n_positions))


def load_checkpoint(model_dir: str | Path, device: str = "cpu", dtype: str = "float32",
                    num_threads: int = 0) -> LoadedModel:
    """Load (once per process, cached) the model and tokenizer in ``model_dir``."""
    import torch

    d = check_checkpoint(model_dir)
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    mtime = max((p.stat().st_mtime for p in d.iterdir() if p.is_file()), default=0.0)
    return _load(str(d.resolve()), mtime, device, dtype)


def prompt_ids(lm: LoadedModel, prompts: Sequence[str], max_new_tokens: int, prepend_bos: bool = True) -> list[list[int]]:
    """Token ids of each prompt, left-truncated to ``context - max_new_tokens`` tokens."""
    tok = lm.tokenizer
    budget = lm.context - max_new_tokens
    if budget < 1:
        raise DnaHlmError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt in a {lm.context}-token context")
    enc = tok(list(prompts), add_special_tokens=False)["input_ids"]
    bos = [tok.bos_token_id] if prepend_bos and tok.bos_token_id is not None else []
    out = []
    for ids in enc:
        ids = bos + list(ids)
        out.append(ids[-budget:] if len(ids) > budget else ids)
    return out


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


#: Why a completion ended: the model's end of text, a stop string, or the ``max_new_tokens`` limit.
FINISH_REASONS = ("eos", "stop", "length")


@dataclass(frozen=True)
class Completion:
    """One completion: its text (never the prompt, cut before any stop string) and why it ended
    (one of :data:`FINISH_REASONS`)."""

    text: str
    finish_reason: str


def generate(lm: LoadedModel, prompts: Sequence[str], **kwargs: Any) -> list[str]:
    """Complete each prompt; returns the completions' texts only (never the prompt), in input
    order. Keyword arguments as :func:`complete`."""
    return [c.text for c in complete(lm, prompts, **kwargs)]


def complete(
    lm: LoadedModel,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    stop: Sequence[str] | None = None,
    temperature: float = 0.0,
    top_k: int = 0,
    seed: int = 0,
    batch_size: int = 16,
    prepend_bos: bool = True,
    priors: Sequence[Any] | None = None,
    mix: float = 0.0,
) -> list[Completion]:
    """Complete each prompt; returns a :class:`Completion` per prompt, in input order."""
    if priors is not None and len(priors) != len(prompts):
        raise DnaHlmError(f"{len(priors)} neighbour priors for {len(prompts)} prompts")
    from .retrieval_mix import effective_weight

    mix = effective_weight(mix)
    ids = prompt_ids(lm, prompts, max_new_tokens, prepend_bos)
    order = sorted(range(len(prompts)), key=lambda i: len(ids[i]))  # similar lengths share a batch
    out: list[Completion] = [Completion("", "eos")] * len(prompts)
    for a in range(0, len(order), batch_size):
        idx = order[a : a + batch_size]
        seeds = [(seed * 1_000_003 + zlib.crc32(prompts[i].encode())) & 0x7FFFFFFF for i in idx]
        pri = [priors[i] for i in idx] if priors is not None and mix > 0 else None
        done = _generate_batch(lm, [ids[i] for i in idx], max_new_tokens, list(stop or []),
                                temperature, top_k, seeds, pri, mix)
        for i, c in zip(idx, done):
            out[i] = c
    return out


def _generate_batch(lm: LoadedModel, batch: list[list[int]], max_new_tokens: int, stop: list[str],
                    temperature: float, top_k: int, seeds: list[int], priors: list[Any] | None = None,
                    mix: float = 0.0) -> list[Completion]:
    import torch

    from .retrieval_mix import posterior_weight

    model, tok, dev = lm.model, lm.tokenizer, lm.device
    B, T = len(batch), max(len(x) for x in batch)
    input_ids = torch.full((B, T), lm.pad_id, dtype=torch.long)
    attn = torch.zeros((B, T), dtype=torch.long)
    for r, x in enumerate(batch):  # left padding: the last prompt token sits at column T-1
        input_ids[r, T - len(x):] = torch.tensor(x, dtype=torch.long)
        attn[r, T - len(x):] = 1
    input_ids, attn = input_ids.to(dev), attn.to(dev)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    gens = [torch.Generator().manual_seed(s) for s in seeds] if temperature > 0 else []
    eos = tok.eos_token_id
    new: list[list[int]] = [[] for _ in range(B)]
    done = [False] * B
    reason = ["length"] * B  # until eos or a stop string ends the row
    lm_logp = [0.0] * B  # log P_lm of each row's answer so far (nats), for the mixing's posterior weight
    with torch.inference_mode():
        # logits of the last position only: the LM head over every prompt position was half the
        # time of a short generation (docs/benchmarks.md, batch RAG throughput)
        res = model(input_ids=input_ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1)
        for _ in range(max_new_tokens):
            logits = res.logits[:, -1, :].float()  # (B, V)
            if temperature > 0:
                # shifted by the row maximum, and the temperature kept >= MIN_TEMPERATURE (a float32
                # scalar of 1e-300 is 0, and 0 / 0 made the sampler crash on nan)
                logits = (logits - logits.max(dim=-1, keepdim=True).values) / max(temperature, MIN_TEMPERATURE)
                if top_k > 0:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
            if priors is not None:
                lm_probs = torch.softmax(logits, dim=-1).cpu()
                probs = lm_probs.clone()
                for r in range(B):
                    nb = priors[r].next_token_probs(new[r]) if priors[r] is not None and not done[r] else {}
                    if nb:
                        w = posterior_weight(mix, priors[r].prefix_mass(new[r]), lm_logp[r])
                        probs[r] *= 1.0 - w
                        for t, pt in nb.items():
                            probs[r, t] += w * pt
                logits = torch.log(probs)
            if temperature > 0:
                probs = torch.softmax(logits, dim=-1).cpu()
                nxt = torch.stack([torch.multinomial(probs[r], 1, generator=gens[r])[0] for r in range(B)])
            else:
                nxt = logits.argmax(-1).cpu()
            for r in range(B):
                if done[r]:
                    continue
                t = int(nxt[r])
                if priors is not None:
                    lm_logp[r] += math.log(max(float(lm_probs[r, t]), 1e-300))
                if t == eos:
                    done[r], reason[r] = True, "eos"
                    continue
                new[r].append(t)
                if stop and _cut_at_stop(tok.decode(new[r], skip_special_tokens=True), stop)[1]:
                    done[r], reason[r] = True, "stop"
            if all(done):
                break
            nxt = torch.where(torch.tensor(done), torch.tensor(lm.pad_id), nxt).to(dev)
            attn = torch.cat([attn, torch.ones((B, 1), dtype=attn.dtype, device=dev)], dim=1)
            pos = pos[:, -1:] + 1
            res = model(input_ids=nxt[:, None], attention_mask=attn, position_ids=pos,
                        past_key_values=res.past_key_values, use_cache=True)
    return [Completion(_cut_at_stop(tok.decode(x, skip_special_tokens=True), stop)[0], why)
            for x, why in zip(new, reason)]
