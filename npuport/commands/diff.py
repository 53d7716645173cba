"""`npuport diff NAME`: the whole patch set as one unified diff against the pristine upstream."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckFailed
from ..patches import engine
from ..patches.table import HashTable
from ..patches.unidiff import unified_diff
from ..recipe import Recipe
from .inputs import Inputs, scratch_copies


def patch_set_diff(recipe: Recipe, inputs: Inputs) -> str:
    with scratch_copies(inputs, "npuport-diff-") as roots:
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


def _text(path: Path) -> str | None:
    """The file's text; None when it is absent or empty (shown as /dev/null)."""
    return (path.read_text(encoding="utf-8") if path.is_file() else "") or None
