"""Recipes: data that says which upstream to fetch, how to patch, build and train it."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import RecipeError, UsageError
from .include import expand
from .model import Install, Pin, Recipe, Reference, Source, Step, Train
from .schema import parse_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Install", "Pin", "Recipe", "Reference", "Source", "Step", "Train", "builtin_dir", "find", "load", "all_names"]

RECIPE_FILE = "recipe.toml"


def builtin_dir() -> Path:
    """The recipes shipped with npuport: `recipes/` in a checkout, `npuport/_recipes` once installed."""
    here = Path(__file__).resolve().parent.parent
    installed = here / "_recipes"
    return installed if installed.is_dir() else here.parent / "recipes"


def search_dirs(extra: tuple[str, ...] | list[str] = ()) -> list[Path]:
    """User folders first (`--recipes DIR`), so a user's recipe can stand in for a shipped one."""
    dirs = []
    for d in extra:
        p = Path(d).expanduser()
        if not p.is_dir():
            raise UsageError(f"--recipes {d}: not a folder; give a folder holding <name>/{RECIPE_FILE}")
        dirs.append(p)
    return [*dirs, builtin_dir()]


def all_names(extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    names: set[str] = set()
    for d in search_dirs(extra):
        names.update(p.parent.name for p in d.glob(f"*/{RECIPE_FILE}"))
    return sorted(names)


def find(name: str, extra: tuple[str, ...] | list[str] = ()) -> Path:
    for d in search_dirs(extra):
        f = d / name / RECIPE_FILE
        if f.is_file():
            return f
    raise UsageError(f"unknown recipe {name!r}; known: {', '.join(all_names(extra))} (npuport list)")


def load_file(file: Path) -> Recipe:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{file}: not valid TOML: {exc}") from None
    recipe = parse_recipe(data, file)
    recipe = expand(recipe, file)
    if recipe.name != file.parent.name:
        raise RecipeError(f"{file}: key 'name' is {recipe.name!r} but the folder is {file.parent.name!r}; make them equal")
    return recipe


def load(name: str, extra: tuple[str, ...] | list[str] = ()) -> Recipe:
    return load_file(find(name, extra))
