"""`npuport overlay import`: turn the real changes of an audited overlay into a recipe step of kind `overlay`,
with the hash table entry that ties it to the upstream version it was cut from.

The step's files go to RECIPE_DIR/overlays/<step id>/<upstream path>; hashes.json records, for the audited pin,
the upstream file's sha256 (base) and the overlay file's (result). Any other version, or a changed upstream
file, is drift. Nothing is written unless every kept file is a real change (or --partial leaves out the others).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..errors import UsageError
from ..patches.hashing import sha256_bytes
from .audit import CHANGE, NOOP, AuditReport, audit

STEP_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass
class ImportResult:
    report: AuditReport
    recipe_dir: Path
    step_id: str
    written: bool
    detail: str
    files: list[str] = field(default_factory=list)  # upstream paths the step replaces
    left_out: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"audit": self.report.to_json(), "recipe_dir": str(self.recipe_dir), "step": self.step_id,
                "written": self.written, "detail": self.detail, "files": self.files, "left_out": self.left_out}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "overlay"


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def import_overlay(folder: str | Path, onto: str, maps=(), *, out: str | Path | None = None, step_id: str = "",
                   why: str = "", partial: bool = False, mirror_pairs=(), max_downloads: int = 6) -> ImportResult:
    from ..sources.pypi import canonical

    folder = Path(folder)
    report = audit(folder, onto, maps, mirror_pairs=mirror_pairs, max_downloads=max_downloads)
    recipe_dir = Path(out) if out else Path.cwd() / "recipes" / slug(folder.name)
    step_id = step_id or f"overlay-{slug(folder.name)}"
    if not STEP_ID.match(step_id):
        raise UsageError(f"--id {step_id!r}: a step id is lower-case letters, digits, '.', '_' and '-'")
    kept = report.of_kind(CHANGE)
    bad = [f for f in report.files if f.kind not in (CHANGE, NOOP)]
    left = [f"{f.file} ({f.kind})" for f in report.files if f.kind != CHANGE]
    result = ImportResult(report, recipe_dir, step_id, False, "", [f.target for f in kept], left)
    if bad and not partial:
        result.detail = (f"{len(bad)} file(s) are not real changes of {report.package} {report.version} "
                         f"({', '.join(f'{f.file}: {f.kind}' for f in bad)}); nothing written: fix them, or pass "
                         "--partial to import the real changes only")
        return result
    if not kept:
        result.detail = "no file is a real change; nothing to import"
        return result
    recipe_file = recipe_dir / "recipe.toml"
    if recipe_file.exists():
        from ..recipe import load_file

        recipe = load_file(recipe_file)
        pypi = [s for s in recipe.sources if s.kind == "pypi" and canonical(s.package) == canonical(report.package)]
        if not pypi:
            raise UsageError(f"{recipe_file}: no pypi source for {report.package}; add it, or import into a new "
                             "recipe folder with --out")
        source = pypi[0]
        if report.version not in [p.version for p in source.pins()]:
            raise UsageError(f"{recipe_file}: source {source.name} does not pin {report.package} {report.version} "
                             f"(pins: {', '.join(p.version for p in source.pins())}); add that pin first")
        if step_id in [s.id for s in recipe.steps]:
            raise UsageError(f"{recipe_file}: a step {step_id!r} exists already; choose another --id")
        _refuse_overlaps(recipe, source.name, [f.target for f in kept])
        head = recipe_file.read_text(encoding="utf-8")
        source_name, package, ids = source.name, source.package, [s.id for s in recipe.steps]
    else:
        name = slug(recipe_dir.name)
        if name != recipe_dir.name:
            raise UsageError(f"--out {recipe_dir}: a new recipe's folder name must be its name, lower-case "
                             f"letters, digits, '.', '_' and '-' (e.g. {name})")
        source_name, package, ids = slug(report.package), report.package, []
        head = (f"# Made by `npuport overlay import {folder.name} --onto {report.package}=={report.version}`.\n"
                f"name = {_toml(name)}\ndescription = {_toml(f'hand-made port {folder.name}, imported as an overlay')}\n\n"
                f"[[source]]\nname = {_toml(source_name)}\nkind = \"pypi\"\npackage = {_toml(package)}\n"
                f"version = {_toml(report.version)}\nsha256 = {_toml(report.sha256)}\n")
    rel_folder = f"overlays/{step_id}"
    why = why or (f"hand-made port {folder.name}: {len(kept)} whole file(s) audited onto {report.package} "
                  f"{report.version}; shrink it with npuport overlay to-patch")
    step = (f"\n[[step]]\nid = {_toml(step_id)}\nkind = \"overlay\"\nsource = {_toml(source_name)}\n"
            f"folder = {_toml(rel_folder)}\nwhy = {_toml(' '.join(why.split()))}\n\n[step.map]\n"
            + "".join(f"{_toml(f.target)} = {_toml(f.target)}\n" for f in kept))
    _write(recipe_dir, rel_folder, kept, head.rstrip("\n") + "\n" + step, step_id, ids, source_name, package,
           report.version)
    result.written = True
    result.detail = f"step {step_id} ({len(kept)} file(s)) written to {recipe_file}"
    return result


def _refuse_overlaps(recipe, source: str, targets: list[str]) -> None:
    """An overlay replaces whole files: no earlier step of the same source may change them."""
    from ..patches.steps import files_read

    for step in recipe.steps:
        if step.source == source:
            both = sorted(set(files_read(step, recipe)) & set(targets))
            if both:
                raise UsageError(f"step {step.id} of {recipe.name} also changes {', '.join(both)}; an overlay "
                                 "replaces whole files: drop that step or leave the file out of the overlay")


def _write(recipe_dir: Path, rel_folder: str, kept, text: str, step_id: str, ids: list[str], source: str,
           package: str, version: str) -> None:
    """Stage the overlay files, validate the new recipe, then move files, hashes.json and recipe.toml in."""
    from ..patches.table import Expected, HashTable

    recipe_dir.mkdir(parents=True, exist_ok=True)
    final = recipe_dir / rel_folder
    if final.exists():
        raise UsageError(f"{final} exists already; remove it or choose another --id")
    stage = Path(tempfile.mkdtemp(prefix=".overlay-", dir=recipe_dir))
    try:
        for f in kept:
            dest = stage / "files" / f.target
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.text.encode("utf-8"))
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / "files", final)
        try:
            from dataclasses import replace

            from ..recipe import tomllib
            from ..recipe.schema import parse_recipe

            recipe = parse_recipe(tomllib.loads(text), recipe_dir / "recipe.toml")  # checks the step and its files
            table = HashTable.load(replace(recipe, folder=recipe_dir))
            table.put(step_id, f"{package}=={version}",
                      Expected({f.target: sha256_bytes(f.base.encode("utf-8")) for f in kept},
                               {f.target: sha256_bytes(f.text.encode("utf-8")) for f in kept}))
            table.save([*ids, step_id])
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        atomic.write_text(recipe_dir / "recipe.toml", text)  # last: the recipe names the step only once it is whole
    finally:
        shutil.rmtree(stage, ignore_errors=True)
