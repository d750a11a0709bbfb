"""Instruction tuning (``dnahlm sft --recipe NAME``): supervised fine-tuning on ``runs/instruct``.

Each record becomes ``[<|endoftext|>] + prompt + response + [<|endoftext|>]``: the prompt is
rendered by :class:`~dnahlm_rag.instruct.PromptRenderer` (the RAG chain's own templates and
rules), the response is the record's output followed by the end-of-text token, which is learned
so the model stops; padding is ``<|pad|>`` (another id, never a target). The loss is on the
response tokens only (prompt and padding targets are ``-100``): nats per response token, the mean
over all response tokens of an optimizer step. A prompt too long for the context is cut on the
left (its beginning), as the generator does at inference, after dropping the least similar
examples first.

Run folder ``runs/sft/<recipe>/`` (the same layout as pretraining, and the same checkpoint code):
``checkpoint/`` (resumable, atomic), ``final/`` (``save_pretrained`` + tokenizer + ``dnahlm.json``
with the recipe, the base model and instruct hashes and the **prompt style** that inference must
use), ``log.jsonl`` (training rows; ``val_loss`` rows), ``loss.png``, ``manifest.json`` (stage
``sft``).

Batches: records are ordered by a seeded permutation per epoch; inside windows of 64 batches they
are sorted by length (less padding) and the batches of a window are shuffled. The order is a pure
function of the seed, so a resumed run sees exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import sha256_file, write_png
from .checkpoint import (ResumeError, check_new_run_dir, load_checkpoint, read_checkpoint_state, read_model_meta,
                         recipe_identity, save_checkpoint, save_final)
from .errors import DnaHlmError, RecipeError
from .instruct import PromptRenderer, PromptStyle, read_instruct, style_from_dict
from .manifest import write_manifest
from .pretrain import (check_train_section, lr_at, precision_note, read_log, resolve_precision, resolve_threads,
                       truncate_log)
from .recipes import load_recipe, to_dict

STAGE = "sft"
FORMAT_VERSION = 1
IGNORE = -100
WINDOW_BATCHES = 64  # batches per length-sorting window
LOSS_PER = ("token", "record")


@dataclass
class SFTTrainConfig:
    """Optimisation. A step is one optimizer update of ``batch_size * grad_accum`` records."""

    max_steps: int = 300
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 5e-4  # peak (after warmup); fine-tuning wants less than pretraining
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    precision: str = "auto"  # "bf16" (autocast), "fp32", or "auto" (bf16 only where the hardware has it)
    threads: int = 0  # torch CPU threads; 0: $DNAHLM_THREADS or all cores
    seed: int = 0
    eval_every: int = 100  # steps between validations (0: only at the end)
    eval_records: int = 128  # valid records per periodic validation (the final one uses all)
    log_every: int = 1
    checkpoint_every: int = 100
    # How a batch's response tokens are weighted: "token" (each target token counts once, so a
    # record with a 9-token product name outweighs a 1-token label 9 to 1) or "record" (each
    # record's mean over its own targets, so every record counts once whatever its length).
    loss_per: str = "token"


@dataclass
class SFTDataConfig:
    max_train_records: int = 0  # first N records of train.jsonl (0: all)
    max_valid_records: int = 0  # first N records of valid.jsonl (0: all)
    max_response_tokens: int = 48  # a longer response is cut (its eos kept)


@dataclass
class SFTRecipe:
    """``recipes/sft/<name>.toml``."""

    name: str
    description: str = ""
    train: SFTTrainConfig = field(default_factory=SFTTrainConfig)
    data: SFTDataConfig = field(default_factory=SFTDataConfig)


def load_sft_recipe(name_or_path: str | Path) -> SFTRecipe:
    r = load_recipe(SFTRecipe, "sft", name_or_path)
    check_train_section(r.train)
    if r.train.loss_per not in LOSS_PER:
        raise RecipeError(f"recipe key 'train.loss_per': must be one of {', '.join(LOSS_PER)}, not {r.train.loss_per!r}")
    if r.data.max_response_tokens < 2:
        raise RecipeError("recipe key 'data.max_response_tokens': must be >= 2")
    return r


def reseeded(recipe: SFTRecipe, seed: int) -> SFTRecipe:
    """``recipe`` with ``train.seed = seed`` (batch order, and so the tuned weights), named ``<name>-s<seed>``
    (the recipe itself when ``seed`` is already its seed). Several seeds of one recipe are how a
    release is chosen on the valid split (docs/sft.md, "Choosing the release over seeds")."""
    import copy

    if seed < 0:
        raise DnaHlmError(f"--seed must be >= 0, got {seed}")
    if seed == recipe.train.seed:
        return recipe
    r = copy.deepcopy(recipe)
    r.train.seed = seed
    r.name = f"{recipe.name}-s{seed}"
    return r


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------
@dataclass
class Encoded:
    """One record as model input: ``ids`` (prompt + response + eos) and ``labels`` (-100 on the prompt)."""

    ids: np.ndarray  # int64 (T,)
    labels: np.ndarray  # int64 (T,)
    n_prompt: int


def encode_record(rec: dict[str, Any], renderer: PromptRenderer, tokenizer: Any, context: int,
                  max_response_tokens: int = 48, label_set: Sequence[str] | None = None) -> Encoded:
    """Token ids of ``rec`` for tuning; the response (output + eos) is the only target. ``label_set``:
    the record's closed labels, for the style's label hint on a plain prompt (as at answering)."""
    eos = tokenizer.eos_token_id
    resp = list(tokenizer(str(rec["output"]), add_special_tokens=False)["input_ids"])[: max_response_tokens - 1] + [eos]
    budget = context - len(resp)
    if budget < 1:
        raise DnaHlmError(f"record {rec.get('id')}: the response alone fills the {context}-token context")
    prompt = renderer.render(rec["instruction"], rec["input"], rec.get("examples") or [], reserve=len(resp),
                             labels=label_set)
    p = ([tokenizer.bos_token_id] if renderer.style.prepend_bos else []) + list(
        tokenizer(prompt, add_special_tokens=False)["input_ids"])
    p = p[-budget:]  # left truncation, as the generator does
    ids = np.array(p + resp, dtype=np.int64)
    labels = np.array([IGNORE] * len(p) + resp, dtype=np.int64)
    return Encoded(ids, labels, len(p))


def record_labels(imanifest: dict[str, Any], style: PromptStyle) -> dict[str, list[str]]:
    """The closed tasks' labels of an instruct manifest (``{}`` when the style has no label hint);
    instruct data built before the label hint existed cannot be tuned with one."""
    if not style.label_hint:
        return {}
    labels = imanifest.get("task_labels")
    if not isinstance(labels, dict):
        raise DnaHlmError("the instruct data's prompt style has a label hint but its manifest lists no task_labels: "
                          "rebuild it with `dnahlm instruct build`")
    return {str(k): [str(x) for x in v] for k, v in labels.items()}


def collate(items: list[Encoded], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-padded ``(input_ids, attention_mask, labels)`` tensors, ``(B, T)``; pad targets are -100."""
    import torch

    T = max(len(e.ids) for e in items)
    x = torch.full((len(items), T), pad_id, dtype=torch.long)
    m = torch.zeros((len(items), T), dtype=torch.long)
    y = torch.full((len(items), T), IGNORE, dtype=torch.long)
    for i, e in enumerate(items):
        n = len(e.ids)
        x[i, :n] = torch.from_numpy(e.ids)
        m[i, :n] = 1
        y[i, :n] = torch.from_numpy(e.labels)
    return x, m, y


