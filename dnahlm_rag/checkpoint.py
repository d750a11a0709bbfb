"""Checkpoint folders of a pretraining run, written atomically, without pickles.

``final/`` (the trained model, what later stages load with :func:`load_lm`)::

    config.json  generation_config.json  model.safetensors        (GPT2LMHeadModel.save_pretrained)
    tokenizer.json  tokenizer_config.json  special_tokens_map.json (copied from the tokenizer folder)
    dnahlm.json    recipe, recipe identity hash, data manifest hash, tokenizer hash, step, metrics

``checkpoint/`` (the last resumable state)::

    model.safetensors      weights (tied embeddings stored once)
    optimizer.safetensors  AdamW moments and step counts, keys ``<param index>.<name>``
    rng.safetensors        torch CPU (and CUDA) RNG states as uint8 tensors
    state.json             step, data position (global sequences consumed), optimizer param
                           groups, recipe, hashes, and the SHA-256 of the three files above

Loading verifies the SHA-256 of every file, and a resume is refused (one clear line) when the
checkpoint was made by another recipe (its identity hash differs) or another tokenizer.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from .atomic import atomic_dir, sha256_file, write_json
from .errors import DnaHlmError, ManifestError

FORMAT_VERSION = 1
FINAL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "dnahlm.json")
CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

#: What ``state.json`` must hold for a resume (key -> type).
STATE_KEYS = {"step": int, "files": dict, "optimizer_param_groups": list, "recipe": dict, "recipe_identity": str,
              "tokenizer_sha256": str}
#: What a run folder (``runs/pretrain/NAME``, ``runs/sft/NAME``) holds.
RUN_FILES = ("checkpoint", "final", "log.jsonl", "loss.png", "manifest.json")

#: Recipe keys that do not change the trained weights; they may differ on resume.
RUNTIME_KEYS = ("threads", "compile", "log_every", "checkpoint_every", "progress")


class ResumeError(DnaHlmError):
    """A checkpoint that cannot be resumed with this recipe or tokenizer, or is damaged."""


def recipe_identity(recipe: dict[str, Any]) -> str:
    """SHA-256 of the recipe without the runtime-only keys (thread count, compile, logging cadence)."""
    def strip(d: Any) -> Any:
        if isinstance(d, dict):
            return {k: strip(v) for k, v in sorted(d.items()) if k not in RUNTIME_KEYS}
        return d

    return hashlib.sha256(json.dumps(strip(recipe), sort_keys=True).encode()).hexdigest()


def _unwrap(model: Any) -> Any:
    """The plain module under DDP and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_checkpoint(folder: str | Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    """Write ``folder`` (``checkpoint/``) atomically; ``state`` holds the JSON scalars (step, position, ...)."""
    import torch
    from safetensors.torch import save_file, save_model

    model = _unwrap(model)
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for idx, st in sd["state"].items():
        for name, val in st.items():
            if not torch.is_tensor(val):
                val = torch.tensor(val)
            tensors[f"{idx}.{name}"] = val.detach().to("cpu").contiguous()
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"cuda{i}"] = s
    with atomic_dir(folder, marker="state.json") as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        save_file({k: v.contiguous() for k, v in rng.items()}, str(tmp / "rng.safetensors"))
        full = dict(state)
        full["format_version"] = FORMAT_VERSION
        full["optimizer_param_groups"] = groups
        full["files"] = {n: sha256_file(tmp / n) for n in CHECKPOINT_FILES if n != "state.json"}
        write_json(tmp / "state.json", full)


