"""The inputs of a run: the recipe's sources at the chosen versions, fetched and verified."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from ..recipe import Recipe, Source
from ..recipe.resolve import override


@dataclass
class Inputs:
    pins: dict[str, Source]  # the recipe's sources at the chosen versions (hash-table keys)
    used: dict[str, Source]  # what is fetched: pins, or a local tree given with --source
    trees: dict[str, Path]  # the read-only trees in the cache (or the local trees)
    records: list[dict]  # for the lock: name, kind, pin, digest, origin


def fetch_all(recipe: Recipe, pins: dict[str, Source], *, source_pairs=(), mirror_pairs=(), offline: bool = False,
              cache=None, log=None) -> Inputs:
    """Fetch (or find in the cache) and verify every source; `log` hears one line per source before it starts."""
    from .. import sources

    used = override(pins, source_pairs, recipe)
    mirrors = sources.Mirrors.load(list(mirror_pairs))
    cache = cache or sources.Cache.default()
    trees, records = {}, []
    for name, src in used.items():
        if src.kind == "path" and src is pins[name] and not Path(src.path).is_absolute():
            src = replace(src, path=str(recipe.folder / src.path))  # a recipe's own path is relative to its folder
        if log:
            log(f"npuport: fetch {name}: {pins[name].pin_label} ...")
        got = sources.fetch(src, cache=cache, mirrors=mirrors, offline=offline)
        trees[name] = Path(got.root)
        records.append({"name": name, "kind": src.kind, "pin": pins[name].pin_label, "version": pins[name].version,
                        "digest": got.digest, "origin": got.origin, "local": src.path if src.kind == "path" else ""})
    return Inputs(pins, used, trees, records)


@contextlib.contextmanager
def scratch_copies(inputs: Inputs, prefix: str) -> Iterator[dict[str, Path]]:
    """Writable copies of the input trees, by source name, in a temporary folder removed afterwards."""
    from ..sources import copy_tree

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        roots = {}
        for name, tree in inputs.trees.items():
            roots[name] = tmp / name
            copy_tree(tree, roots[name])
        yield roots
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
