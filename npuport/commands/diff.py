"""`npuport diff NAME`: the whole patch set as one unified diff against the pristine upstream."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..errors import CheckFailed
from ..patches import engine
from ..patches.table import HashTable
from ..patches.unidiff import unified_diff
from ..recipe import Recipe
from ..sources import copy_tree
from .inputs import Inputs


def patch_set_diff(recipe: Recipe, inputs: Inputs) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="npuport-diff-"))
    try:
        roots = {}
        for name, tree in inputs.trees.items():
            roots[name] = tmp / name
            copy_tree(tree, roots[name])
        results = engine.apply_all(recipe, roots, inputs.pins, HashTable.load(recipe))
        if engine.failures(results):
            raise CheckFailed(engine.drift_report(recipe, results))
        touched: dict[str, set[str]] = {}
        for r in results:
            touched.setdefault(r.step.source, set()).update(r.result)
        chunks = []
        for source, paths in touched.items():
            for rel in sorted(paths):
                chunks.append(unified_diff(_text(inputs.trees[source] / rel), _text(roots[source] / rel),
                                           f"{source}/{rel}"))
        return "".join(chunks)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _text(path: Path) -> str | None:
    """The file's text; None when it is absent or empty (shown as /dev/null)."""
    return (path.read_text(encoding="utf-8") if path.is_file() else "") or None