def response_loss_sum(model: Any, x: Any, m: Any, y: Any, per: str = "token") -> tuple[Any, int]:
    """Sum of ``-ln P`` over the response targets of a batch (float32), and their count.

    ``per="record"``: the sum over records of each record's mean ``-ln P`` over its own targets,
    and the number of records with a target (the training weight of ``loss_per = "record"``).
    """
    import torch
    import torch.nn.functional as F

    # The LM head runs only where there is a target (the response, ~5% of the tokens): it is the
    # largest matmul of a small model with a 12k vocabulary, and the loss is the same.
    h = model.transformer(input_ids=x, attention_mask=m).last_hidden_state  # (B, T, C)
    tgt = y[:, 1:]
    sel = tgt != IGNORE  # (B, T-1)
    logits = model.lm_head(h[:, :-1][sel])  # (N, V)
    if per == "token":
        return F.cross_entropy(logits.float(), tgt[sel], reduction="sum"), int(sel.sum())
    nll = F.cross_entropy(logits.float(), tgt[sel], reduction="none")  # (N,), row-major over (B, T-1)
    counts = sel.sum(dim=1)  # (B,)
    rec = torch.repeat_interleave(torch.arange(len(counts), device=nll.device), counts)
    per_rec = torch.zeros(len(counts), dtype=nll.dtype, device=nll.device).index_add_(0, rec, nll)
    has = counts > 0
    return (per_rec[has] / counts[has]).sum(), int(has.sum())


