"""GPT-2 pretraining on DNA + English (``dnahlm pretrain --recipe NAME``).

One process, or DDP when started under ``torchrun`` (``WORLD_SIZE`` > 1: NCCL on GPUs, gloo on
CPU). The run folder ``runs/pretrain/<recipe>/`` holds ``checkpoint/`` (resumable), ``final/``
(the model), ``log.jsonl`` (one JSON object per optimizer step, plus validation rows),
``loss.png`` and ``manifest.json`` (stage ``pretrain``).

Units: training loss in nats per token (mean over targets, ``<|endoftext|>`` targets included);
validation on held-out DNA in bits per base (``sum of -ln P over DNA tokens / ln 2 / bases in those
tokens``; end-of-text targets excluded, so it compares with the Markov baseline base for base) and
on held-out English in nats per token (end-of-text targets excluded). ``tokens_per_s`` counts
training tokens of all processes; ``mfu`` is ``flops_per_token * tokens_per_s / peak FLOP/s``,
with the peak from a table for known GPUs or a matmul measured at start-up on CPU (an estimate:
on a shared CPU the peak may be measured while other work holds the cores, and the MFU then
reads too high, even above 1).

Resume is exact: the learning rate is a pure function of the step, the data position is the
number of global sequences consumed (see :mod:`dnahlm_rag.packing`), and the optimizer moments and
RNG states are restored from ``checkpoint/``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_file, sha256_file, write_png
from .checkpoint import (ResumeError, check_new_run_dir, load_checkpoint, load_weights, read_checkpoint_state,
                         read_model_meta, recipe_identity, save_checkpoint, save_final)
from .errors import DnaHlmError, RecipeError
from .manifest import read_manifest, write_manifest
from .model import ModelConfig, build_model, count_params, flops_per_token
from .packing import PackedStreams, encode_documents, eval_windows
from .recipes import load_recipe, to_dict

PRETRAIN_STAGE = "pretrain"
PRETRAIN_FORMAT = 1


PRECISIONS = ("auto", "bf16", "fp32")  # train.precision and --precision (resolve_precision)


@dataclass
class TrainConfig:
    """Optimisation and logging. A step is one optimizer update of ``batch_size * grad_accum * world``
    sequences of ``model.n_ctx`` tokens."""

    max_steps: int = 1000
    batch_size: int = 16  # sequences per micro-batch per process
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 1e-3  # peak learning rate (after warmup)
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at max_steps
    warmup_steps: int = 50  # linear warmup from lr / warmup_steps
    weight_decay: float = 0.1  # on matrices only (not biases, LayerNorms)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global grad norm (0: off)
    dna_fraction: float = 0.5  # share of training sequences drawn from DNA
    precision: str = "auto"  # "bf16" (autocast), "fp32", or "auto": bf16 only where the hardware has it (see resolve_precision)
    compile: bool = False  # torch.compile (pays back on GPUs, not in short CPU runs)
    threads: int = 0  # torch CPU threads; 0: $DNAHLM_THREADS or cores / local processes
    seed: int = 0
    eval_every: int = 100  # steps between validations (0: only at the end)
    eval_windows: int = 16  # windows per domain in a periodic validation (the final one uses all)
    log_every: int = 1  # steps between log.jsonl rows
    checkpoint_every: int = 200  # steps between checkpoints (the last step always writes one)
    markov_baseline: bool = True  # fit the order-k Markov baseline on the same DNA at the end


@dataclass
class DataConfig:
    """How much of ``data/pretrain`` a run reads (evenly spread lines; 0 = all)."""

    dna_train_mb: float = 0.0
    english_train_mb: float = 0.0
    eval_dna_mb: float = 0.5  # first lines of dna.valid.txt: the held-out DNA (model and Markov)
    eval_english_mb: float = 0.25  # first lines of english.valid.txt
    sample_offset: int = 0  # which of the disjoint evenly spread samples to read (see tokenizer.sample_lines)


@dataclass
class PretrainRecipe:
    """``recipes/pretrain/<name>.toml``."""

    name: str
    description: str = ""
    # Name of the pretraining recipe this one continues: the run starts from that recipe's finished
    # final/ weights (given with --init-from), with a fresh optimizer and its own warmup and schedule.
    continues: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)


def check_train_section(t: Any) -> None:
    """Checks shared by every training recipe's ``[train]`` table (pretraining and tuning)."""
    if t.precision not in PRECISIONS:
        names = ", ".join(repr(p) for p in PRECISIONS[:-1]) + f" or {PRECISIONS[-1]!r}"
        raise RecipeError(f"recipe key 'train.precision': expected {names}, got {t.precision!r}")
    for key in ("max_steps", "batch_size", "grad_accum", "log_every"):
        if getattr(t, key) < 1:
            raise RecipeError(f"recipe key 'train.{key}': must be >= 1")
    for key in ("warmup_steps", "eval_every", "checkpoint_every", "threads"):
        if getattr(t, key) < 0:
            raise RecipeError(f"recipe key 'train.{key}': must be >= 0")
    for key in ("lr", "min_lr_ratio", "weight_decay", "beta1", "beta2", "grad_clip"):
        v = getattr(t, key)  # finite and >= 0; lr > 0; betas < 1
        if not (math.isfinite(v) and v >= 0) or (key == "lr" and v == 0) or (key.startswith("beta") and v >= 1):
            raise RecipeError(f"recipe key 'train.{key}': out of range, got {v}")


