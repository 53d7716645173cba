"""A recipe's hash table (`hashes.json`): for every step and pinned version, the sha256 of each file the step
reads (base) and writes (result). It is what the recipe expects; `verify-patches --record` writes it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..errors import RecipeError
from ..recipe import Recipe, Source

FILE = "hashes.json"


def pin_key(source: Source) -> str:
    """The key a source's pin is recorded under: 'mmcv-full==1.3.8' or the git commit."""
    if source.kind == "pypi":
        return f"{source.package}=={source.version}"
    if source.kind == "git":
        return source.commit
    return f"path:{source.sha256 or source.path}"


@dataclass
class Expected:
    base: dict[str, str]
    result: dict[str, str]


@dataclass
class HashTable:
    path: Path
    steps: dict[str, dict[str, Expected]] = field(default_factory=dict)

    @classmethod
    def load(cls, recipe: Recipe) -> HashTable:
        path = recipe.folder / FILE
        table = cls(path)
        if not path.exists():
            return table
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for step_id, pins in data["steps"].items():
                table.steps[step_id] = {k: Expected(dict(v["base"]), dict(v["result"])) for k, v in pins.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RecipeError(f"{path}: not a valid hash table ({exc}); rerun npuport verify-patches {recipe.name} --record") from None
        return table

    def get(self, step_id: str, key: str) -> Expected | None:
        return self.steps.get(step_id, {}).get(key)

    def put(self, step_id: str, key: str, expected: Expected) -> None:
        self.steps.setdefault(step_id, {})[key] = expected

    def save(self, keep: list[str]) -> None:
        """Write the table atomically, keeping only the steps still in the recipe (in recipe order)."""
        data = {"steps": {s: {k: vars(v) for k, v in sorted(self.steps[s].items())} for s in keep if s in self.steps}}
        atomic.write_json(self.path, data, indent=1, sort_keys=False)