def batch_order(lengths: np.ndarray, n_batches: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """Record indices of each of ``n_batches`` batches (a pure function of the arguments).

    Epoch ``e`` is a permutation seeded by ``(seed, e)``, cut into windows of
    :data:`WINDOW_BATCHES` batches; a window is sorted by length, cut into batches, and its
    batches shuffled. No record appears twice in an epoch; an epoch's last batch may be smaller.
    """
    n = len(lengths)
    batches: list[np.ndarray] = []
    epoch = 0
    w = WINDOW_BATCHES * batch_size
    while len(batches) < n_batches:
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        for a in range(0, n, w):
            win = perm[a:a + w]
            win = win[np.argsort(lengths[win], kind="stable")]
            chunk = [win[i:i + batch_size] for i in range(0, len(win), batch_size)]
            order = np.random.default_rng([seed, epoch, 1 + a]).permutation(len(chunk))
            batches += [chunk[i] for i in order]
        epoch += 1
    return batches[:n_batches]


# --------------------------------------------------------------------------------------------
# Validation, logging
# --------------------------------------------------------------------------------------------
def validate(model: Any, items: list[Encoded], pad_id: int, device: Any, precision: str,
             batch_size: int) -> dict[str, float]:
    """``val_loss``: nats per response token over ``items`` (eos targets included)."""
    import torch

    model.eval()
    total, n = 0.0, 0
    ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
    with torch.no_grad():
        for a in range(0, len(order), batch_size):
            x, m, y = collate([items[i] for i in order[a:a + batch_size]], pad_id)
            with ctx():
                s, c = response_loss_sum(model, x.to(device), m.to(device), y.to(device))
            total += float(s)
            n += c
    model.train()
    return {"val_loss": total / max(n, 1), "val_tokens": n}


def plot_sft(log_path: Path, png_path: Path, loss_per: str = "token", smooth: int = 50) -> None:
    """``loss.png``: training loss per step (faint) with its running mean over ``smooth`` steps,
    and the periodic validation loss, all in nats.

    The validation loss is always per response token. The training loss is in the unit the step
    was weighted by: per response token (``loss_per="token"``), or the mean over the batch's
    records of each record's own per-token mean (``"record"``), which weighs short answers (a
    one-token label) as much as long ones and so is not on the validation curve's scale; the
    legend says which.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    unit = "mean of per-record means" if loss_per == "record" else "per response token"
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    if train:
        steps, loss = (np.asarray(a, dtype=float) for a in zip(*train))
        ax.plot(steps, loss, lw=0.5, alpha=0.3, color="C0")
        w = max(1, min(smooth, len(loss)))
        run = np.convolve(loss, np.ones(w) / w, mode="valid")  # running mean, ends at each step
        ax.plot(steps[w - 1:], run, lw=1.4, color="C0", label=f"train, {unit} ({w}-step running mean)")
    if val:
        ax.plot(*zip(*val), marker="o", ms=3, color="C1", label="valid, per response token")
    ax.set(title="instruction tuning", xlabel="step", ylabel="loss (nats)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    write_png(fig, png_path)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
@dataclass
class SFTResult:
    out_dir: Path
    steps: int
    finished: bool
    metrics: dict[str, Any]


def _base_identity(base_dir: Path) -> dict[str, Any]:
    meta = read_model_meta(base_dir, missing_ok=True) or {}
    return {"dir": str(base_dir), "model_sha256": sha256_file(base_dir / "model.safetensors"),
            "recipe_name": meta.get("recipe_name"), "step": meta.get("step")}


def sft(recipe: SFTRecipe, base_dir: str | Path, instruct_dir: str | Path, out_dir: str | Path,
        resume: bool = False, max_steps: int | None = None, threads: int | None = None,
        progress: bool = True, stop_after: int | None = None) -> SFTResult:
    """Tune ``base_dir`` on ``instruct_dir`` with ``recipe``; write the run folder; return what was measured.

    ``stop_after`` ends the run after that many optimizer steps with a checkpoint and no ``final/``
    (as a run killed right after a checkpoint): the resume tests use it.
    """
    import torch
    from tqdm import tqdm

    from .checkpoint import load_lm
    from .tokenizer import tokenizer_hash

    t = recipe.train
    if max_steps is not None:
        if max_steps < 1:
            raise DnaHlmError("--max-steps must be >= 1")
        t.max_steps = max_steps
    torch.set_num_threads(resolve_threads(threads, t.threads, 1))
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    base, out = Path(base_dir), Path(out_dir)
    ckpt_dir, final_dir, log_path = out / "checkpoint", out / "final", out / "log.jsonl"
    if not (base / "model.safetensors").is_file():
        raise DnaHlmError(f"no base model in {base}: train one with `dnahlm pretrain --recipe cpu` or pass --base")

    imanifest, train_recs, valid_recs = read_instruct(instruct_dir)
    if recipe.data.max_train_records:
        train_recs = train_recs[: recipe.data.max_train_records]
    if recipe.data.max_valid_records and len(valid_recs) > recipe.data.max_valid_records:
        stride = len(valid_recs) / recipe.data.max_valid_records  # evenly spread: every task keeps its share
        valid_recs = [valid_recs[int(i * stride)] for i in range(recipe.data.max_valid_records)]
    style: PromptStyle = style_from_dict(imanifest["prompt_style"])
    instruct_sha = sha256_file(Path(instruct_dir) / "manifest.json")
    base_id = _base_identity(base)
    tok_sha = tokenizer_hash(base)
    recipe_dict = to_dict(recipe)

    state: dict[str, Any] | None = None
    if ckpt_dir.exists():
        if not resume:
            raise DnaHlmError(f"{out} already has a checkpoint: pass --resume to continue it, or choose another --out")
        state = read_checkpoint_state(ckpt_dir)
        if state.get("base_model_sha256") != base_id["model_sha256"] or state.get("instruct_manifest_sha256") != instruct_sha:
            raise ResumeError("cannot resume: the checkpoint was tuned from another base model or instruct data; "
                              "use the same --base/--instruct or start a new run in another --out")
    elif resume:
        raise DnaHlmError(f"nothing to resume: {ckpt_dir} does not exist")
    else:
        check_new_run_dir(out, STAGE)

    model, tokenizer, _ = load_lm(base, device=str(device))
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise DnaHlmError(f"{base}: the padding token must differ from <|endoftext|> (the learned stop token)")
    context = int(model.config.n_positions)
    renderer = PromptRenderer(tokenizer, context, style)
    task_labels = record_labels(imanifest, style)
    enc = lambda recs, desc: [encode_record(r, renderer, tokenizer, context, recipe.data.max_response_tokens,
                                            task_labels.get(r["task"]) if r.get("answer") == "labels" else None)
                              for r in tqdm(recs, desc=desc, unit="rec", disable=not progress, leave=False)]
    train_items = enc(train_recs, "encode train")
    valid_items = enc(valid_recs, "encode valid")
    if not train_items:
        raise DnaHlmError(f"{instruct_dir} has no training records")
    lengths = np.array([len(e.ids) for e in train_items])
    batches = batch_order(lengths, t.max_steps * t.grad_accum, t.batch_size, t.seed)
    pad = tokenizer.pad_token_id

    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=t.lr, betas=(t.beta1, t.beta2), fused=device.type == "cuda")
    start_step, elapsed_before = 0, 0.0
    if state is not None:
        state = load_checkpoint(ckpt_dir, model, opt, recipe_dict, tok_sha)
        start_step, elapsed_before = int(state["step"]), float(state.get("elapsed_s", 0.0))
        truncate_log(log_path, start_step)
    else:
        out.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
        torch.manual_seed(t.seed)

    precision = resolve_precision(t.precision, device)
    if note := precision_note(t.precision, device):
        print(note, file=sys.stderr)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext

    def checkpoint_state(step: int, elapsed: float) -> dict[str, Any]:
        return {"step": step, "records_seen": step * t.batch_size * t.grad_accum, "elapsed_s": round(elapsed, 3),
                "recipe": recipe_dict, "recipe_identity": recipe_identity(recipe_dict), "tokenizer_sha256": tok_sha,
                "base_model_sha256": base_id["model_sha256"], "instruct_manifest_sha256": instruct_sha}

    log_f = open(log_path, "a", encoding="utf-8")
    bar = tqdm(total=t.max_steps, initial=start_step, desc=f"sft {recipe.name}", unit="step",
               disable=not progress, dynamic_ncols=True)
    t_run = time.perf_counter()
    last_plot = t_run
    last_step = start_step
    finished = start_step >= t.max_steps
    try:
        for step in range(start_step, t.max_steps):
            t0 = time.perf_counter()
            lr = lr_at(step, t)  # type: ignore[arg-type]  (reads lr, warmup_steps, max_steps, min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            micro = [collate([train_items[i] for i in batches[step * t.grad_accum + a]], pad) for a in range(t.grad_accum)]
            targets = [y[:, 1:] != IGNORE for _, _, y in micro]  # (B, T-1) each
            n_targets = sum(int(tg.sum()) for tg in targets)
            # the step's loss is divided by what it sums over: tokens, or records with a target
            # (the logged loss is then per record)
            n_weight = n_targets if t.loss_per == "token" else sum(int(tg.any(dim=1).sum()) for tg in targets)
            n_tokens = sum(int(m.sum()) for _, m, _ in micro)
            loss_sum = 0.0
            for x, m, y in micro:
                with autocast():
                    s, _ = response_loss_sum(model, x.to(device), m.to(device), y.to(device), t.loss_per)
                (s / max(n_weight, 1)).backward()
                loss_sum += float(s.detach())
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip) if t.grad_clip > 0 else torch.tensor(0.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_val = loss_sum / max(n_weight, 1)
            if not math.isfinite(loss_val):
                raise DnaHlmError(f"tuning diverged at step {step + 1} (loss {loss_val}); lower train.lr in the recipe")
            dt = time.perf_counter() - t0
            done = last_step = step + 1
            if done % t.log_every == 0 or done == t.max_steps:
                log_f.write(json.dumps({"step": done, "loss": round(loss_val, 5), "lr": lr, "grad_norm": round(float(gnorm), 4),
                                        "tokens_per_s": round(n_tokens / dt, 1), "response_tokens": n_targets,
                                        "step_s": round(dt, 4),
                                        "elapsed_s": round(elapsed_before + time.perf_counter() - t_run, 2)}) + "\n")
                log_f.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.3f}", tok_s=f"{n_tokens / dt:,.0f}")
            is_last = done == t.max_steps
            if t.eval_every and done % t.eval_every == 0 and not is_last and valid_items:
                v = validate(model, valid_items[: t.eval_records], pad, device, precision, t.batch_size)
                log_f.write(json.dumps({"step": done, "periodic": True, "val_loss": round(v["val_loss"], 5),
                                        "val_tokens": v["val_tokens"]}) + "\n")
                log_f.flush()
                bar.write(f"step {done}: val_loss {v['val_loss']:.4f}")
            stopping = stop_after is not None and done >= stop_after
            if is_last or stopping or (t.checkpoint_every and done % t.checkpoint_every == 0):
                save_checkpoint(ckpt_dir, model, opt, checkpoint_state(done, elapsed_before + time.perf_counter() - t_run))
                if time.perf_counter() - last_plot > 120:
                    plot_sft(log_path, out / "loss.png", t.loss_per)
                    last_plot = time.perf_counter()
            if stopping and not is_last:
                break
        else:
            finished = True
    finally:
        bar.close()
        log_f.close()

    metrics: dict[str, Any] = {}
    if finished:
        v = validate(model, valid_items, pad, device, precision, t.batch_size) if valid_items else {}
        per_task = {}
        for name in sorted({r["task"] for r in valid_recs}):
            its = [e for e, r in zip(valid_items, valid_recs) if r["task"] == name]
            per_task[name] = round(validate(model, its, pad, device, precision, t.batch_size)["val_loss"], 4)
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": last_step, "final": True, **{k: round(x, 5) if isinstance(x, float) else x
                                                                     for k, x in v.items()}}) + "\n")
        rows = [r for r in read_log(log_path) if "loss" in r]
        tps = [r["tokens_per_s"] for r in rows[len(rows) // 10:]] or [0.0]
        first = [r["loss"] for r in rows[:10]]
        last = [r["loss"] for r in rows[-10:]]
        metrics = {**v, "val_loss_per_task": per_task, "first_train_loss": float(np.mean(first)) if first else None,
                   "final_train_loss": float(np.mean(last)) if last else None,
                   "median_tokens_per_s": float(np.median(tps)), "steps": last_step,
                   "train_records": len(train_items), "valid_records": len(valid_items),
                   "epochs": last_step * t.batch_size * t.grad_accum / len(train_items),
                   "mean_record_tokens": float(lengths.mean()), "wall_s": rows[-1]["elapsed_s"] if rows else None,
                   "threads": torch.get_num_threads(), "precision": precision}
        meta = {"stage": STAGE, "recipe_name": recipe.name, "recipe": recipe_dict, "recipe_identity": recipe_identity(recipe_dict),
                "tokenizer_sha256": tok_sha, "base": base_id, "instruct_manifest_sha256": instruct_sha,
                "instruct_recipe": imanifest.get("recipe_name"), "data_manifest_sha256": imanifest.get("data_manifest_sha256"),
                "prompt_style": to_dict(style), "task_prompts": imanifest.get("task_prompts"),
                "held_out_tasks": imanifest.get("held_out_tasks"), "step": last_step,
                "metrics": {k: metrics[k] for k in ("val_loss", "final_train_loss")}}
        save_final(final_dir, model, base, meta)
        plot_sft(log_path, out / "loss.png", t.loss_per)
        write_manifest(out, STAGE, FORMAT_VERSION, recipe_name=recipe.name, recipe=recipe_dict, base=base_id,
                       instruct_dir=str(instruct_dir), instruct_manifest_sha256=instruct_sha,
                       tokenizer_sha256=tok_sha, prompt_style=to_dict(style), steps=last_step, metrics=metrics)
    return SFTResult(out, last_step, finished, metrics)