def load_pretrain_recipe(name_or_path: str | Path) -> PretrainRecipe:
    """Load and check a pretraining recipe (unknown keys / wrong types name the key)."""
    r = load_recipe(PretrainRecipe, "pretrain", name_or_path)
    t = r.train
    check_train_section(t)
    if not 0.0 <= t.dna_fraction <= 1.0:
        raise RecipeError(f"recipe key 'train.dna_fraction': expected 0..1, got {t.dna_fraction}")
    for key in ("n_layer", "n_embd", "n_head", "n_ctx"):
        if getattr(r.model, key) < 1:
            raise RecipeError(f"recipe key 'model.{key}': must be >= 1")
    if r.model.n_embd % r.model.n_head:
        raise RecipeError(f"recipe key 'model.n_head': n_embd {r.model.n_embd} is not divisible by {r.model.n_head}")
    if r.data.sample_offset < 0:
        raise RecipeError("recipe key 'data.sample_offset': must be >= 0")
    if r.continues == r.name:
        raise RecipeError(f"recipe key 'continues': recipe {r.name!r} cannot continue itself")
    return r


def read_init(recipe: PretrainRecipe, init_from: str | Path | None, tok_sha: str) -> dict[str, Any] | None:
    """Check the finished run ``init_from`` (a ``final/`` folder) that ``recipe`` continues; return its record.

    The record (parent recipe name and identity, its steps and tokens, the weights' SHA-256) goes into
    the checkpoint, ``final/dnahlm.json`` and the manifest. ``None`` when the recipe starts from scratch.
    """
    if not recipe.continues:
        if init_from is not None:
            raise DnaHlmError(f"recipe {recipe.name!r} starts from scratch; --init-from is for recipes with a "
                              "`continues` key")
        return None
    if init_from is None:
        raise DnaHlmError(f"recipe {recipe.name!r} continues {recipe.continues!r}: pass --init-from with that "
                          "run's final/ folder")
    folder = Path(init_from)
    meta_path, weights = folder / "dnahlm.json", folder / "model.safetensors"
    if not (meta_path.is_file() and weights.is_file()):
        raise DnaHlmError(f"--init-from {folder}: not a finished pretraining run's final/ folder "
                          "(needs dnahlm.json and model.safetensors)")
    meta = read_model_meta(folder) or {}
    if meta.get("recipe_name") != recipe.continues:
        raise DnaHlmError(f"--init-from {folder}: made by recipe {meta.get('recipe_name')!r}, but {recipe.name!r} "
                          f"continues {recipe.continues!r}")
    if meta.get("tokenizer_sha256") != tok_sha:
        raise DnaHlmError(f"--init-from {folder}: trained with another tokenizer "
                          f"({str(meta.get('tokenizer_sha256'))[:12]}, now {tok_sha[:12]})")
    if meta.get("recipe", {}).get("model") != to_dict(recipe.model):
        raise DnaHlmError(f"--init-from {folder}: its [model] differs from recipe {recipe.name!r}'s")
    return {"recipe_name": meta["recipe_name"], "recipe_identity": meta.get("recipe_identity"),
            "step": meta.get("step"), "tokens_seen": meta.get("tokens_seen"),
            # everything the parent's weights have seen, its own parents' tokens too (_parent_tokens)
            "tokens_seen_total": meta.get("tokens_seen_total"),
            "model_sha256": sha256_file(weights), "path": str(folder)}


