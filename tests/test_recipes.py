"""Strict recipe loading: unknown keys and wrong types name the key."""
from dataclasses import dataclass, field

import pytest

from dnahlm_rag.errors import RecipeError
from dnahlm_rag.recipes import from_dict, load_recipe


@dataclass
class Optim:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])


@dataclass
class Demo:
    steps: int = 10
    name: str = "x"
    compile: bool = False
    optim: Optim = field(default_factory=Optim)
    note: str | None = None


def test_defaults_and_int_to_float():
    d = from_dict(Demo, {"steps": 3, "optim": {"lr": 1}})
    assert d.steps == 3 and d.optim.lr == 1.0 and isinstance(d.optim.lr, float)


def test_unknown_key_is_named():
    with pytest.raises(RecipeError, match="'stpes'"):
        from_dict(Demo, {"stpes": 3})
    with pytest.raises(RecipeError, match="'optim.learning_rate'"):
        from_dict(Demo, {"optim": {"learning_rate": 3}})


def test_wrong_type_is_named():
    with pytest.raises(RecipeError, match="'steps'.*expected int"):
        from_dict(Demo, {"steps": "ten"})
    with pytest.raises(RecipeError, match="'compile'"):
        from_dict(Demo, {"compile": "yes"})
    with pytest.raises(RecipeError, match=r"'optim.betas\[1\]'"):
        from_dict(Demo, {"optim": {"betas": [0.9, "x"]}})
    with pytest.raises(RecipeError, match="'steps'.*bool"):
        from_dict(Demo, {"steps": True})


def test_optional_accepts_none_and_value():
    assert from_dict(Demo, {"note": "hi"}).note == "hi"


def test_load_from_path_and_bad_toml(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("steps = 7\n[optim]\nlr = 0.01\n")
    assert load_recipe(Demo, "pretrain", p).steps == 7
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 7\n")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(Demo, "pretrain", bad)
    with pytest.raises(RecipeError, match="no pretrain recipe named 'nope'"):
        load_recipe(Demo, "pretrain", "nope")


def test_missing_required_key_and_folder_path_are_named(tmp_path):
    @dataclass
    class Named:
        name: str
        steps: int = 1

    with pytest.raises(RecipeError, match="recipe key 'name' is missing"):
        from_dict(Named, {"steps": 2})
    with pytest.raises(RecipeError, match="is a folder, not a .toml file"):
        load_recipe(Named, "pretrain", tmp_path)