def read_checkpoint_state(folder: str | Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder, after checking the file list and every file's hash."""
    folder = Path(folder)
    path = folder / "state.json"
    if not path.is_file():
        raise ResumeError(f"{folder} has no state.json: not a resumable checkpoint")
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResumeError(f"{path} is corrupt ({e})") from None
    if not isinstance(state, dict):
        raise ResumeError(f"{path} is corrupt (a JSON {type(state).__name__}, not an object)")
    if state.get("format_version") != FORMAT_VERSION:
        raise ResumeError(f"{folder} has checkpoint format {state.get('format_version')}, this code reads {FORMAT_VERSION}")
    missing = [k for k, tp in STATE_KEYS.items() if not isinstance(state.get(k), tp) or isinstance(state.get(k), bool)]
    if missing:
        raise ResumeError(f"{path} is damaged: {', '.join(missing)} missing or of the wrong type")
    for name, digest in state.get("files", {}).items():
        p = folder / name
        if not p.is_file():
            raise ResumeError(f"{folder} is incomplete: {name} is missing")
        if sha256_file(p) != digest:
            raise ResumeError(f"{p} does not match the hash recorded in state.json: the checkpoint is damaged")
    return state


def check_new_run_dir(out: str | Path, stage: str) -> None:
    """Refuse (one line, before any work) to start a new ``stage`` run in ``out`` when that would
    overwrite work or write into a folder that is not a run's: ``out`` is a file, holds a finished
    model (``final/``) with no checkpoint to resume, another stage's ``manifest.json``, or files a
    run does not write. A folder with only a log (a run killed before its first checkpoint) may be
    restarted."""
    from .atomic import check_dir_path
    from .manifest import manifest_stage

    out = check_dir_path(out, marker=None)  # not a file, nor under one
    if not out.is_dir():
        return
    if (out / "manifest.json").is_file() and (found := manifest_stage(out)) != stage:
        raise DnaHlmError(f"--out {out} holds a {found!r} stage, not a {stage} run: choose another --out")
    # leftovers of an atomic write cut short by a kill (.checkpoint.XXXX.tmp) are no one else's work
    foreign = sorted(p.name for p in out.iterdir()
                     if p.name not in RUN_FILES and not (p.name.startswith(".") and p.name.endswith(".tmp")))
    if foreign:
        raise DnaHlmError(f"--out {out} holds files that no {stage} run writes ({', '.join(foreign[:3])}): "
                          "choose another --out")
    if (out / "final").exists():
        raise DnaHlmError(f"--out {out} already holds a finished model (final/) and no checkpoint to resume: "
                          "choose another --out, or remove it to train again")


def check_compatible(state: dict[str, Any], recipe: dict[str, Any], tokenizer_sha256: str) -> None:
    """Refuse a resume across recipes or tokenizers, naming what differs."""
    if state.get("tokenizer_sha256") != tokenizer_sha256:
        raise ResumeError(
            "cannot resume: the checkpoint was made with a different tokenizer "
            f"(tokenizer.json sha256 {str(state.get('tokenizer_sha256'))[:12]}, now {tokenizer_sha256[:12]}); "
            "use the same --tokenizer or start a new run in another --out"
        )
    if state.get("recipe_identity") != recipe_identity(recipe):
        old = state.get("recipe", {})
        diffs = _diff(old, recipe)
        raise ResumeError(
            f"cannot resume: the checkpoint was made by a different recipe ({old.get('name')!r}; differs in "
            f"{', '.join(diffs[:5]) or 'content'}); use the same recipe or start a new run in another --out"
        )


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            if k in RUNTIME_KEYS:
                continue
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def read_model_meta(folder: str | Path, missing_ok: bool = False) -> dict[str, Any] | None:
    """``folder/dnahlm.json`` of a trained ``final/`` folder (recipe, hashes, step, metrics, and for a
    tuned model its prompt style); ``None`` when it is missing and ``missing_ok``. Every reader of a
    model's meta goes through here, so a missing or corrupt file is one line, never a traceback."""
    path = Path(folder) / "dnahlm.json"
    if not path.is_file():
        if missing_ok:
            return None
        raise ManifestError(f"{folder} has no dnahlm.json: not a model trained by `dnahlm pretrain`/`dnahlm sft`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path} is corrupt ({e}): train the model again or restore the folder") from None
    if not isinstance(meta, dict):
        raise ManifestError(f"{path} is corrupt (not a JSON object): train the model again or restore the folder")
    return meta


def load_weights(model: Any, path: str | Path, error: type[DnaHlmError] = ResumeError) -> None:
    """Load the safetensors file ``path`` into ``model`` (unwrapped, on its device); ``error`` if it does not fit."""
    from safetensors.torch import load_model

    base = _unwrap(model)
    device = next(base.parameters()).device
    missing, unexpected = load_model(base, str(path), strict=False, device=str(device))
    if missing or unexpected:
        raise error(f"{path} does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")


def load_checkpoint(folder: str | Path, model: Any, optimizer: Any, recipe: dict[str, Any],
                    tokenizer_sha256: str) -> dict[str, Any]:
    """Verify ``folder``, check it matches ``recipe``/tokenizer, load weights, optimizer and RNG; return state."""
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    state = read_checkpoint_state(folder)
    check_compatible(state, recipe, tokenizer_sha256)
    load_weights(model, folder / "model.safetensors")
    flat = load_file(str(folder / "optimizer.safetensors"))
    opt_state: dict[int, dict[str, Any]] = {}
    for key, val in flat.items():
        idx, name = key.split(".", 1)
        opt_state.setdefault(int(idx), {})[name] = val
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["optimizer_param_groups"]})
    rng = load_file(str(folder / "rng.safetensors"))
    torch.set_rng_state(rng["cpu"])
    if torch.cuda.is_available():
        cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    return state


def save_final(folder: str | Path, model: Any, tokenizer_dir: str | Path, meta: dict[str, Any]) -> None:
    """Write ``final/``: ``save_pretrained`` (safetensors), the tokenizer files, and ``dnahlm.json``."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = _unwrap(model)
    with atomic_dir(folder, marker="dnahlm.json") as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        for name in TOKENIZER_FILES:
            shutil.copyfile(Path(tokenizer_dir) / name, tmp / name)
        write_json(tmp / "dnahlm.json", {"format_version": FORMAT_VERSION, **meta})
        extra = sorted(set(p.name for p in tmp.iterdir()) - set(FINAL_FILES))
        missing = sorted(set(FINAL_FILES) - set(p.name for p in tmp.iterdir()))
        if extra or missing:  # the folder is a contract: refuse to publish anything else
            raise DnaHlmError(f"final/ would not match its contract (extra {extra}, missing {missing})")


def load_lm(folder: str | Path, device: str = "cpu", dtype: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """Load a trained ``final/`` folder: ``(GPT2LMHeadModel in eval mode, PreTrainedTokenizerFast, meta)``.

    ``meta`` is ``dnahlm.json`` (recipe, hashes, step, metrics). The tokenizer's hash must equal the
    one recorded at training time, so a model never runs with a foreign tokenizer.
    """
    from transformers import GPT2LMHeadModel

    from .tokenizer import load_tokenizer

    folder = Path(folder)
    meta = read_model_meta(folder) or {}  # raises when missing or corrupt
    tok_sha = sha256_file(folder / "tokenizer.json") if (folder / "tokenizer.json").is_file() else None
    if meta.get("tokenizer_sha256") and tok_sha != meta["tokenizer_sha256"]:
        raise ManifestError(f"{folder}/tokenizer.json is not the tokenizer this model was trained with")
    tokenizer = load_tokenizer(folder, check_manifest=False)
    kwargs: dict[str, Any] = {"attn_implementation": "sdpa"}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = GPT2LMHeadModel.from_pretrained(str(folder), **kwargs).to(device)
    model.eval()
    return model, tokenizer, meta
