"""`npuport scan` / `npuport port`: the rewriters on any codebase.

scan() reports sites; port() applies the fixable rules (a unified diff, or written in place file by file,
each through a temporary file and os.replace). Both are plain functions returning result objects; the
CLI only wires them. A cheap text pre-filter skips rules (and parsing) for files that cannot match, and
a process pool spreads many files over the cores.
"""

from __future__ import annotations

import json
import os
import stat
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from npuport import atomic
from npuport.errors import NpuportError, UsageError
from npuport.patches.unidiff import unified_diff

SKIP_DIRS = frozenset({"build", "__pycache__", "node_modules", "site-packages"})
#: Below this many files a pool costs more than it saves.
POOL_MIN_FILES = 16


@dataclass(frozen=True)
class Site:
    rule: str
    file: str  # relative to the scanned root, '/'-separated
    line: int
    message: str
    fixable: bool


@dataclass
class ScanReport:
    root: str
    rules: list[str]
    files_scanned: int = 0
    files_parsed: int = 0
    sites: list[Site] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def found(self) -> bool:
        """True when any site was found (the CLI exits 1)."""
        return bool(self.sites)

    def summary(self) -> dict:
        return {"files_scanned": self.files_scanned, "files_parsed": self.files_parsed,
                "sites": len(self.sites), "auto_fixable": sum(s.fixable for s in self.sites),
                "errors": len(self.errors), "seconds": round(self.seconds, 3)}

    def by_rule(self) -> dict[str, dict[str, list[Site]]]:
        """Sites grouped by rule, then by file, both in a stable order."""
        grouped: dict[str, dict[str, list[Site]]] = {}
        for site in sorted(self.sites, key=lambda s: (s.rule, s.file, s.line)):
            grouped.setdefault(site.rule, {}).setdefault(site.file, []).append(site)
        return grouped

    def to_dict(self) -> dict:
        from npuport.rewriters import RULES

        rules = {}
        for rule_id, files in self.by_rule().items():
            rules[rule_id] = {
                "description": RULES[rule_id].DESCRIPTION,
                "fixable": RULES[rule_id].FIXABLE,
                "files": {name: [{"line": s.line, "message": s.message, "fixable": s.fixable} for s in sites]
                          for name, sites in files.items()},
            }
        return {"root": self.root, "rules_run": self.rules, "summary": self.summary(), "by_rule": rules,
                "errors": self.errors}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def format_text(self) -> str:
        from npuport.rewriters import RULES

        out = []
        for rule_id, files in self.by_rule().items():
            count = sum(len(v) for v in files.values())
            kind = "fixable" if RULES[rule_id].FIXABLE else "report only"
            out.append(f"{rule_id} ({kind}, {count} site{'s' if count != 1 else ''}): {RULES[rule_id].DESCRIPTION}")
            for name, sites in files.items():
                for s in sites:
                    mark = "" if s.fixable else " [manual]"
                    out.append(f"  {name}:{s.line}: {s.message}{mark}")
        for error in self.errors:
            out.append(f"skipped {error}")
        s = self.summary()
        out.append(f"{s['files_scanned']} files scanned ({s['files_parsed']} parsed), {s['sites']} sites, "
                   f"{s['auto_fixable']} auto-fixable (npuport port), {s['errors']} skipped, {s['seconds']:.2f}s")
        return "\n".join(out)


@dataclass
class PortReport:
    root: str
    rules: list[str]
    write: bool
    files_scanned: int = 0
    files_changed: list[str] = field(default_factory=list)
    changes: list[Site] = field(default_factory=list)
    diff: str = ""
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        fixed = [c for c in self.changes if c.fixable]
        return {"files_scanned": self.files_scanned, "files_changed": len(self.files_changed),
                "fixes": len(fixed), "manual": len(self.changes) - len(fixed), "written": self.write,
                "errors": len(self.errors), "seconds": round(self.seconds, 3)}

    def to_dict(self) -> dict:
        return {"root": self.root, "rules_run": self.rules, "summary": self.summary(),
                "files_changed": self.files_changed, "changes": [asdict(c) for c in self.changes],
                "errors": self.errors, "diff": None if self.write else self.diff}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def format_text(self) -> str:
        out = []
        if not self.write and self.diff:
            out.append(self.diff.rstrip("\n"))
        for c in self.changes:
            if not c.fixable:
                out.append(f"manual: {c.file}:{c.line}: {c.rule} {c.message}")
        for error in self.errors:
            out.append(f"skipped {error}")
        s = self.summary()
        verb = "changed" if self.write else "would change"
        out.append(f"{s['files_changed']} files {verb} ({s['fixes']} fixes), {s['manual']} sites left for a "
                   f"hand, {s['files_scanned']} files scanned, {s['seconds']:.2f}s")
        return "\n".join(out)


