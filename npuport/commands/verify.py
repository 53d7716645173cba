"""`npuport verify-patches`: prove every step of every recipe on every pinned version."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import Unreachable, UsageError
from ..patches import engine
from ..patches.steps import ALREADY, NOT_IDEMPOTENT, SKIPPED, StepResult
from ..patches.table import Expected, HashTable, pin_key
from ..recipe import Recipe
from ..recipe.resolve import every_version, options, resolve
from .inputs import fetch_all, scratch_copies

UNREACHABLE = "unreachable"


@dataclass
class VersionReport:
    recipe: str
    version: str  # the pins, e.g. "mmcv-full==1.3.8, mmdet==2.10.0"
    status: str  # "ok" | "failed" | "unreachable"
    detail: str = ""
    steps: list[StepResult] = field(default_factory=list)
    pins: dict[str, str] = field(default_factory=dict)  # source -> version (pypi) or commit (git)

    def to_json(self) -> dict:
        return {"recipe": self.recipe, "version": self.version, "pins": self.pins, "status": self.status,
                "detail": self.detail,
                "steps": [{**r.to_json(), "files": sorted(r.result)} for r in self.steps]}


@dataclass
class VerifyReport:
    versions: list[VersionReport]
    skip_unreachable: bool

    @property
    def ok(self) -> bool:
        bad = {"failed"} if self.skip_unreachable else {"failed", UNREACHABLE}
        return not any(v.status in bad for v in self.versions)

    def summary(self) -> str:
        """One line: what held, what failed, what could not be reached and how to reach it."""
        failed = sorted({v.recipe for v in self.versions if v.status == "failed"})
        away = sorted({v.recipe for v in self.versions if v.status == UNREACHABLE})
        parts = []
        if failed:
            parts.append(f"patches do not hold for {', '.join(failed)} (see the rows above)")
        if away:
            how = ("give --mirror https://github.com/=URL_OR_FILE_URL_OF_A_MIRROR/ or --source NAME=PATH"
                   if not self.skip_unreachable else "--mirror or --source would check them")
            parts.append(f"{len(away)} recipe(s) not checked, their upstream unreachable: {', '.join(away)} ({how})")
        if not parts:
            return "all patches hold"
        if not failed and self.skip_unreachable:
            return "all reachable patches hold; " + parts[0]
        return "; ".join(parts)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        out = []
        for v in self.versions:
            if not v.steps:
                out.append((v.recipe, v.version, "-", v.status, v.detail))
            for r in v.steps:
                out.append((v.recipe, v.version, r.step.id, "ok" if r.ok else r.status, r.detail))
        return out


def offering(recipes: list[Recipe], option: str, version: str) -> list[Recipe]:
    """The recipes that pin `version` for --`option` (for `verify-patches --mmcv V` without names)."""
    found = [r for r in recipes if option in options(r) and version in [p.version for p in options(r)[option].pins()]]
    if not found:
        raise UsageError(f"no recipe pins --{option} {version}; see the choices with `npuport list`")
    return found


def versions_of(recipe: Recipe, chosen: dict[str, str] | None) -> list[dict]:
    """Every combination of pinned versions, or only those with the chosen ones (a one-line error if unpinned)."""
    combos = every_version(recipe)
    if not any((chosen or {}).values()):
        return combos
    pins = resolve(recipe, chosen)
    names = [src.name for opt, src in options(recipe).items() if (chosen or {}).get(opt)]
    return [c for c in combos if all(c[n].version == pins[n].version for n in names)]


def verify(recipes: list[Recipe], *, source_pairs=(), mirror_pairs=(), offline=False, skip_unreachable=False,
           record=False, versions: dict[str, str] | None = None) -> VerifyReport:
    reports = []
    for recipe in recipes:
        for pins in versions_of(recipe, versions):
            label = ", ".join(s.pin_label for s in pins.values())
            chosen = {n: s.version or s.commit or s.path for n, s in pins.items()}
            try:
                inputs = fetch_all(recipe, pins, source_pairs=source_pairs, mirror_pairs=mirror_pairs, offline=offline)
            except Unreachable as exc:
                reports.append(VersionReport(recipe.name, label, UNREACHABLE, str(exc), pins=chosen))
                continue
            if record:
                _record(recipe, inputs)
            reports.append(replace(verify_one(recipe, label, inputs), pins=chosen))
    return VerifyReport(reports, skip_unreachable)


def verify_one(recipe: Recipe, label: str, inputs, table: HashTable | None = None) -> VersionReport:
    table = table or HashTable.load(recipe)
    with scratch_copies(inputs, "npuport-verify-") as roots:
        results = engine.apply_all(recipe, roots, inputs.pins, table, strict=True)
        # A second apply onto the result must find every step already applied and change nothing.
        again = engine.apply_all(recipe, roots, inputs.pins, table)
        for first, second in zip(results, again):
            if first.ok and second.status not in (ALREADY, SKIPPED):
                first.status, first.detail = NOT_IDEMPOTENT, f"a second apply gave {second.status}: {second.detail}"
    failed = engine.failures(results)
    status = "failed" if failed else "ok"
    ran = [r for r in results if r.status != SKIPPED]
    other = f" ({len(results) - len(ran)} for other versions skipped)" if len(ran) < len(results) else ""
    detail = (f"{len(failed)} of {len(ran)} steps failed" if failed else f"{len(ran)} steps ok") + other
    return VersionReport(recipe.name, label, status, detail, results)


def _record(recipe: Recipe, inputs) -> None:
    """Record each step's base and result hashes on this version (developers run this after changing a step)."""
    table = HashTable.load(recipe)
    with scratch_copies(inputs, "npuport-verify-") as roots:
        for step in recipe.steps:  # an overlay's base is recorded by `npuport overlay import`, per version
            if step.kind != "overlay":
                table.steps.get(step.id, {}).pop(pin_key(inputs.pins[step.source]), None)
        results = engine.apply_all(recipe, roots, inputs.pins, table)
    for r in results:
        if r.ok and r.status != SKIPPED:
            table.put(r.step.id, pin_key(inputs.pins[r.step.source]), Expected(r.base, r.result))
    table.save([s.id for s in recipe.steps])
