"""`npuport revert NAME`: put the pristine upstream tree back in the workspace."""

from __future__ import annotations

from pathlib import Path

from ..build import STAMP
from ..recipe import Recipe
from ..recipe.resolve import options
from ..workspace import Workspace, default_root
from .setup import SetupResult, setup


def revert(recipe: Recipe, *, workspace: str | None = None, mirror_pairs=(), offline: bool = False) -> SetupResult:
    ws = Workspace(Path(workspace) if workspace else default_root(recipe.name))
    lock = ws.require(recipe.name)
    by_name = {s["name"]: s for s in lock["sources"]}
    versions = {opt: by_name[src.name]["version"] for opt, src in options(recipe).items() if src.name in by_name}
    source_pairs = [f"{n}={s['local']}" for n, s in by_name.items() if s.get("local")]
    result = setup(recipe, versions=versions, workspace=str(ws.root), source_pairs=source_pairs,
                   mirror_pairs=mirror_pairs, offline=offline, patched=False, force=True)
    (ws.root / "env" / STAMP).unlink(missing_ok=True)  # the environment holds the patched build: rebuild on setup
    return result
