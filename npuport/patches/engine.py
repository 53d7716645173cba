"""Apply a recipe's steps, in order, to a set of source trees."""

from __future__ import annotations

from pathlib import Path

from ..recipe import Recipe, Source
from . import steps
from .steps import SKIPPED, StepResult
from .table import HashTable, pin_key


def apply_all(recipe: Recipe, roots: dict[str, Path], pins: dict[str, Source], table: HashTable,
              *, strict: bool = False) -> list[StepResult]:
    """Run every step on the trees in `roots` (modified in place) and return one result per step.

    `pins` are the recipe's sources at the chosen versions: they say which recorded hashes apply, also when
    a local tree (--source) stands in for a source. Every step is tried even after one fails; a failed step
    writes nothing, so the steps after it meet the tree as it was.
    """
    results = []
    for i, step in enumerate(recipe.steps):
        pin = pins[step.source]
        if not step.applies_to(pin.version):
            results.append(StepResult(step, SKIPPED, f"only for {', '.join(step.versions)}"))
            continue
        results.append(steps.run(step, recipe, roots[step.source], table.get(step.id, pin_key(pin)),
                                 pin.pin_label, strict=strict,
                                 later=_later_results(recipe, i, pins, table)))
    return results


def _later_results(recipe: Recipe, index: int, pins: dict[str, Source], table: HashTable) -> dict[str, set[str]]:
    """For each file, the recorded results of the steps after `index` on the same source: a file that a later
    step changed again counts as already patched by this one."""
    later: dict[str, set[str]] = {}
    source = recipe.steps[index].source
    for step in recipe.steps[index + 1:]:
        if step.source != source:
            continue
        expected = table.get(step.id, pin_key(pins[source]))
        for rel, h in (expected.result.items() if expected else ()):
            later.setdefault(rel, set()).add(h)
    return later


def failures(results: list[StepResult]) -> list[StepResult]:
    return [r for r in results if not r.ok]


def drift_report(recipe: Recipe, results: list[StepResult]) -> str:
    """One line that names every failed step and file, for the error a user sees."""
    parts = [f"step {r.step.id} {r.status}: {r.detail}" for r in failures(results)]
    return f"recipe {recipe.name}: " + " | ".join(parts)
