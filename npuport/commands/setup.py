"""`npuport setup NAME`: fetch, verify, patch, build and install into a workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import build
from ..errors import UsageError
from ..patches.steps import SKIPPED
from ..recipe import Recipe
from ..recipe.resolve import override, resolve
from ..workspace import Workspace, default_root, lock_hash
from .inputs import fetch_all


@dataclass
class SetupResult:
    recipe: str
    workspace: Path
    dry_run: bool
    sources: list[dict]
    steps: list[dict] = field(default_factory=list)
    build: list[str] = field(default_factory=list)
    changed: bool = False
    built: bool = False
    lock_hash: str = ""

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self).items()}


def setup(recipe: Recipe, *, versions: dict[str, str] | None = None, workspace: str | None = None,
          source_pairs=(), mirror_pairs=(), offline: bool = False, dry_run: bool = False, force: bool = False,
          patched: bool = True, amp: str | None = None, device: str | None = None, log=None) -> SetupResult:
    """`amp`: "apex" or "native" overrides the recipe's `amp` (apex: see npuport.apex).
    `device`: the device the workspace is for; npu needs torch_npu in the invoking environment, since the
    workspace reuses it (the patched tree itself chooses its device at run time)."""
    if device == "npu":
        check_torch_npu()
    apex = (amp or recipe.amp) == "apex"
    if apex:
        from ..apex import with_apex

        recipe = with_apex(recipe)
    pins = resolve(recipe, versions)
    ws = Workspace(Path(workspace) if workspace else default_root(recipe.name))
    if dry_run:
        used = override(pins, source_pairs, recipe)
        return SetupResult(
            recipe.name, ws.root, True,
            sources=[{"name": n, "kind": s.kind, "pin": pins[n].pin_label, "from": s.path or s.url or s.package}
                     for n, s in used.items()],
            steps=[{"id": s.id, "kind": s.kind, "source": s.source, "why": s.why} for s in recipe.steps
                   if s.applies_to(pins[s.source].version)],
            build=[str(c) for c in build.plan(ws, recipe)],
        )
    if apex:
        from ..apex import fetch_or_explain

        fetch_or_explain(recipe, source_pairs=source_pairs, mirror_pairs=mirror_pairs, offline=offline)
    inputs = fetch_all(recipe, pins, source_pairs=source_pairs, mirror_pairs=mirror_pairs, offline=offline, log=log)
    outcome = ws.install(recipe, inputs.trees, inputs.records, pins, patched=patched, force=force)
    ran = [r for r in outcome.steps if r.status != SKIPPED]  # a step for other versions is not this one's
    if log:  # the steps before the build's (long) output
        for r in ran:
            log(f"  {r.step.id:<32} {r.status:<8} {r.detail}")
    built = build.run(ws, recipe, outcome.key, log=log) if patched and recipe.installs else False
    return SetupResult(
        recipe.name, ws.root, False, inputs.records,
        steps=[{"id": r.step.id, "status": r.status, "detail": r.detail} for r in ran],
        build=[str(c) for c in build.plan(ws, recipe)] if recipe.installs else [],
        changed=outcome.changed, built=built, lock_hash=lock_hash(outcome.lock),
    )


def check_torch_npu() -> None:
    from ..launch.device import installed

    if not installed("torch_npu"):
        raise UsageError("--device npu: torch_npu is not installed in this environment, and the workspace reuses "
                         "this environment's torch and torch_npu; install Ascend's torch_npu for your torch and CANN "
                         "first (see `npuport doctor --device npu`)")
