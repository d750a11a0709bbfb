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


@pytest.mark.parametrize("toml, key", [
    ("[pretrain_dna]\ndefault_cap_mb = nan\n", "pretrain_dna.default_cap_mb"),
    ("[pretrain_dna]\nvalid_permille = -1\n", "pretrain_dna.valid_permille"),
    ("[english]\ncaps_mb = { wordnet = -2.0 }\n", "english.caps_mb.wordnet"),
    ("[feature_type]\nmax_window = 0\n", "feature_type.max_window"),
    ("[product]\nmax_len = 0\n", "product.max_len"),
    ("[splice]\nvalid_fraction = 0.6\ntest_fraction = 0.6\n", "splice.test_fraction"),
    ("[next_kmer]\nstart = -5\n", "next_kmer.start"),
    ("[next_kmer]\nn = { train = -1 }\n", "next_kmer.n.train"),
])
def test_numbers_out_of_range_are_errors_naming_the_key(tmp_path, toml, key):
    """A NaN, negative or zero size is refused when the recipe loads (it once gave a traceback
    mid-build, or a silently odd dataset)."""
    p = tmp_path / "x.toml"
    p.write_text(toml)
    with pytest.raises(RecipeError, match=f"'{key}'"):
        load_data_recipe(p)
