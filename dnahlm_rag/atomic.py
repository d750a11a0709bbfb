"""Atomic writes and content hashes.

Every stage writes its output into a temporary sibling and renames it into place, so an
interrupted run leaves either the old result or none, never a half-written one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of ``path``'s parents when it is a file (nothing can be made under
    it), else None."""
    parent = next((a for a in path.parents if a.exists()), None)
    return parent if parent is not None and not parent.is_dir() else None


def check_file_path(path: str | Path, what: str = "output") -> Path:
    """``path`` as a Path, refused with a one-line error if a file cannot be written there: it is a
    folder, or one of its parents is a file (call before long work, so none is lost)."""
    from .errors import DnaHlmError

    path = Path(path)
    if path.is_dir():
        raise DnaHlmError(f"{what} {path} is a folder: give a file name")
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise DnaHlmError(f"{what} {path}: {blocker} is a file, not a folder")
    return path


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on clean exit fsync and rename it onto ``path``."""
    path = check_file_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_file(path) as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def write_png(fig: Any, path: str | Path, dpi: int = 90) -> Path:
    """Save a matplotlib figure as PNG, atomically; return ``path``."""
    with atomic_file(path, mode="wb") as f:
        fig.savefig(f, format="png", dpi=dpi)
    return Path(path)


def check_dir_path(path: str | Path, marker: str | None = "manifest.json") -> Path:
    """``path`` as a Path, refused with a one-line error if a folder cannot be made or replaced
    there: a file at ``path`` or among its parents, or (``marker`` not None, as :func:`atomic_dir`
    checks) a folder of files lacking ``marker`` (call before long work, so none is lost)."""
    from .errors import DnaHlmError

    path = Path(path)
    blocker = path if path.exists() and not path.is_dir() else _file_in_the_way(path)
    if blocker is not None:
        raise DnaHlmError(f"{path} is a file, not a folder" if blocker == path else
                          f"{path}: {blocker} is a file, not a folder")
    if marker is not None and path.is_dir() and any(path.iterdir()) and not (path / marker).is_file():
        raise DnaHlmError(f"{path} holds files but no {marker}: not a folder this project wrote; "
                          "refusing to replace it (remove it or choose another name)")
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path, marker: str | None = "manifest.json") -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on clean exit it replaces ``path``.

    The old folder (if any) is moved aside first and removed only after the new one is in place.
    On an exception the temporary folder is removed and ``path`` is left untouched. An existing
    ``path`` is replaced only when it is empty or holds ``marker`` (a file every earlier write of
    this kind left there), so a folder of someone else's files is refused before any work, never
    deleted; ``marker=None`` replaces any folder (for folders this project alone writes into).
    """
    from .errors import DnaHlmError

    path = Path(path)
    if path.name in ("", ".", ".."):
        raise DnaHlmError(f"{path}: give a folder name, not {path.name or '/'!r}")
    check_dir_path(path, marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
