"""`npuport pin NAME --mmcv V`: bring another upstream version into a recipe with one command.

Fetches V (its sha256 from the index's PEP 503 page, the way sources are fetched), runs every step of the recipe
on it and reports each one: ok; drift (what the step expects of the upstream is not there: a diff's context, a
file, what a codemod rewrites); fails (its output does not hold: does not compile, not idempotent); or skipped
(its `versions` leave V out). When every step holds it records V's sha256 in recipe.toml, as a
`[[source.alternative]]` of the source, and the steps' hashes in hashes.json, each file written atomically;
otherwise it names the steps and writes nothing. Then review `npuport diff NAME --mmcv V`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .. import atomic
from ..errors import UsageError
from ..patches import steps as st
from ..patches.table import Expected, HashTable, pin_key
from ..recipe import RECIPE_FILE, Pin, Recipe, tomllib
from ..recipe.resolve import options, resolve
from ..recipe.schema import parse_recipe
from .inputs import fetch_all
from .verify import verify_one

OK, DRIFT, FAILS, SKIPPED = "ok", "drift", "fails", "skipped"
_DRIFT_TEXT = ("does not apply", "does not exist")  # a diff's context or file is not in the upstream any more


@dataclass
class PinResult:
    recipe: str
    option: str
    version: str
    sha256: str
    check_only: bool
    rows: list[dict] = field(default_factory=list)  # per step: id, status (ok|drift|fails|skipped), detail
    recorded: bool = False

    @property
    def ok(self) -> bool:
        return all(r["status"] in (OK, SKIPPED) for r in self.rows)

    def to_json(self) -> dict:
        return {**vars(self), "ok": self.ok}


def outcome(result: st.StepResult) -> str:
    if result.status == st.SKIPPED:
        return SKIPPED
    if result.ok:
        return OK
    if result.status in (st.DRIFT, st.NO_CHANGE) or any(t in result.detail for t in _DRIFT_TEXT):
        return DRIFT
    return FAILS


def index_sha256(package: str, version: str, mirror_pairs) -> str:
    from ..overlay.versions import Upstream, published
    from ..sources import Mirrors

    mirrors = Mirrors.load(list(mirror_pairs))
    return Upstream(package, published(package, mirrors), mirrors, budget=0).find(version).sha256


def pin(recipe: Recipe, option: str, version: str, *, mirror_pairs=(), check_only: bool = False, log=None) -> PinResult:
    offered = options(recipe)
    if option not in offered:
        raise UsageError(f"recipe {recipe.name} has no --{option} choice; nothing to pin")
    src = offered[option]
    known = {p.version: p.sha256 for p in src.pins()}
    sha = known.get(version) or index_sha256(src.package, version, mirror_pairs)
    wide = recipe if version in known else replace(recipe, sources=tuple(
        replace(s, alternatives=(*s.alternatives, Pin(version, sha))) if s is src else s for s in recipe.sources))
    pins = resolve(wide, {option: version})
    inputs = fetch_all(wide, pins, mirror_pairs=mirror_pairs, log=log)
    key = pin_key(pins[src.name])
    table = HashTable.load(recipe)
    for step in recipe.steps:  # V's hashes come from this run, not from an earlier one
        if step.source == src.name:
            table.steps.get(step.id, {}).pop(key, None)
    results = _first_apply(wide, inputs, table)
    for r in results:
        if r.ok and r.status != st.SKIPPED and r.step.source == src.name:
            table.put(r.step.id, key, Expected(r.base, r.result))
    if all(r.ok for r in results):  # prove it as verify-patches will: exact, compiling, idempotent
        results = verify_one(wide, key, inputs, table).steps
    res = PinResult(recipe.name, option, version, sha, check_only,
                    [{"id": r.step.id, "status": outcome(r), "detail": r.detail} for r in results])
    if res.ok and not check_only:
        path = recipe.folder / RECIPE_FILE
        # the new recipe text first: when the pin cannot be added, with_pin raises and nothing is written
        text = None if version in known else with_pin(path.read_text(encoding="utf-8"), src.name, version, sha, path)
        table.save([s.id for s in recipe.steps])
        if text is not None:
            atomic.write_text(path, text)
        res.recorded = True
    return res


def _first_apply(recipe: Recipe, inputs, table: HashTable):
    from ..patches import engine
    from .inputs import scratch_copies

    with scratch_copies(inputs, "npuport-pin-") as roots:
        return engine.apply_all(recipe, roots, inputs.pins, table)


_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z_.]+)\s*\]\]?\s*(#.*)?$")


def with_pin(text: str, source: str, version: str, sha256: str, path) -> str:
    """recipe.toml text with `[[source.alternative]]` version/sha256 added after the source's own tables."""
    lines = text.splitlines(keepends=True)
    start = end = None
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m and start is not None and m[1] != "source.alternative":
            end = i
            break
        if m and m[1] == "source" and start is None:
            block = "".join(lines[i + 1:i + 8])
            if re.search(rf'(?m)^name\s*=\s*"{re.escape(source)}"', block):
                start = i
    if start is None:
        raise UsageError(f"{path}: no [[source]] named {source!r} to add --{source} {version} to")
    end = len(lines) if end is None else end
    while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    added = f'\n[[source.alternative]]\nversion = "{version}"\nsha256 = "{sha256}"\n'
    new = "".join(lines[:end]) + ("" if lines[end - 1].endswith("\n") else "\n") + added + "".join(lines[end:])
    parsed = parse_recipe(tomllib.loads(new), path)  # what is written reads back as a recipe with the new pin
    if version not in [p.version for s in parsed.sources if s.name == source for p in s.pins()]:
        raise UsageError(f"{path}: could not add {version} to source {source!r}; add it by hand")
    return new


def format_pin(res: PinResult, recipe_dirs: tuple = ()) -> str:
    """The per-step table and one closing line; `recipe_dirs` (--recipes) are repeated in the suggested command."""
    from ..table import format_rows

    rows = [(r["id"], r["status"], r["detail"]) for r in res.rows if r["status"] != SKIPPED]
    skipped = sum(r["status"] == SKIPPED for r in res.rows)
    bad = [f"{r['id']} ({r['status']})" for r in res.rows if r["status"] in (DRIFT, FAILS)]
    target = f"{res.recipe} --{res.option} {res.version}"
    if bad:
        last = f"{target}: {len(bad)} step(s) do not hold: {', '.join(bad)}; nothing recorded"
    elif res.recorded:
        where = "".join(f" --recipes {d}" for d in recipe_dirs)
        last = (f"{target}: every step holds; recorded its sha256 {res.sha256[:16]}… and hashes; review "
                f"`npuport diff {res.recipe} --{res.option} {res.version}{where}`")
    else:
        last = f"{target}: every step holds (--check-only: nothing recorded)"
    note = f"\n({skipped} step(s) for other versions skipped)" if skipped else ""
    return format_rows(("step", "status", "detail"), rows) + note + "\n" + last
