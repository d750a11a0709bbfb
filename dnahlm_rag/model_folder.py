"""Which checkpoint folder answers questions when none is named.

The newest (by ``config.json`` modification time) of: ``models/released/sft`` (the released tuned
model, see :mod:`dnahlm_rag.release`), ``runs/sft/*/final``, ``runs/pretrain/cpu/final``.
"""
from __future__ import annotations

from pathlib import Path

from .errors import DnaHlmError


def candidate_model_dirs(root: str | Path = ".") -> list[Path]:
    r = Path(root)
    cands = [r / "models" / "released" / "sft", *sorted((r / "runs" / "sft").glob("*/final"))]
    cands.append(r / "runs" / "pretrain" / "cpu" / "final")
    return [c for c in cands if (c / "config.json").is_file()]


def default_model_dir(root: str | Path = ".") -> Path:
    """The newest checkpoint folder, or a one-line error saying which command builds one."""
    found = candidate_model_dirs(root)
    if not found:
        raise DnaHlmError(
            "no model found (looked in models/released/sft, runs/sft/*/final, runs/pretrain/cpu/final): "
            "build one with `dnahlm pretrain --recipe cpu` (then `dnahlm sft`), or pass --model DIR"
        )
    return max(found, key=lambda p: (p / "config.json").stat().st_mtime)
