"""Recipes: TOML files that fill config dataclasses, checked strictly.

A recipe lives in ``recipes/<kind>/<name>.toml`` (for example ``recipes/pretrain/cpu.toml``) and
is loaded into a dataclass with :func:`load_recipe`. Unknown keys and wrong types are errors that
name the key, so a typo never silently falls back to a default. Nested tables fill nested
dataclasses.

>>> from dataclasses import dataclass
>>> @dataclass
... class Demo:
...     steps: int = 10
...     lr: float = 1e-3
>>> from_dict(Demo, {"steps": 5})
Demo(steps=5, lr=0.001)
"""
from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from .errors import RecipeError

T = TypeVar("T")

#: Folder holding the recipes that ship with the project (``<repo>/recipes``).
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def recipe_path(kind: str, name_or_path: str | Path) -> Path:
    """Resolve a recipe name (``cpu``) or a path (``my.toml``) to an existing TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if p.is_dir():
            raise RecipeError(f"recipe {p} is a folder, not a .toml file")
        if not p.is_file():
            raise RecipeError(f"recipe file not found: {p}")
        return p
    candidate = RECIPES_DIR / kind / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = sorted(q.stem for q in (RECIPES_DIR / kind).glob("*.toml"))
        raise RecipeError(f"no {kind} recipe named {name_or_path!r}; known: {', '.join(known) or 'none'}")
    return candidate


def list_recipes(kind: str) -> list[str]:
    return sorted(q.stem for q in (RECIPES_DIR / kind).glob("*.toml"))


def _check_type(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, key)
            except RecipeError:
                continue
        raise RecipeError(f"recipe key {key!r}: expected {tp}, got {type(value).__name__} {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecipeError(f"recipe key {key!r}: expected a table, got {type(value).__name__}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise RecipeError(f"recipe key {key!r}: expected a list, got {type(value).__name__}")
        (inner, *_) = typing.get_args(tp) or (Any,)
        items = [_check_type(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"recipe key {key!r}: expected a table, got {type(value).__name__}")
        _, vt = typing.get_args(tp) or (Any, Any)
        return {k: _check_type(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if isinstance(value, bool) and tp is not bool:
            raise RecipeError(f"recipe key {key!r}: expected {tp.__name__}, got bool")
        if not isinstance(value, tp):
            raise RecipeError(f"recipe key {key!r}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise :class:`RecipeError`."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecipeError(
            f"unknown recipe key {(prefix + unknown[0])!r} for {cls.__name__}; allowed: {', '.join(sorted(fields))}"
        )
    kwargs = {k: _check_type(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    required = [n for n, f in fields.items() if n not in data and f.init
                and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:
        raise RecipeError(f"recipe key {(prefix + required[0])!r} is missing ({cls.__name__} needs it)")
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field missing
        raise RecipeError(f"{cls.__name__}: {e}") from None


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top: tables merge key by key, any other value replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_recipe(kind: str, name_or_path: str | Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The TOML of a recipe, with ``extends = "NAME"`` (another recipe of the same kind) resolved:
    the named recipe's keys, then this file's on top (tables merged key by key)."""
    path = recipe_path(kind, name_or_path)
    if path.resolve() in seen:
        raise RecipeError(f"{path}: 'extends' loops back to {path.name}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{path}: not valid TOML: {e}") from None
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RecipeError(f"{path}: recipe key 'extends' must be the name of a {kind} recipe, not {parent!r}")
    return _merged(_read_recipe(kind, parent, (*seen, path.resolve())), data)


def load_recipe(cls: type[T], kind: str, name_or_path: str | Path) -> T:
    """Load ``recipes/<kind>/<name>.toml`` (or a path) into dataclass ``cls``; a recipe with
    ``extends = "NAME"`` starts from that recipe of the same kind and overrides what it sets."""
    return from_dict(cls, _read_recipe(kind, name_or_path))


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain dict (for manifests and checkpoints)."""
    return dataclasses.asdict(obj)
