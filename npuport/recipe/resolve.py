"""Choose the concrete sources of one run: the versions a user asked for and local replacements."""

from __future__ import annotations

import os
from dataclasses import replace
from itertools import product

from ..errors import UsageError
from .model import Recipe, Source


def options(recipe: Recipe) -> dict[str, Source]:
    """The version options a recipe offers (e.g. {'mmcv': <mmcv source>} for --mmcv)."""
    return {s.option: s for s in recipe.sources if s.option}


def resolve(recipe: Recipe, versions: dict[str, str] | None = None) -> dict[str, Source]:
    """The recipe's sources pinned at the chosen versions (default: each source's first pin)."""
    chosen = {s.name: s for s in recipe.sources}
    offered = options(recipe)
    for option, version in (versions or {}).items():
        if version is None:
            continue
        if option not in offered:
            raise UsageError(f"recipe {recipe.name} has no --{option} choice"
                             + (f"; it offers {', '.join('--' + o for o in offered)}" if offered else ""))
        src = offered[option]
        supported = [p.version for p in src.pins()]
        if version not in supported:
            raise UsageError(f"recipe {recipe.name} does not support --{option} {version}; "
                             f"supported: {', '.join(supported)} (pinned; bring another in with "
                             f"`npuport pin {recipe.name} --{option} VERSION`)")
        chosen[src.name] = src.at(version)
    return chosen


def every_version(recipe: Recipe) -> list[dict[str, Source]]:
    """Every combination of supported versions, for verify-patches."""
    names = [s.name for s in recipe.sources]
    choices = [[s.at(p.version) for p in s.pins()] if s.kind == "pypi" else [s] for s in recipe.sources]
    return [dict(zip(names, combo)) for combo in product(*choices)]


def override(sources: dict[str, Source], pairs: list[str] | tuple[str, ...], recipe: Recipe) -> dict[str, Source]:
    """Apply `--source NAME=PATH` replacements: a local tree stands in for one source."""
    out = dict(sources)
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--source {pair!r}: expected NAME=PATH, e.g. --source mmdet=../mmdetection")
        if name not in out:
            raise UsageError(f"--source {pair}: recipe {recipe.name} has no source {name!r}; "
                             f"its sources: {', '.join(out)}")
        out[name] = replace(out[name], kind="path", path=os.path.abspath(os.path.expanduser(path)), sha256="")
    return out
