"""NVIDIA apex as an upstream like the others: a pinned commit, mirrors, our patch, a Python-only install.

apex is not on PyPI: the PyPI project named `apex` is an unrelated package, and npuport refuses it wherever
a recipe names it. The definition (source pin, patch step, install) is data, `recipes/_apex/apex.toml`, shared
by every recipe whose `amp = "apex"` or that is set up with `npuport setup NAME --amp apex`:

    recipe = with_apex(recipe)        # the recipe plus apex's source, step and install

Our steps: NPU404 (O1's cached_cast on torch >= 1.10) and a one-line diff that lets setup.py build Python-only
without CUDA. A recipe may pin its own apex by declaring a source named "apex"; it then brings its own steps.
`--source apex=PATH` stands in a local tree for one run, e.g. a site's checkout of Ascend's fork.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from .errors import RecipeError, Unreachable

NAME = "apex"
URL = "https://github.com/NVIDIA/apex.git"
ASCEND_FORK = "https://gitee.com/ascend/apex"
DEFINITION = "_apex/apex.toml"


def pypi_apex_problem(requirement: str) -> str:
    """A one-line refusal when `requirement` names the PyPI project `apex`; '' otherwise."""
    name = re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0]
    if re.sub(r"[-_.]+", "-", name).lower() != NAME:
        return ""
    return (f"names the PyPI project 'apex', which is not NVIDIA apex (an unrelated package); NVIDIA apex is not "
            f"on PyPI: set amp = \"apex\" in the recipe or run `npuport setup NAME --amp apex`, which fetches {URL}")


def definition_file() -> Path:
    from .recipe import builtin_dir

    return builtin_dir() / DEFINITION


def load_definition():
    """apex's (source, steps, installs) from the shared definition, validated like a recipe."""
    from .recipe import tomllib
    from .recipe.schema import Table, parse_install, parse_source, parse_step

    file = definition_file()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RecipeError(f"{file}: cannot read the apex definition ({exc}); reinstall npuport") from None
    top = Table(data, file, "")
    sources = [parse_source(t) for t in top.tables("source")]
    # a diff's patch file is relative to the definition's folder; absolute, it is found from any recipe's folder
    steps = tuple(replace(s, patch=str(file.parent / s.patch)) if s.patch else s
                  for s in (parse_step(t) for t in top.tables("step")))
    installs = tuple(parse_install(t) for t in top.tables("install"))
    top.done()
    if len(sources) != 1 or sources[0].name != NAME:
        top.fail("source", f"must hold exactly one [[source]] named {NAME!r}")
    return sources[0], steps, installs


def with_apex(recipe):
    """`recipe` with apex's source (first, so a missing apex fails before anything is fetched), its patch
    steps and its install added. A recipe that pins its own apex brings its own steps (ours are written for
    our pin); its own install, if any, wins too."""
    source, steps, installs = load_definition()
    own_source = any(s.name == NAME for s in recipe.sources)
    sources = recipe.sources if own_source else (source, *recipe.sources)
    new_steps = recipe.steps + (() if own_source else steps)
    own_install = any(i.source == NAME for i in recipe.installs)
    return replace(recipe, sources=sources, steps=new_steps,
                   installs=recipe.installs + (() if own_install else installs), amp="apex")


def fetch_or_explain(recipe, *, source_pairs=(), mirror_pairs=(), offline: bool = False) -> None:
    """Fetch apex into the cache before anything else; when it cannot be had, one line that says exactly
    what is missing and what to give. A `--source apex=PATH` is used as given."""
    from . import sources as src_mod

    if any(p.partition("=")[0] == NAME for p in source_pairs):
        return
    apex = recipe.source(NAME)
    if apex.kind != "git":
        return
    mirrors = src_mod.Mirrors.load(list(mirror_pairs))
    try:
        src_mod.fetch(apex, mirrors=mirrors, offline=offline)
    except Unreachable as exc:
        origin = mirrors.rewrite(apex.url)
        via = f" through the mirror {origin}" if origin != apex.url else ""
        why = "offline and not in the cache" if offline else f"not in the cache and not reachable{via}"
        raise Unreachable(
            f"apex is missing for {recipe.name}: {apex.url} at commit {apex.commit} is {why}; NVIDIA apex is not "
            f"on PyPI: give --mirror {apex.url}=<git URL or path of a mirror with that commit>, or "
            f"--source {NAME}=PATH (a local apex tree, e.g. Ascend's fork {ASCEND_FORK})") from exc