def python_files(path: Path, configs: bool = False) -> list[Path]:
    """The .py files under path (or path itself), skipping hidden dirs, build/ and caches, sorted; with
    configs=True also the YAML / JSON config files (their device and backend settings)."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory; give a Python file or a source tree")
    if path.is_file():
        return [path]
    found = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS
                         and not d.endswith(".egg-info"))
        found.extend(Path(folder, f) for f in sorted(files) if f.endswith(".py") or (configs and _is_config(f)))
    return found


def _is_config(name: str) -> bool:
    from npuport.rewriters._config_files import is_config  # imports libcst: not at the CLI's import time

    return is_config(name)


def _skipped_config(name: str) -> bool:
    """A YAML / JSON file too big to be settings (annotations): not read."""
    from npuport.rewriters._config_files import MAX_BYTES

    return _is_config(name) and os.path.getsize(name) > MAX_BYTES


def _relative(file: Path, root: Path) -> str:
    if root.is_file():
        return file.name
    return file.relative_to(root).as_posix()


def _read(file: Path) -> str:
    with open(file, encoding="utf-8", newline="") as handle:
        return handle.read()


def _scan_one(job: tuple[str, list[str]]) -> tuple[list[tuple], Optional[str], bool]:
    """Worker: (sites as tuples, error, parsed?) for one file."""
    from npuport.rewriters import RULES, check, wanted

    name, ids = job
    try:
        if _skipped_config(name):
            return [], None, False
        source = _read(Path(name))
    except (OSError, UnicodeDecodeError) as error:
        return [], f"{name}: cannot read ({error})", False
    if _is_config(name):
        from npuport.rewriters import _config_files

        changes = _config_files.check(source, ids)
        return [(c.rule, c.line, c.message, RULES[c.rule].FIXABLE and c.fixed) for c in changes], None, False
    if not wanted(source, ids):
        return [], None, False
    try:
        changes = check(source, ids, name)
    except NpuportError as error:
        return [], str(error), True
    return [(c.rule, c.line, c.message, RULES[c.rule].FIXABLE and c.fixed) for c in changes], None, True


def _port_one(job: tuple[str, list[str]]) -> tuple[Optional[str], list[tuple], Optional[str]]:
    """Worker: (new source or None when unchanged, changes as tuples, error) for one file."""
    from npuport.rewriters import _config_files, apply

    name, ids = job
    try:
        if _skipped_config(name):
            return None, [], None
        source = _read(Path(name))
        new, changes = (_config_files.apply if _is_config(name) else apply)(source, ids, name)
    except (OSError, UnicodeDecodeError) as error:
        return None, [], f"{name}: cannot read ({error})"
    except NpuportError as error:
        return None, [], str(error)
    rows = [(c.rule, c.line, c.message, c.fixed) for c in changes]
    return (new if new != source else None), rows, None


def _map(function, jobs: list, workers: Optional[int]) -> list:
    workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    if workers == 1 or len(jobs) < POOL_MIN_FILES:
        return [function(job) for job in jobs]
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, jobs, chunksize=chunk))


def scan(path: Path, select: Optional[list[str]] = None, workers: Optional[int] = None) -> ScanReport:
    """Run the selected rules (default: all but the direct-NPU flavour) in check mode over path."""
    from npuport.rewriters import resolve

    started = time.perf_counter()
    path = Path(path)
    ids = resolve(select)
    files = python_files(path, configs=True)
    report = ScanReport(root=str(path), rules=ids, files_scanned=len(files))
    results = _map(_scan_one, [(str(f), ids) for f in files], workers)
    for file, (rows, error, parsed) in zip(files, results):
        report.files_parsed += parsed
        if error:
            report.errors.append(error)
        rel = _relative(file, path)
        report.sites.extend(Site(rule, rel, line, message, fixable) for rule, line, message, fixable in rows)
    report.seconds = time.perf_counter() - started
    return report


def port(path: Path, select: Optional[list[str]] = None, write: bool = False,
         workers: Optional[int] = None) -> PortReport:
    """Apply the selected fixable rules. write=False: a unified diff, nothing written."""
    from npuport.rewriters import resolve

    started = time.perf_counter()
    path = Path(path)
    ids = resolve(select, fixable_only=True)
    if not ids:
        raise UsageError(f"none of the selected rules ({', '.join(select or [])}) can fix code; "
                         "use `npuport scan` for report-only rules")
    files = python_files(path, configs=True)
    report = PortReport(root=str(path), rules=ids, write=write, files_scanned=len(files))
    results = _map(_port_one, [(str(f), ids) for f in files], workers)
    staged: list[tuple[Path, str]] = []
    diffs = []
    for file, (new, rows, error) in zip(files, results):
        if error:
            report.errors.append(error)
            continue
        rel = _relative(file, path)
        report.changes.extend(Site(rule, rel, line, message, fixed) for rule, line, message, fixed in rows)
        if new is None:
            continue
        report.files_changed.append(rel)
        staged.append((file, new))
        if not write:
            old = _read(file)
            diffs.append(unified_diff(old, new, rel))
    if write:
        for file, new in staged:
            write_atomic(file, new)
    report.diff = "".join(diffs)
    report.seconds = time.perf_counter() - started
    return report


def write_atomic(file: Path, text: str) -> None:
    """Write `text` over `file` whole or not at all, keeping its mode."""
    atomic.write_text(file, text, mode=stat.S_IMODE(file.stat().st_mode))
