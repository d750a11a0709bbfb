"""Every shipped data recipe loads, names registry packages, and names held-out organisms."""
from __future__ import annotations

import pytest

from dnahlm_rag.data.recipe import load_data_recipe
from dnahlm_rag.data.sources import BY_NAME, all_packages
from dnahlm_rag.errors import RecipeError
from dnahlm_rag.recipes import list_recipes


@pytest.mark.parametrize("name", list_recipes("data"))
def test_recipe_loads_and_refers_to_known_things(name):
    r = load_data_recipe(name)
    assert set(r.packages) <= set(all_packages())
    for src in (*r.exclude_sources, *r.pretrain_dna.caps_mb, r.next_kmer.source):
        assert src in BY_NAME, src
    if r.packages:
        assert r.organisms.test and r.organisms.valid


def test_unknown_task_is_an_error(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text('tasks = ["splice", "nope"]\n')
    with pytest.raises(RecipeError, match="nope"):
        load_data_recipe(p)
