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


def test_extends_overrides_key_by_key_and_refuses_loops(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('steps = 7\nname = "base"\n[optim]\nlr = 0.01\nbetas = [0.8, 0.9]\n')
    child = tmp_path / "child.toml"
    child.write_text(f'extends = "{base}"\nname = "child"\n[optim]\nlr = 0.5\n')
    r = load_recipe(Demo, "pretrain", child)
    assert (r.steps, r.name, r.optim.lr, r.optim.betas) == (7, "child", 0.5, [0.8, 0.9])
    base.write_text(f'extends = "{child}"\nsteps = 7\n')
    with pytest.raises(RecipeError, match="'extends' loops back"):
        load_recipe(Demo, "pretrain", child)
    child.write_text("extends = 3\n")
    with pytest.raises(RecipeError, match="recipe key 'extends' must be the name"):
        load_recipe(Demo, "pretrain", child)


def test_other_organisms_data_recipe_is_default_but_for_the_held_out_species():
    from dnahlm_rag.data.recipe import load_data_recipe
    from dnahlm_rag.recipes import to_dict

    d, o = to_dict(load_data_recipe("default")), to_dict(load_data_recipe("other-organisms"))
    assert o["organisms"]["test"] == ["Roseobacter denitrificans", "Methanothermobacter thermautotrophicus"]
    assert {k for k in d if d[k] != o[k]} == {"name", "organisms"}
    assert {k for k in d["organisms"] if d["organisms"][k] != o["organisms"][k]} == {"test"}
