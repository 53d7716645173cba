"""Run one patch step on a source tree: read its files, check them against the recipe's hashes, write results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NpuportError
from ..recipe import Recipe, Step
from . import unidiff
from .hashing import ABSENT, file_hash, sha256_bytes
from .table import Expected

# Step outcomes. "applied" and "already" are fine; the others are failures.
APPLIED, ALREADY, SKIPPED = "applied", "already", "skipped"
DRIFT, FAILED, NO_CHANGE, NOT_IDEMPOTENT, NO_COMPILE, UNRECORDED, RESULT_DIFFERS = (
    "drift", "failed", "no-change", "not-idempotent", "no-compile", "unrecorded", "result-differs",
)
OK = {APPLIED, ALREADY, SKIPPED}


@dataclass
class Change:
    path: str
    line: int
    rule: str
    message: str


@dataclass
class StepResult:
    step: Step
    status: str
    detail: str = ""
    base: dict[str, str] = field(default_factory=dict)
    result: dict[str, str] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in OK

    def to_json(self) -> dict:
        return {
            "id": self.step.id, "kind": self.step.kind, "source": self.step.source, "status": self.status,
            "detail": self.detail, "base": self.base, "result": self.result,
            "changes": [vars(c) for c in self.changes],
        }


def files_read(step: Step, recipe: Recipe) -> list[str]:
    """The files (relative to the source root) a step reads and may write."""
    if step.kind == "rewrite":
        return list(step.paths)
    if step.kind == "files":
        return [target for target, _ in step.files]
    if step.kind == "overlay":
        return [target for target, _ in step.map]
    patch_file = recipe.folder / step.patch
    return [p.old or p.new for p in unidiff.parse(patch_file.read_text(encoding="utf-8"), str(patch_file))]


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", newline="") as f:  # keep line endings as they are
            return f.read()
    except FileNotFoundError:
        return None


def compute(step: Step, recipe: Recipe, root: Path) -> tuple[dict[str, str | None], list[Change]]:
    """The new text of every file the step writes (None: delete), and the rewriter's reported changes."""
    new: dict[str, str | None] = {}
    changes: list[Change] = []
    if step.kind == "rewrite":
        from .. import rewriters  # libcst is imported only when a rewrite step runs

        for rel in step.paths:
            text = _read(root / rel)
            if text is None:
                raise NpuportError(f"step {step.id}: {rel} does not exist in {step.source}")
            out, found = rewriters.apply(text, list(step.rules), path=rel)
            new[rel] = out
            changes += [Change(rel, c.line, c.rule, c.message) for c in found]
    elif step.kind == "diff":
        # a shared set's diff is named from its set's folder: _mmcv_full/patches/x.diff
        where = (f"{step.include}/{step.patch.split(step.include + '/', 1)[-1]}" if step.include
                 else f"{recipe.name}/{step.patch}")
        for patch in unidiff.parse((recipe.folder / step.patch).read_text(encoding="utf-8"), where):
            rel = patch.old or patch.new
            new[patch.new or rel] = unidiff.apply(_read(root / rel), patch, where)
            if patch.old and patch.new and patch.old != patch.new:
                new[patch.old] = None
    elif step.kind == "overlay":
        for target, src in step.map:
            if not (root / target).is_file():
                raise NpuportError(f"step {step.id}: overlay file {src} replaces {target}, which does not exist in "
                                   f"{step.source}; an overlay only replaces upstream files (new files: a files step)")
            with open(recipe.folder / step.folder / src, encoding="utf-8", newline="") as f:
                new[target] = f.read()
    else:
        for target, src in step.files:
            new[target] = (recipe.folder / src).read_text(encoding="utf-8")
    return new, changes


def check_drift(base: dict[str, str], expected: Expected, step: Step, label: str) -> str:
    """One line per file whose hash is not what the recipe expects; '' when none."""
    bad = []
    for rel, got in base.items():
        want = expected.base.get(rel)
        if want is not None and got != want:
            bad.append(f"{step.source}/{rel}: expected {want[:12]} ({label}), found {got[:12] if got != ABSENT else 'no file'}")
    return "; ".join(bad)


