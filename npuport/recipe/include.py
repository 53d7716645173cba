"""Shared step sets: what several recipes repeat, written once and included the way `_apex` is.

A recipe names them at its top, before its tables:

    include = ["_mmcv_full", "_npu_env"]

and `recipes/_mmcv_full/include.toml` holds `[[step]]` and `[[install]]` tables (and `_npu_env` an `[npu_env]`
table) in the recipe schema. The included steps come first, in the order named, then the recipe's own; an
included install stands unless the recipe installs the same source itself; the recipe's own `[train.npu_env]`
keys win over an included `[npu_env]`. A diff's patch file is found in the set's folder. A set is looked up
beside the recipe first (a `--recipes DIR` may bring its own), then among npuport's recipes.

Included steps may carry `versions` ranges that none of the recipe's pins match (a step for mmcv-full 1.3 in a
recipe pinned on 1.2): they never run there, but `npuport pin` tries them on the version it brings in. Their
hashes are recorded per recipe, in the recipe's own hashes.json, as for its own steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import RecipeError
from .model import Install, Recipe, Step

FILE = "include.toml"


@dataclass(frozen=True)
class StepSet:
    name: str
    file: Path
    steps: tuple[Step, ...] = ()
    installs: tuple[Install, ...] = ()
    npu_env: tuple[tuple[str, str], ...] = ()


def find_set(name: str, recipe_file: Path) -> Path:
    from . import builtin_dir

    for folder in dict.fromkeys((recipe_file.parent.parent, builtin_dir())):
        if (folder / name / FILE).is_file():
            return folder / name / FILE
    known = sorted(p.parent.name for p in builtin_dir().glob(f"_*/{FILE}"))
    raise RecipeError(f"{recipe_file}: key 'include' names {name!r}, which is no shared step set (a folder "
                      f"{name}/{FILE} beside the recipe or among npuport's: {', '.join(known)})")


def load_set(name: str, recipe_file: Path) -> StepSet:
    """One shared step set, validated with the recipe schema (errors name the set's file and key)."""
    from . import tomllib
    from .schema import Table, parse_install, parse_step

    file = find_set(name, recipe_file)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{file}: not valid TOML: {exc}") from None
    top = Table(data, file, "")
    steps = tuple(replace(parse_step(t), include=name) for t in top.tables("step"))
    installs = tuple(parse_install(t) for t in top.tables("install"))
    npu_env = top.mapping("npu_env")
    top.done()
    for i, step in enumerate(steps):
        for rel in _files(step):
            if not (file.parent / rel).is_file():
                top.fail(f"step[{i}]", f"refers to {rel}, which is not a file in {file.parent}")
    return StepSet(name, file, steps, installs, npu_env)


def _files(step: Step) -> list[str]:
    return ([step.patch] if step.patch else []) + [f for _, f in step.files] + [f"{step.folder}/{f}" for _, f in step.map]


def _rebase(step: Step, folder: Path, recipe_folder: Path) -> Step:
    """The step with its files relative to the recipe's folder (the engine reads them from there)."""
    rel = lambda f: os.path.relpath(folder / f, recipe_folder)  # noqa: E731
    return replace(step, patch=rel(step.patch) if step.patch else "",
                   files=tuple((t, rel(f)) for t, f in step.files),
                   folder=rel(step.folder) if step.folder else "")


def expand(recipe: Recipe, recipe_file: Path) -> Recipe:
    """`recipe` with the steps, installs and NPU environment of the sets it includes."""
    if not recipe.includes:
        return recipe
    names = [s.name for s in recipe.sources]
    steps: list[Step] = []
    installs: list[Install] = []
    env: dict[str, str] = {}
    for name in recipe.includes:
        found = load_set(name, recipe_file)
        for step in found.steps:
            if step.source not in names:
                raise RecipeError(f"{found.file}: step {step.id} patches source {step.source!r}, which recipe "
                                  f"{recipe.name} ({recipe_file}) does not have; its sources: {', '.join(names)}")
            if step.versions and recipe.source(step.source).kind != "pypi":
                raise RecipeError(f"{found.file}: step {step.id} has versions, but {step.source} of recipe "
                                  f"{recipe.name} is not a pypi source")
            steps.append(_rebase(step, found.file.parent, recipe.folder))
        installs += [i for i in found.installs if i.source in names]
        env.update(found.npu_env)
    seen: dict[str, str] = {}
    for step in [*steps, *recipe.steps]:
        if step.id in seen:
            raise RecipeError(f"{recipe_file}: step id {step.id!r} comes twice (from {seen[step.id]} and from "
                              f"{step.include or recipe.name}); rename one")
        seen[step.id] = step.include or recipe.name
    own = {i.source for i in recipe.installs}
    train = recipe.train
    if env:
        if train is None:
            raise RecipeError(f"{recipe_file}: includes an NPU environment but has no [train] table")
        train = replace(train, npu_env=tuple({**env, **dict(train.npu_env)}.items()))
    return replace(recipe, steps=(*steps, *recipe.steps), train=train,
                   installs=(*[i for i in installs if i.source not in own], *recipe.installs))
