"""Stage manifests: every stage folder carries ``manifest.json`` that the next stage checks.

A manifest records what the stage is (``stage``), its format version, the inputs' hashes, the
config, library versions and counts. :func:`read_manifest` refuses a folder whose manifest is
missing, unreadable, from another stage or another format version, with one clear line.
"""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from .atomic import write_json
from .errors import ManifestError

MANIFEST = "manifest.json"


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour a stage's output depends on."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("dnahlm-rag", "torch", "transformers", "tokenizers", "sentence-transformers",
                 "faiss-cpu", "langchain-core", "biopython", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_manifest(folder: str | Path, stage: str, format_version: int, **fields: Any) -> dict[str, Any]:
    """Write ``folder/manifest.json`` with the standard header plus ``fields``; return it."""
    m: dict[str, Any] = {
        "stage": stage,
        "format_version": format_version,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": library_versions(),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]),
    }
    m.update(fields)
    write_json(Path(folder) / MANIFEST, m)
    return m


def read_manifest(folder: str | Path, stage: str, format_version: int | None = None) -> dict[str, Any]:
    """Read and check ``folder/manifest.json``; raise :class:`ManifestError` with a one-line reason."""
    path = Path(folder) / MANIFEST
    if Path(folder).is_file():
        raise ManifestError(f"{folder} is a file, not a {stage} folder")
    if not path.is_file():
        raise ManifestError(f"{folder} has no {MANIFEST}: run the stage that builds it ({stage}) first")
    try:
        m = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ManifestError(f"{path} is corrupt ({str(e)[:200]}); rebuild the {stage} stage") from None
    if not isinstance(m, dict):
        raise ManifestError(f"{path} is corrupt (a JSON {type(m).__name__}, not an object); rebuild the {stage} stage")
    if m.get("stage") != stage:
        raise ManifestError(f"{path} is a {m.get('stage')!r} manifest, expected {stage!r}")
    if format_version is not None and m.get("format_version") != format_version:
        raise ManifestError(
            f"{path} has format version {m.get('format_version')}, this code reads {format_version}: rebuild it"
        )
    return m


def manifest_stage(folder: str | Path) -> str | None:
    """The ``stage`` that ``folder/manifest.json`` names; None when it is missing or unreadable."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text()).get("stage")
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return None


def check_replaceable(folder: str | Path, stage: str) -> None:
    """Refuse, before any work, to replace ``folder`` with a new ``stage`` output when it holds
    something else: a file, a folder of files without a manifest, or another stage's folder (a data
    folder, a training run with its checkpoint, ...). A missing or empty folder, or an earlier
    output of the same stage, may be replaced."""
    from .atomic import check_dir_path

    check_dir_path(folder, MANIFEST)
    if (Path(folder) / MANIFEST).is_file() and (found := manifest_stage(folder)) != stage:
        raise ManifestError(f"{folder} holds a {found!r} stage, not a {stage!r} output: refusing to replace it "
                            "(choose another output folder)")