def lr_at(step: int, t: TrainConfig) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warmup, then cosine to ``lr * min_lr_ratio``."""
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    span = max(1, t.max_steps - t.warmup_steps)
    progress = min(1.0, (step - t.warmup_steps) / span)
    lo = t.lr * t.min_lr_ratio
    return lo + 0.5 * (t.lr - lo) * (1 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- runtime environment

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Read torchrun's environment; start the process group when there is more than one process."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    d = Dist(rank=int(os.environ.get("RANK", "0")), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")),
             local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(d.local_rank)
        dist.init_process_group(backend=backend)
    return d


def resolve_precision(precision: str, device: Any) -> str:
    """``auto`` -> ``bf16`` on GPUs that support it and on CPUs with native bf16 (AVX512-BF16 / AMX),
    else ``fp32``. Without native support, CPU bf16 matmuls are emulated: about 50x slower than
    fp32 on an AVX2-only EPYC (measured: 0.33 vs 16 GFLOP/s), so autocast would cripple training."""
    import torch

    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX, as oneDNN reports it)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precision_note(precision: str, device: Any) -> str | None:
    """A one-line warning when ``bf16`` was asked for explicitly on a CPU that emulates it (about
    50x slower than fp32, see :func:`resolve_precision`); None otherwise. The run goes ahead: the
    user chose it, e.g. to reproduce a bf16 tuning bit for bit."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        return ("warning: bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX) is emulated, about 50x "
                "slower than fp32; --precision auto or fp32 avoids it")
    return None


def with_precision(recipe: Any, precision: str | None) -> Any:
    """A pretraining or SFT ``recipe`` with ``train.precision = precision`` (``--precision``); the recipe
    itself when ``precision`` is None or already its own. The name stays; the precision is part of the
    recipe identity, so ``--resume`` needs the same value. ``auto`` picks per host (bf16 on a CPU with
    native bf16, fp32 on an AVX2-only one), so comparing tunings from different hosts wants an explicit
    value (docs/sft.md, "Tuning": precision)."""
    import copy

    if precision is None or precision == recipe.train.precision:
        return recipe
    if precision not in PRECISIONS:
        raise DnaHlmError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    r = copy.deepcopy(recipe)
    r.train.precision = precision
    return r


def resolve_threads(requested: int | None, recipe_threads: int, local_world: int) -> int:
    """Threads for torch: the CLI value, else the recipe's, else ``$DNAHLM_THREADS``, else cores / processes
    (0 or unset: the next one); a negative or non-integer value is an error."""
    for what, v in (("--threads", requested), ("recipe key 'train.threads'", recipe_threads)):
        if v is not None and v < 0:
            raise DnaHlmError(f"{what} must be >= 0 (0: default), got {v}")
        if v:
            return int(v)
    env = os.environ.get("DNAHLM_THREADS", "").strip() or "0"
    if not env.isdigit():
        raise DnaHlmError(f"$DNAHLM_THREADS must be a whole number >= 0, got {env!r}")
    return int(env) or max(1, (os.cpu_count() or 1) // max(1, local_world))


_GPU_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "L4": 121e12}


