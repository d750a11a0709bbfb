"""Integration: fetch small real Debian packages and build the tiny recipe from them.

Uses the cache folder in $DNAHLM_CACHE when set (so CI or a developer can reuse downloads),
otherwise a temporary one. Needs apt-get and access to the Debian archive.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dnahlm_rag.data.build import build_dataset
from dnahlm_rag.data.fetch import apt_available, fetch_packages, read_fetch_manifest
from dnahlm_rag.data.recipe import load_data_recipe

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    if not apt_available():
        pytest.skip("apt-get/dpkg-deb not available")
    return Path(os.environ.get("DNAHLM_CACHE") or tmp_path_factory.mktemp("cache"))


def test_fetch_is_idempotent_and_tiny_build_works(cache, tmp_path):
    recipe = load_data_recipe("tiny")
    fetch_packages(recipe.packages, cache, progress=False)
    again = fetch_packages(recipe.packages, cache, progress=False)
    assert not any(r.downloaded for r in again)                    # second run downloads nothing
    fm = read_fetch_manifest(cache)
    assert all(len(fm[p]["sha256"]) == 64 and fm[p]["version"] for p in recipe.packages)

    out = tmp_path / "data"
    m = build_dataset(recipe, out=out, cache=cache, progress=False)
    assert m["inputs"]["packages"]["r-cran-mlbench"]["sha256"] == fm["r-cran-mlbench"]["sha256"]
    t = m["tasks"]
    assert t["splice"]["counts"]["train"] > 1500 and t["splice"]["counts"]["test"] > 400
    assert t["promoter"]["counts"] == {"train": 74, "valid": 10, "test": 22}
    assert t["trna_aa"]["counts"]["train"] > 10 and t["trna_aa"]["counts"]["test"] > 10
    assert all(t["feature_type"]["counts"][s] > 0 for s in ("train", "valid", "test"))
    assert all(t["next_kmer"]["counts"][s] > 0 for s in ("train", "valid", "test"))
    assert m["sizes"]["dna_mb"] > 0.1 and m["sizes"]["english_mb"] > 0.1
    assert m["malformed"]["total"] > 0                              # Biopython ships broken test records
    splice = json.loads((out / "tasks/splice/task.json").read_text())
    assert splice["consensus_check"]["donor_GT"] > 0.95
    test_orgs = {json.loads(x)["organism"] for x in (out / "tasks/feature_type/test.jsonl").read_text().splitlines()}
    assert test_orgs == {"Leptospira kirschneri str. H1"}
