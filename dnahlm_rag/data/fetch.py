"""Fetch the Debian packages that hold the data into a cache, without installing anything.

Layout of the cache (default ``cache/`` in the repository root, git-ignored)::

    cache/debs/<package>_<version>_<arch>.deb     as apt-get download names them
    cache/extracted/<package>/...                 dpkg-deb -x of that .deb
    cache/fetch_manifest.json                     {package: {version, deb, sha256, bytes}}

A package is fetched only when the manifest lacks it or its .deb / extracted folder is gone, so
a second run downloads nothing. Extraction goes to a temporary folder that is renamed into place,
so an interrupted fetch never leaves a half-extracted package that looks complete. ``apt-get
update`` runs only when ``apt-get download`` fails because the package lists are missing.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_dir, check_dir_path, sha256_file, write_json
from ..errors import DnaHlmError

FETCH_MANIFEST = "fetch_manifest.json"

NO_APT_HELP = (
    "apt-get/dpkg-deb not found: `dnahlm data fetch` needs a Debian or Ubuntu system to download the "
    "data packages. Build from your own files instead: `dnahlm data build --recipe own "
    "--genbank FILE.gbk [...] --fasta FILE.fa [...]` (annotated GenBank/EMBL files give segments and the "
    "genome tasks, FASTA files give pretraining DNA)"
)


class FetchError(DnaHlmError):
    """A package could not be downloaded or extracted."""


@dataclass
class FetchResult:
    package: str
    version: str
    deb: str
    sha256: str
    downloaded: bool


def cache_paths(cache: str | Path) -> tuple[Path, Path, Path]:
    """``(debs folder, extracted folder, manifest path)`` of a cache root."""
    c = Path(cache)
    return c / "debs", c / "extracted", c / FETCH_MANIFEST


def read_fetch_manifest(cache: str | Path) -> dict[str, dict]:
    """The cache's ``{package: {version, deb, sha256, bytes}}``; empty when nothing was fetched."""
    path = cache_paths(cache)[2]
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text()).get("packages", {})
    except (json.JSONDecodeError, AttributeError):
        return {}


def package_root(cache: str | Path, package: str) -> Path:
    return cache_paths(cache)[1] / package


def apt_available() -> bool:
    return shutil.which("apt-get") is not None and shutil.which("dpkg-deb") is not None


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


def _lists_missing(stderr: str) -> bool:
    return any(s in stderr for s in ("Unable to locate package", "has no installation candidate",
                                     "Can't select candidate version", "No packages found"))


def _download(package: str, debs: Path, state: dict) -> Path:
    """``apt-get download`` one package into ``debs`` (via a temporary folder); return the .deb."""
    tmp = Path(tempfile.mkdtemp(prefix=".dl.", dir=debs))
    try:
        for attempt in range(2):
            p = _run(["apt-get", "download", "-q", package], cwd=tmp)
            if p.returncode == 0:
                break
            if attempt == 0 and _lists_missing(p.stderr) and not state.get("updated"):
                state["updated"] = True
                tqdm.write("package lists missing: running apt-get update once", file=sys.stderr)
                u = _run(["apt-get", "update", "-q"])
                if u.returncode != 0:
                    raise FetchError(f"apt-get update failed (are you root?): {u.stderr.strip().splitlines()[-1:]}")
                continue
            last = (p.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise FetchError(f"apt-get download {package} failed: {last}")
        got = sorted(tmp.glob("*.deb"))
        if len(got) != 1:
            raise FetchError(f"apt-get download {package} produced {len(got)} .deb files, expected 1")
        dest = debs / got[0].name
        os.replace(got[0], dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _deb_version(deb: Path) -> str:
    p = _run(["dpkg-deb", "-f", str(deb), "Version"])
    if p.returncode != 0:
        raise FetchError(f"{deb} is not a readable .deb: {p.stderr.strip()}")
    return p.stdout.strip()


def _extract(deb: Path, dest: Path) -> None:
    with atomic_dir(dest, marker=None) as tmp:  # cache/extracted/<package>: ours alone
        p = _run(["dpkg-deb", "-x", str(deb), str(tmp)])
        if p.returncode != 0:
            raise FetchError(f"dpkg-deb -x {deb.name} failed: {p.stderr.strip()}")


def fetch_packages(packages: list[str], cache: str | Path = "cache", progress: bool = True) -> list[FetchResult]:
    """Download and extract ``packages`` into ``cache``; skip those already there. Idempotent."""
    if not apt_available():
        raise FetchError(NO_APT_HELP)
    for folder in (Path(cache), *cache_paths(cache)[:2]):
        check_dir_path(folder, marker=None)  # --cache (or cache/debs, cache/extracted) is a file
    debs, extracted, mpath = cache_paths(cache)
    debs.mkdir(parents=True, exist_ok=True)
    extracted.mkdir(parents=True, exist_ok=True)
    manifest = read_fetch_manifest(cache)
    state: dict = {}
    results: list[FetchResult] = []
    bar = tqdm(packages, desc="fetch", unit="pkg", disable=not progress)
    for pkg in bar:
        bar.set_postfix_str(pkg)
        entry = manifest.get(pkg)
        deb = debs / entry["deb"] if entry else None
        if entry and deb is not None and deb.is_file() and (extracted / pkg).is_dir():
            results.append(FetchResult(pkg, entry["version"], entry["deb"], entry["sha256"], False))
            continue
        existing = sorted(debs.glob(f"{pkg}_*.deb"))
        downloaded = not existing
        deb = existing[-1] if existing else _download(pkg, debs, state)
        version = _deb_version(deb)
        digest = sha256_file(deb)
        _extract(deb, extracted / pkg)
        manifest[pkg] = {"version": version, "deb": deb.name, "sha256": digest, "bytes": deb.stat().st_size}
        write_json(mpath, {"stage": "fetch", "packages": manifest})  # after each package: resumable
        results.append(FetchResult(pkg, version, deb.name, digest, downloaded))
    if not mpath.exists():
        write_json(mpath, {"stage": "fetch", "packages": manifest})
    return results