def peak_flops(device: Any, precision: str) -> tuple[float, str]:
    """Peak FLOP/s for MFU: a dense-bf16 table for known GPUs, else a measured matmul (CPU)."""
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, val in _GPU_PEAK_BF16.items():
            if key in name:
                return (val if precision == "bf16" else val / 2), f"table ({name})"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n = 1024
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    best = math.inf
    for _ in range(10):  # best of 10: another process on the machine only slows a matmul down
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / max(best, 1e-9), f"measured {n}x{n} {dtype} matmul, {torch.get_num_threads()} threads"


# --------------------------------------------------------------------------- evaluation

def token_base_counts(tokenizer: Any, vocab_size: int) -> np.ndarray:
    """Number of A/C/G/T characters in each token's text (int64[vocab_size]); specials count 0."""
    out = np.zeros(vocab_size, dtype=np.int64)
    specials = set(tokenizer.all_special_ids)
    for i in range(len(tokenizer)):
        if i in specials:
            continue
        s = tokenizer.decode([i])
        out[i] = sum(s.count(b) for b in "ACGT")
    return out


def evaluate(model: Any, windows: list[np.ndarray], eos_id: int, device: Any, precision: str,
             batch_size: int) -> tuple[float, int, np.ndarray]:
    """Sum of ``-ln P`` over non-eos targets of ``windows``, their count, and the target ids (for base counts)."""
    import torch
    import torch.nn.functional as F

    model.eval()
    total = 0.0
    n = 0
    targets: list[np.ndarray] = []
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    groups: dict[int, list[np.ndarray]] = {}
    for w in windows:
        groups.setdefault(len(w), []).append(w)
    with torch.no_grad():
        for length, ws in groups.items():
            if length < 2:
                continue
            for s in range(0, len(ws), batch_size):
                x = torch.from_numpy(np.stack(ws[s:s + batch_size]).astype(np.int64)).to(device)
                with ctx:
                    logits = model(input_ids=x[:, :-1]).logits
                y = x[:, 1:]
                nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none")
                keep = y.reshape(-1) != eos_id
                total += float(nll[keep].sum())
                n += int(keep.sum())
                targets.append(y.reshape(-1)[keep].cpu().numpy())
    model.train()
    return total, n, (np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64))


@dataclass
class HeldOut:
    """Held-out evaluation streams: each starts with ``<|endoftext|>`` so every document token is a target."""

    dna_lines: list[str]
    english_lines: list[str]
    dna_windows: list[np.ndarray]
    english_windows: list[np.ndarray]


def validate(model: Any, held: HeldOut, base_counts: np.ndarray, eos_id: int, device: Any, precision: str,
             batch_size: int, max_windows: int = 0) -> dict[str, float]:
    """``val_dna_bits_per_base`` and ``val_english_nats_per_token`` on the first ``max_windows`` windows (0: all)."""
    dw = held.dna_windows[:max_windows] if max_windows else held.dna_windows
    ew = held.english_windows[:max_windows] if max_windows else held.english_windows
    out: dict[str, float] = {}
    if dw:
        nll, _, tgt = evaluate(model, dw, eos_id, device, precision, batch_size)
        bases = int(base_counts[tgt].sum())
        out["val_dna_bits_per_base"] = nll / math.log(2) / max(bases, 1)
        out["val_dna_bases"] = bases
    if ew:
        nll, n, _ = evaluate(model, ew, eos_id, device, precision, batch_size)
        out["val_english_nats_per_token"] = nll / max(n, 1)
        out["val_english_tokens"] = n
    return out


# --------------------------------------------------------------------------- logging