def run(step: Step, recipe: Recipe, root: Path, expected: Expected | None, pin: str, *, strict: bool,
        later: dict[str, set[str]] | None = None) -> StepResult:
    """Apply `step` to the tree at `root` in place. strict: also prove idempotence and the recorded result.

    `later` holds, per file, the recorded results of later steps: a file already at one of them is done."""
    try:
        reads = files_read(step, recipe)
    except NpuportError as exc:
        return StepResult(step, FAILED, str(exc))
    base = {rel: file_hash(root / rel) for rel in reads}
    if expected is None and step.kind == "overlay":
        return StepResult(step, DRIFT, f"overlay {step.id} has no recorded base for {pin}: its whole files were cut "
                          f"from another version; audit and import them onto this one with `npuport overlay import "
                          f"DIR --onto {pin}`", base)
    if expected is not None:
        done = {rel: {expected.result.get(rel), *(later or {}).get(rel, ())} for rel in reads}
        if all(base[rel] in done[rel] for rel in reads):
            return StepResult(step, ALREADY, "already applied", dict(expected.base), base)
        drift = check_drift(base, expected, step, f"{pin} after the steps before")
        if drift:
            return StepResult(step, DRIFT, drift, base)
    try:
        new, changes = compute(step, recipe, root)
    except NpuportError as exc:
        return StepResult(step, FAILED, str(exc), base)
    res = StepResult(step, APPLIED, "", base, {}, changes)
    for rel, text in new.items():
        res.base.setdefault(rel, file_hash(root / rel))
        res.result[rel] = ABSENT if text is None else sha256_bytes(text.encode("utf-8"))
    unchanged = [rel for rel in new if res.result[rel] == res.base[rel]]
    if step.kind == "rewrite" and unchanged:
        return _fail(res, NO_CHANGE, f"{', '.join(step.rules)} changed nothing in {', '.join(unchanged)}; the recipe expects a change")
    if step.kind == "overlay" and unchanged:
        return _fail(res, NO_CHANGE, f"overlay files for {', '.join(unchanged)} are identical to upstream; drop them")
    for rel, text in new.items():
        if text is not None and rel.endswith(".py"):
            try:
                compile(text, rel, "exec", dont_inherit=True)
            except SyntaxError as exc:
                return _fail(res, NO_COMPILE, f"{step.source}/{rel}:{exc.lineno}: does not compile after the step: {exc.msg}")
    if strict:
        problem = _strict_checks(step, recipe, new, res, expected)
        if problem:
            return problem
    _write(root, new)
    res.detail = f"{len(new)} file(s)" + (f", {len(changes)} change(s)" if changes else "")
    return res


def _strict_checks(step: Step, recipe: Recipe, new: dict, res: StepResult, expected: Expected | None):
    if step.kind == "rewrite":
        from .. import rewriters

        for rel, text in new.items():
            again, _ = rewriters.apply(text, list(step.rules), path=rel)
            if again != text:
                return _fail(res, NOT_IDEMPOTENT, f"a second run of {', '.join(step.rules)} changes {rel} again")
    if expected is None:
        return _fail(res, UNRECORDED, f"no hashes recorded; run npuport verify-patches {recipe.name} --record")
    differs = [rel for rel, h in res.result.items() if expected.result.get(rel) != h]
    if differs:
        return _fail(res, RESULT_DIFFERS, f"result of {', '.join(differs)} differs from the recorded one; review "
                     f"`npuport diff {recipe.name}` and rerun with --record")
    return None


def _fail(res: StepResult, status: str, detail: str) -> StepResult:
    res.status, res.detail = status, detail
    return res


def _write(root: Path, new: dict[str, str | None]) -> None:
    for rel, text in new.items():
        path = root / rel
        if text is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode if path.exists() else None
        if path.exists() and not path.stat().st_mode & 0o200:
            path.chmod(path.stat().st_mode | 0o200)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if mode is not None:
            path.chmod(mode | 0o200)
