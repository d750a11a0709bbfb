"""Released weights: a pretrained and an instruction-tuned model committed under ``models/released/``.

``make demo`` uses them instead of training when :func:`check_release` passes against the
``data/`` folder just built, which skips the tokenizer, pretraining, tuning and mixing-fit
stages (about 20 of the demo's 36 minutes on the 2-core CPU machine). Layout::

    models/released/
      manifest.json          stage "release": what was released, from where, every file's SHA-256,
                             the data identity
      base/                  the pretrained model (a ``final/`` folder: config, model.safetensors, tokenizer)
      sft/                   the tuned model, plus its retrieval_mix.json
      logs/base/, logs/sft/  the training runs' manifest.json, log.jsonl and loss.png

The *data identity* is a SHA-256 over the (relative path, SHA-256) of every file of ``data/``
except ``manifest.json`` (whose build time changes from build to build). Released weights are
only used with the data they were trained on: other organisms or another data recipe give
another identity, and the demo trains its own models instead, so a released model never sees a
test split it was trained on.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .atomic import atomic_dir, sha256_file
from .errors import DnaHlmError, ManifestError
from .manifest import MANIFEST, check_replaceable, read_manifest, write_manifest

STAGE = "release"
FORMAT_VERSION = 1
LOG_FILES = (MANIFEST, "log.jsonl", "loss.png")


class ReleaseError(DnaHlmError):
    """Released weights that are missing, altered, or made for other data."""


def data_identity(data_dir: str | Path) -> str:
    """Hex SHA-256 naming the content of a ``data/`` folder (every file but ``manifest.json``)."""
    data_dir = Path(data_dir)
    if not (data_dir / MANIFEST).is_file():
        raise ReleaseError(f"{data_dir} has no {MANIFEST}: run `dnahlm data build` first")
    h = hashlib.sha256()
    for p in sorted(data_dir.rglob("*")):
        if p.is_file() and p.name != MANIFEST and not p.name.startswith("."):
            h.update(f"{p.relative_to(data_dir).as_posix()}\t{sha256_file(p)}\n".encode())
    return h.hexdigest()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _copy_model(src: Path, dst: Path) -> dict[str, Any]:
    """Copy a ``final/`` folder byte for byte (its weights file stays the one the mixing table and
    indexes were fitted with); return its provenance from ``dnahlm.json``."""
    from .checkpoint import FINAL_FILES, load_lm

    model, _, meta = load_lm(src)  # refuses a folder that is not a trained model
    dst.mkdir(parents=True)
    for name in FINAL_FILES:
        shutil.copyfile(src / name, dst / name)
    return {"source": str(src), "recipe_name": meta.get("recipe_name"), "step": meta.get("step"),
            "tokenizer_sha256": meta.get("tokenizer_sha256"), "data_manifest_sha256": meta.get("data_manifest_sha256"),
            "metrics": meta.get("metrics"), "parameters": sum(p.numel() for p in model.parameters())}


def _model_stage(model_dir: Path) -> str | None:
    """``stage`` of a ``final/`` folder's ``dnahlm.json`` (``"sft"`` for a tuned model, None for a pretrained one)."""
    from .checkpoint import read_model_meta

    meta = read_model_meta(model_dir) or {}
    return meta.get("stage")


