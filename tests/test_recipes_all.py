"""Every recipe file that ships in recipes/ loads against the dataclass of its stage.

A recipe folder without a loader here fails the test, so a new kind of recipe cannot ship unchecked.
"""
import pytest

from dnahlm_rag.data.recipe import DataRecipe
from dnahlm_rag.index import IndexConfig
from dnahlm_rag.instruct import InstructRecipe
from dnahlm_rag.pretrain import PretrainRecipe
from dnahlm_rag.recipes import RECIPES_DIR, list_recipes, load_recipe
from dnahlm_rag.sft import SFTRecipe
from dnahlm_rag.tokenizer import TokenizerRecipe

CLASSES = {"data": DataRecipe, "index": IndexConfig, "instruct": InstructRecipe, "pretrain": PretrainRecipe,
           "sft": SFTRecipe, "tokenizer": TokenizerRecipe}
ALL = [(kind, name) for kind in sorted(CLASSES) for name in list_recipes(kind)]


def test_every_recipe_folder_has_a_loader():
    kinds = {p.name for p in RECIPES_DIR.iterdir() if p.is_dir()}
    assert kinds == set(CLASSES)


@pytest.mark.parametrize(("kind", "name"), ALL, ids=[f"{k}/{n}" for k, n in ALL])
def test_recipe_loads(kind, name):
    recipe = load_recipe(CLASSES[kind], kind, name)
    if hasattr(recipe, "name"):
        assert recipe.name == name  # a copied recipe must be renamed too