def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_log(path: Path, last_step: int) -> None:
    """Drop rows after ``last_step`` (a killed run may have logged past its last checkpoint)."""
    rows = [r for r in read_log(path) if r.get("step", 0) <= last_step]
    with atomic_file(path) as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def plot_losses(log_path: Path, png_path: Path, markov_bpb: float | None = None) -> None:
    """``loss.png``: training loss, validation DNA bits/base (with the Markov baseline), English nats/token."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]

    def series(key: str, final: bool) -> list[tuple[int, float]]:
        return [(r["step"], r[key]) for r in rows if key in r and bool(r.get("final")) == final]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    if train:
        axes[0].plot(*zip(*train), lw=0.8)
    axes[0].set(title="training loss", xlabel="step", ylabel="nats / token")

    # periodic points score the first eval_windows windows; the final point scores all held-out text
    for ax, key, color in ((axes[1], "val_dna_bits_per_base", "tab:blue"), (axes[2], "val_english_nats_per_token", "tab:green")):
        if series(key, False):
            ax.plot(*zip(*series(key, False)), marker="o", ms=3, color=color, label="model (first windows)")
        if series(key, True):
            ax.plot(*zip(*series(key, True)), marker="*", ms=10, ls="", color=color, label="model (all held-out)")
    if markov_bpb is not None:
        axes[1].axhline(markov_bpb, color="gray", ls="--", label="Markov baseline")
    axes[1].set(title="held-out DNA", xlabel="step", ylabel="bits / base")
    axes[1].legend(loc="upper right", fontsize=7)
    axes[2].set(title="held-out English", xlabel="step", ylabel="nats / token")
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.9, wspace=0.3)
    write_png(fig, png_path)
    plt.close(fig)


# --------------------------------------------------------------------------- the run

@dataclass
class PretrainResult:
    out_dir: Path
    steps: int
    finished: bool
    metrics: dict[str, Any]


def pretrain(recipe: PretrainRecipe, data_dir: str | Path, tokenizer_dir: str | Path, out_dir: str | Path,
             resume: bool = False, max_steps: int | None = None, threads: int | None = None,
             progress: bool = True, stop_after: int | None = None,
             init_from: str | Path | None = None) -> PretrainResult:
    """Train (or resume) ``recipe``; write the run folder; return what was measured.

    A recipe with ``continues`` starts from ``init_from`` (the parent run's ``final/``); resuming
    such a run reads the weights from its own checkpoint and only checks ``init_from`` if given.

    ``stop_after`` ends the process after that many optimizer steps (counted from 0) with a
    checkpoint written and no ``final/``, exactly as a run killed right after a checkpoint: it is
    what the resume tests use.
    """
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from .tokenizer import head_lines, load_tokenizer, pretrain_files, sample_lines, tokenizer_hash

    d = init_distributed()
    t = recipe.train
    if max_steps is not None:
        if max_steps < 1:
            raise DnaHlmError("--max-steps must be >= 1")
        t.max_steps = max_steps
    n_threads = resolve_threads(threads, t.threads, d.local_world)
    torch.set_num_threads(n_threads)
    device = torch.device(f"cuda:{d.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    precision = resolve_precision(t.precision, device)
    if (note := precision_note(t.precision, device)) and d.main:
        print(note, file=sys.stderr)
    out = Path(out_dir)
    ckpt_dir, final_dir, log_path = out / "checkpoint", out / "final", out / "log.jsonl"

    tokenizer = load_tokenizer(tokenizer_dir)
    tok_sha = tokenizer_hash(tokenizer_dir)
    files = pretrain_files(data_dir)
    data_sha = sha256_file(Path(data_dir) / "manifest.json")
    recipe_dict = to_dict(recipe)
    init = read_init(recipe, init_from, tok_sha) if (init_from is not None or not resume) else None

    state: dict[str, Any] | None = None
    if ckpt_dir.exists():
        if not resume:
            raise DnaHlmError(f"{out} already has a checkpoint: pass --resume to continue it, or choose another --out")
        state = read_checkpoint_state(ckpt_dir)
        if state.get("world_size", 1) != d.world:
            raise ResumeError(f"cannot resume: the checkpoint was made by {state.get('world_size')} processes, this run has {d.world}")
    elif resume:
        raise DnaHlmError(f"nothing to resume: {ckpt_dir} does not exist")
    else:
        check_new_run_dir(out, PRETRAIN_STAGE)

    # ---- data
    eos = tokenizer.eos_token_id
    off = recipe.data.sample_offset
    dna_train = sample_lines(files["dna.train"], recipe.data.dna_train_mb, off) if t.dna_fraction > 0 else []
    en_train = sample_lines(files["english.train"], recipe.data.english_train_mb, off) if t.dna_fraction < 1 else []
    show = progress and d.main
    streams = PackedStreams(
        dna=encode_documents(tokenizer, dna_train, eos, seed=t.seed, progress=show, desc="encode DNA"),
        english=encode_documents(tokenizer, en_train, eos, seed=t.seed + 1, progress=show, desc="encode English"),
        n_ctx=recipe.model.n_ctx, dna_fraction=t.dna_fraction,
    )
    dna_valid = head_lines(files["dna.valid"], recipe.data.eval_dna_mb)
    en_valid = head_lines(files["english.valid"], recipe.data.eval_english_mb)
    held = HeldOut(
        dna_lines=dna_valid, english_lines=en_valid,
        dna_windows=eval_windows(np.concatenate([[eos], encode_documents(tokenizer, dna_valid, eos, seed=None)]).astype(np.int32), recipe.model.n_ctx),
        english_windows=eval_windows(np.concatenate([[eos], encode_documents(tokenizer, en_valid, eos, seed=None)]).astype(np.int32), recipe.model.n_ctx),
    )

    # ---- model and optimizer
    model = build_model(recipe.model, tokenizer, seed=t.seed).to(device)
    base_counts = token_base_counts(tokenizer, model.config.vocab_size)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=t.lr, betas=(t.beta1, t.beta2), fused=device.type == "cuda",
    )
    start_step = 0
    elapsed_before = 0.0
    if state is not None:
        state = load_checkpoint(ckpt_dir, model, opt, recipe_dict, tok_sha)
        if init is not None and state.get("init", {}).get("model_sha256") != init["model_sha256"]:
            raise ResumeError(f"cannot resume: {ckpt_dir} continued other weights than --init-from {init_from}")
        init = state.get("init")
        start_step = int(state["step"])
        elapsed_before = float(state.get("elapsed_s", 0.0))
        if d.main:
            truncate_log(log_path, start_step)
    else:
        if init is not None:
            load_weights(model, Path(init["path"]) / "model.safetensors", DnaHlmError)
        if d.main:
            out.mkdir(parents=True, exist_ok=True)
            log_path.unlink(missing_ok=True)

    n_params = count_params(model)
    fpt = flops_per_token(model, recipe.model.n_ctx)
    peak, peak_src = peak_flops(device, precision)
    fwd = torch.compile(model) if t.compile else model
    ddp_model = fwd
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(fwd, device_ids=[d.local_rank] if device.type == "cuda" else None)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    seqs_per_step = t.batch_size * t.grad_accum * d.world
    tokens_per_step = seqs_per_step * recipe.model.n_ctx

    def checkpoint_state(step: int, elapsed: float) -> dict[str, Any]:
        return {"step": step, "data_position": step * seqs_per_step, "tokens_seen": step * tokens_per_step,
                "world_size": d.world, "elapsed_s": round(elapsed, 3), "recipe": recipe_dict,
                "recipe_identity": recipe_identity(recipe_dict), "tokenizer_sha256": tok_sha,
                "data_manifest_sha256": data_sha, "lr_schedule": "linear warmup + cosine (a function of step)",
                **({"init": init} if init else {})}

    def barrier() -> None:
        if d.world > 1:
            import torch.distributed as dist

            dist.barrier()

    log_f = open(log_path, "a", encoding="utf-8") if d.main else None
    bar = tqdm(total=t.max_steps, initial=start_step, desc=f"pretrain {recipe.name}", unit="step",
               disable=not show, dynamic_ncols=True)
    t_run = time.perf_counter()
    last_plot = t_run
    last_step = start_step
    finished = start_step >= t.max_steps
    metrics: dict[str, Any] = {}
    try:
        model.train()
        for step in range(start_step, t.max_steps):
            t0 = time.perf_counter()
            lr = lr_at(step, t)
            for g in opt.param_groups:
                g["lr"] = lr
            loss_sum = torch.zeros((), device=device)
            for micro in range(t.grad_accum):
                first = (step * t.grad_accum + micro) * t.batch_size * d.world
                x, y = streams.batch(first, t.batch_size * d.world, d.rank, d.world)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                sync = contextlib.nullcontext() if (d.world == 1 or micro == t.grad_accum - 1) else ddp_model.no_sync()
                with sync:
                    with autocast():
                        logits = ddp_model(input_ids=x).logits  # (B, T, V)
                    loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
                    (loss / t.grad_accum).backward()
                loss_sum += loss.detach()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip) if t.grad_clip > 0 else torch.tensor(0.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            mean_loss = loss_sum / t.grad_accum
            if d.world > 1:
                import torch.distributed as dist

                dist.all_reduce(mean_loss, op=dist.ReduceOp.AVG if device.type == "cuda" else dist.ReduceOp.SUM)
                if device.type != "cuda":
                    mean_loss /= d.world
            loss_val = float(mean_loss)
            if device.type == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            done = step + 1
            last_step = done
            tps = tokens_per_step / dt
            if not math.isfinite(loss_val):
                raise DnaHlmError(f"training diverged at step {done} (loss {loss_val}); lower train.lr in the recipe")
            if d.main and (done % t.log_every == 0 or done == t.max_steps):
                row = {"step": done, "loss": round(loss_val, 5), "lr": lr, "grad_norm": round(float(gnorm), 4),
                       "tokens_per_s": round(tps, 1), "mfu": round(fpt * tps / peak, 5), "step_s": round(dt, 4),
                       "tokens_seen": done * tokens_per_step,
                       "elapsed_s": round(elapsed_before + time.perf_counter() - t_run, 2)}
                log_f.write(json.dumps(row) + "\n")
                log_f.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.3f}", tok_s=f"{tps:,.0f}")
            is_last = done == t.max_steps
            if t.eval_every and done % t.eval_every == 0 and not is_last:
                if d.main:
                    v = validate(model, held, base_counts, eos, device, precision, t.batch_size, t.eval_windows)
                    log_f.write(json.dumps({"step": done, "periodic": True, **{k: round(x, 5) if isinstance(x, float) else x for k, x in v.items()}}) + "\n")
                    log_f.flush()
                    bar.write(f"step {done}: " + ", ".join(f"{k} {x:.4f}" for k, x in v.items() if isinstance(x, float)))
                barrier()
            stopping = stop_after is not None and done >= stop_after
            if is_last or stopping or (t.checkpoint_every and done % t.checkpoint_every == 0):
                if d.main:
                    save_checkpoint(ckpt_dir, model, opt, checkpoint_state(done, elapsed_before + time.perf_counter() - t_run))
                    if time.perf_counter() - last_plot > 120:  # matplotlib takes seconds on a busy CPU
                        plot_losses(log_path, out / "loss.png")
                        last_plot = time.perf_counter()
                barrier()
            if stopping and not is_last:
                break
        else:
            finished = True
    finally:
        bar.close()
        if log_f is not None:
            log_f.close()

    if finished and d.main:
        metrics = finalize(recipe, model, tokenizer, tokenizer_dir, held, base_counts, device, out,
                           dna_train=dna_train, tok_sha=tok_sha, data_sha=data_sha, recipe_dict=recipe_dict,
                           n_params=n_params, fpt=fpt, peak=(peak, peak_src), threads=n_threads, world=d.world,
                           streams=streams, steps=last_step, tokens_per_step=tokens_per_step, progress=show,
                           precision=precision, init=init)
    barrier()
    if d.world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return PretrainResult(out_dir=out, steps=last_step, finished=finished, metrics=metrics)


def _parent_tokens(init: dict[str, Any] | None) -> int:
    """Tokens the weights a run started from had seen: 0 from scratch; the parent's ``tokens_seen_total``,
    or, for a parent or a resumed checkpoint's init record from before that was kept, the parent
    run's own ``tokens_seen``."""
    init = init or {}
    return int(init.get("tokens_seen_total") or init.get("tokens_seen") or 0)


def finalize(recipe: PretrainRecipe, model: Any, tokenizer: Any, tokenizer_dir: str | Path, held: HeldOut,
             base_counts: np.ndarray, device: Any, out: Path, *, dna_train: list[str], tok_sha: str, data_sha: str,
             recipe_dict: dict[str, Any], n_params: int, fpt: float, peak: tuple[float, str], threads: int,
             world: int, streams: PackedStreams, steps: int, tokens_per_step: int, progress: bool,
             precision: str, init: dict[str, Any] | None = None) -> dict[str, Any]:
    """Final validation on all held-out windows, the Markov baseline, ``final/``, ``loss.png``, manifest.

    For a continued run ``tokens_seen`` counts this run's tokens and ``tokens_seen_total`` adds all the
    parent's weights have seen (its ``tokens_seen_total``, so a continuation of a continuation counts
    every run in the chain).
    """
    t = recipe.train
    v = validate(model, held, base_counts, tokenizer.eos_token_id, device, precision, t.batch_size)
    expected_bases = sum(map(len, held.dna_lines))
    if held.dna_windows and v.get("val_dna_bases") != expected_bases:
        raise DnaHlmError(f"internal: scored {v.get('val_dna_bases')} held-out bases, expected {expected_bases}")
    rows = read_log(out / "log.jsonl")
    train_rows = [r for r in rows if "loss" in r]
    with open(out / "log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": steps, "final": True, **{k: round(x, 5) if isinstance(x, float) else x for k, x in v.items()}}) + "\n")
    baseline = None
    if t.markov_baseline and dna_train and held.dna_lines:
        from .markov import baseline_report

        baseline = baseline_report(dna_train, held.dna_lines, progress=progress)
        baseline.pop("search", None)
    tps = [r["tokens_per_s"] for r in train_rows[len(train_rows) // 10:]] or [0.0]
    metrics: dict[str, Any] = {
        **{k: round(x, 5) if isinstance(x, float) else x for k, x in v.items()},
        "markov_bits_per_base": baseline["heldout_bits_per_base"] if baseline else None,
        "markov": baseline,
        "final_train_loss": train_rows[-1]["loss"] if train_rows else None,
        "median_tokens_per_s": float(np.median(tps)),
        "median_mfu": float(np.median([r["mfu"] for r in train_rows[len(train_rows) // 10:]] or [0.0])),
        "peak_flops": peak[0], "peak_flops_source": peak[1],
        "params": n_params, "flops_per_token": fpt, "threads": threads, "world_size": world, "precision": precision,
        "tokens_seen": steps * tokens_per_step, "epochs": streams.epochs(steps * tokens_per_step // recipe.model.n_ctx),
        "train_stream_tokens": {"dna": int(len(streams.dna)), "english": int(len(streams.english))},
        "wall_s": train_rows[-1]["elapsed_s"] if train_rows else None,
        "tokens_seen_total": steps * tokens_per_step + _parent_tokens(init),
    }
    meta = {"recipe_name": recipe.name, "recipe": recipe_dict, "recipe_identity": recipe_identity(recipe_dict),
            "data_manifest_sha256": data_sha, "tokenizer_sha256": tok_sha, "step": steps,
            "tokens_seen": steps * tokens_per_step, "tokens_seen_total": metrics["tokens_seen_total"],
            "metrics": {k: metrics[k] for k in (
                "val_dna_bits_per_base", "val_english_nats_per_token", "markov_bits_per_base") if k in metrics},
            **({"init": init} if init else {})}
    save_final(out / "final", model, tokenizer_dir, meta)
    plot_losses(out / "log.jsonl", out / "loss.png", metrics["markov_bits_per_base"])
    write_manifest(out, PRETRAIN_STAGE, PRETRAIN_FORMAT, recipe_name=recipe.name, recipe=recipe_dict,
                   data_manifest_sha256=data_sha, tokenizer_sha256=tok_sha,
                   tokenizer_dir=str(tokenizer_dir), steps=steps, metrics=metrics, **({"init": init} if init else {}))
    return metrics


def read_pretrain_manifest(folder: str | Path) -> dict[str, Any]:
    return read_manifest(folder, PRETRAIN_STAGE, PRETRAIN_FORMAT)