def make_release(base: str | Path, sft: str | Path, data_dir: str | Path = "data",
                 out: str | Path = "models/released", note: str = "") -> dict[str, Any]:
    """Copy a trained base and tuned model (``final/`` folders) into ``out``, atomically; return its manifest.

    ``sft`` must hold a ``retrieval_mix.json`` (``dnahlm mix fit``). The training logs are taken
    from each ``final/`` folder's parent run folder. ``data_dir`` must be the data both were trained on;
    ``note`` says how they were trained (``source_commit`` is the code that made the release).
    """
    from .retrieval_mix import MixTable

    base, sft = Path(base), Path(sft)
    for src, flag in ((base, "--base"), (sft, "--sft")):
        if not (src / "dnahlm.json").is_file():
            raise ReleaseError(f"{flag} {src} is not a trained model folder (no dnahlm.json): "
                               "pass the final/ folder of a `dnahlm pretrain` or `dnahlm sft` run")
        if not (src.parent / "log.jsonl").is_file():
            raise ReleaseError(f"{src.parent} has no log.jsonl: a release carries its training logs "
                               "(pass the final/ folder inside its run folder)")
    if not (sft / "retrieval_mix.json").is_file():
        raise ReleaseError(f"{sft} has no retrieval_mix.json: run `dnahlm mix fit --model {sft}` first")
    MixTable.load(sft)  # refuses a table of another format
    if _model_stage(sft) != "sft":
        raise ReleaseError(f"--sft {sft} is not a tuned model (final/ of `dnahlm sft`)")
    if _model_stage(base) == "sft":
        raise ReleaseError(f"--base {base} is a tuned model, not a pretrained one (final/ of `dnahlm pretrain`)")
    check_replaceable(out, STAGE)
    ident = data_identity(data_dir)
    with atomic_dir(out) as tmp:
        models = {"base": _copy_model(base, tmp / "base"), "sft": _copy_model(sft, tmp / "sft")}
        shutil.copyfile(sft / "retrieval_mix.json", tmp / "sft" / "retrieval_mix.json")
        for name, src in (("base", base), ("sft", sft)):
            (tmp / "logs" / name).mkdir(parents=True)
            for f in LOG_FILES:
                if (src.parent / f).is_file():
                    shutil.copyfile(src.parent / f, tmp / "logs" / name / f)
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        return write_manifest(tmp, STAGE, FORMAT_VERSION, source_commit=_git_commit(), note=note,
                              data_identity=ident, models=models, files=files,
                              total_bytes=sum((tmp / f).stat().st_size for f in files))


def check_release(root: str | Path = "models/released", data_dir: str | Path | None = "data") -> dict[str, Any]:
    """Check released weights: every listed file present with its SHA-256, nothing unlisted in the
    model folders, the mixing table readable, and (unless ``data_dir`` is None) the data identity.

    Returns the manifest; raises :class:`ReleaseError` with one line saying what is wrong.
    """
    from .retrieval_mix import MixTable

    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise ReleaseError(f"no released weights ({path} not found)")
    try:
        rel = read_manifest(root, STAGE, FORMAT_VERSION)
    except ManifestError as e:  # corrupt, or another stage or format: one line, as a release problem
        raise ReleaseError(str(e)) from None
    models = rel.get("models")
    if (not isinstance(rel.get("files"), dict) or not isinstance(rel.get("data_identity"), str)
            or not isinstance(models, dict) or not all(isinstance(models.get(k), dict) for k in ("base", "sft"))):
        raise ReleaseError(f"{path} is incomplete (no files, data_identity or models table): remake the release "
                           "with `dnahlm release make`")
    for name, digest in rel["files"].items():
        p = root / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ReleaseError(f"{path} lists {name!r}, a file outside the release folder: remake the release")
        if not p.is_file():
            raise ReleaseError(f"released file {p} is missing")
        if sha256_file(p) != digest:
            raise ReleaseError(f"released file {p} does not match its SHA-256 in {path} (altered or truncated)")
    for sub in ("base", "sft"):
        extra = sorted(q.relative_to(root).as_posix() for q in (root / sub).rglob("*")
                       if q.is_file() and q.relative_to(root).as_posix() not in rel["files"])
        if extra:
            raise ReleaseError(f"{root / sub} holds files the release does not list: {', '.join(extra[:3])}")
    try:
        MixTable.load(root / "sft")
    except DnaHlmError as e:
        raise ReleaseError(f"released mixing table: {e} (refit it: `dnahlm mix fit --model {root / 'sft'}`)") from None
    if data_dir is not None:
        ident = data_identity(data_dir)
        if ident != rel["data_identity"]:
            raise ReleaseError(f"the released weights were trained on other data than {data_dir} "
                               f"(identity {rel['data_identity'][:12]}, this data {ident[:12]})")
    return rel
