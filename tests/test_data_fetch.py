"""Fetch without apt: a clear message that points at building from one's own files."""
from __future__ import annotations

import pytest

from dnahlm_rag.data import fetch as fetch_mod
from dnahlm_rag.data.fetch import FetchError, fetch_packages, read_fetch_manifest


def test_no_apt_explains_own_files(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_mod.shutil, "which", lambda name: None)
    with pytest.raises(FetchError, match="--genbank") as e:
        fetch_packages(["r-cran-mlbench"], tmp_path)
    assert "--recipe own" in str(e.value) and "\n" not in str(e.value)


def test_missing_or_corrupt_manifest_reads_empty(tmp_path):
    assert read_fetch_manifest(tmp_path) == {}
    (tmp_path / "fetch_manifest.json").write_text("{not json")
    assert read_fetch_manifest(tmp_path) == {}


def test_cache_that_is_a_file_is_a_one_line_error(tmp_path, monkeypatch):
    from dnahlm_rag.errors import DnaHlmError

    monkeypatch.setattr(fetch_mod, "apt_available", lambda: True)
    monkeypatch.setattr(fetch_mod, "_download", lambda *a: pytest.fail("nothing may be downloaded"))
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    with pytest.raises(DnaHlmError, match="cache is a file, not a folder"):
        fetch_packages(["r-cran-mlbench"], cache)
    assert cache.read_text() == "not a folder"
