"""`npuport overlay audit`: what each file of a hand-made overlay really is, against one upstream version.

Kinds, per file:
  noop           identical to the upstream file it replaces: drop it
  misplaced      its content is another upstream file than the one it is said to replace
  other-version  cut from another published version: closest version, and the definitions it drops
  change         a real change of this version's file (the diff size)
  unmatched      no upstream file of that name and content (new files belong in a `files` step), or not text
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from .features import Feature, removed
from .similarity import diff_size, similarity
from .versions import Upstream, closest, published

NOOP, MISPLACED, OTHER_VERSION, CHANGE, UNMATCHED = "noop", "misplaced", "other-version", "change", "unmatched"
PROBLEMS = (NOOP, MISPLACED, OTHER_VERSION, UNMATCHED)
MATCH = 0.5  # below this, a file is not a copy of an upstream file
MISPLACED_MARGIN = 0.1  # another upstream file must be this much more alike than the one named
SKIP_DIRS = {".git", "__pycache__", ".hg", ".svn"}


@dataclass
class FileReport:
    file: str  # path inside the overlay folder
    kind: str
    target: str  # the upstream path it replaces (or is said to)
    detail: str
    similarity: float = 0.0
    really: str = ""  # misplaced: the upstream path it is a copy of
    closest: str = ""  # other-version: the closest published version
    removes: list[Feature] = field(default_factory=list)
    added: int = 0
    deleted: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    text: str = field(default="", repr=False)
    base: str = field(default="", repr=False)  # the upstream file's text at the audited version

    def to_json(self) -> dict:
        data = {k: v for k, v in vars(self).items() if k not in ("text", "base")}
        data["removes"] = [{"name": f.name, "kind": f.kind} for f in self.removes]
        data["similarity"] = round(self.similarity, 4)
        data["scores"] = {k: round(v, 4) for k, v in self.scores.items()}
        return data


@dataclass
class AuditReport:
    folder: Path
    package: str
    version: str
    sha256: str
    files: list[FileReport]
    searched: list[str]  # versions downloaded for the search

    @property
    def ok(self) -> bool:
        return not any(f.kind in PROBLEMS for f in self.files)

    def of_kind(self, *kinds: str) -> list[FileReport]:
        return [f for f in self.files if f.kind in kinds]

    def to_json(self) -> dict:
        return {"folder": str(self.folder), "onto": f"{self.package}=={self.version}", "ok": self.ok,
                "searched": self.searched, "files": [f.to_json() for f in self.files]}

    def format_text(self) -> str:
        rows = [f"{f.file}: {f.kind}: {f.detail}" for f in self.files]
        counts = ", ".join(f"{len(self.of_kind(k))} {k}" for k in (CHANGE, *PROBLEMS) if self.of_kind(k))
        return "\n".join(rows + [f"{self.folder} onto {self.package}=={self.version}: {counts or 'no files'}"])


def parse_onto(onto: str) -> tuple[str, str]:
    """'mmcv-full==1.3.8' -> ('mmcv-full', '1.3.8')"""
    from ..apex import pypi_apex_problem

    name, sep, version = onto.partition("==")
    if not sep or not name.strip() or not version.strip():
        raise UsageError(f"--onto {onto!r}: expected NAME==VERSION, e.g. --onto mmcv-full==1.3.8")
    problem = pypi_apex_problem(name)
    if problem:
        raise UsageError(f"--onto {onto} {problem}; an apex fix is a step of the apex source, not an overlay")
    return name.strip(), version.strip()


def parse_maps(pairs, folder: Path) -> dict[str, str]:
    """`--map FILE=UPSTREAM/PATH` pairs: overlay file (relative to the folder) -> upstream path."""
    maps = {}
    for pair in pairs:
        file, sep, target = pair.partition("=")
        file, target = file.strip().strip("/"), target.strip().strip("/")
        if not sep or not file or not target:
            raise UsageError(f"--map {pair!r}: expected FILE=UPSTREAM/PATH, e.g. --map builder.py=mmcv/runner/builder.py")
        if not (folder / file).is_file():
            raise UsageError(f"--map {pair}: {file} is not a file in {folder}")
        maps[file] = target
    return maps


def overlay_files(folder: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                out.append((Path(dirpath) / name).relative_to(folder).as_posix())
    return out


def upstream_files(root: Path) -> dict[str, list[str]]:
    """basename -> every path with that name in the tree."""
    names: dict[str, list[str]] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            names.setdefault(p.name, []).append(p.relative_to(root).as_posix())
    return names


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def audit(folder: str | Path, onto: str, maps=(), *, mirror_pairs=(), max_downloads: int = 6) -> AuditReport:
    """Audit every file of `folder` against `onto` (NAME==VERSION); `maps`: FILE=UPSTREAM/PATH pairs."""
    from ..sources import Mirrors

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; give the folder of the hand-made overlay")
    package, version = parse_onto(onto)
    claimed = parse_maps(maps, folder)
    mirrors = Mirrors.load(list(mirror_pairs))
    upstream = Upstream(package, published(package, mirrors), mirrors, max(0, max_downloads))
    pub = upstream.find(version)
    root = upstream.tree(version, count=False)
    names = upstream_files(root)
    every = {p for paths in names.values() for p in paths}
    reports = [_audit_file(folder, rel, claimed.get(rel, ""), root, names, every, upstream, version)
               for rel in overlay_files(folder)]
    return AuditReport(folder, package, version, pub.sha256, reports, list(upstream.fetched))


def _said(rel: str, every: set[str]) -> str:
    """Where a file's own path says it goes: the same path upstream, or the one path ending with it."""
    if rel in every:
        return rel
    ends = [p for p in every if p.endswith("/" + rel)]
    return ends[0] if len(ends) == 1 else ""


def _audit_file(folder: Path, rel: str, said: str, root: Path, names: dict[str, list[str]], every: set[str],
                upstream: Upstream, version: str) -> FileReport:
    text = _read(folder / rel)
    if text is None:
        return FileReport(rel, UNMATCHED, said, "not UTF-8 text; an overlay holds text files")
    said = said or _said(rel, every)
    candidates = list(dict.fromkeys([*([said] if said in every else []), *names.get(Path(said or rel).name, [])]))
    texts = {p: _read(root / p) for p in candidates}
    scores = {p: similarity(text, t) for p, t in texts.items() if t is not None}
    best = max(scores, key=lambda p: (scores[p], p == said), default="")
    label = f"{upstream.package} {version}"
    if said and said in scores and texts[said] == text:
        return FileReport(rel, NOOP, said, f"identical to {said} in {label}: a no-op, drop it", 1.0, base=text, text=text)
    if said and best and best != said and scores[best] >= MATCH and (
            said not in scores or scores[best] >= scores[said] + MISPLACED_MARGIN):
        same = " (identical)" if scores[best] == 1.0 else f" ({scores[best]:.0%} alike)"
        was = f"{scores[said]:.0%} alike" if said in scores else "not in " + label
        return FileReport(rel, MISPLACED, said, f"said to replace {said} ({was}), but it is {best}{same}",
                          scores.get(said, 0.0), really=best, text=text)
    target = said if said in scores else (best if best and scores[best] >= MATCH else "")
    if not target:
        where = f"{said} is not in {label}" if said else f"no file of that name and content in {label}"
        return FileReport(rel, UNMATCHED, said, f"{where}; new files belong in a files step", text=text)
    if texts[target] == text:
        return FileReport(rel, NOOP, target, f"identical to {target} in {label}: a no-op, drop it", 1.0,
                          base=text, text=text)
    base = texts[target] or ""
    drops = removed(base, text)
    plus, minus = diff_size(base, text)
    report = FileReport(rel, CHANGE, target, "", scores[target], removes=drops, added=plus, deleted=minus,
                        text=text, base=base)
    found, report.scores = closest(upstream, version, target, text, similarity)
    if found != version:
        report.kind, report.closest = OTHER_VERSION, found
        lost = ", ".join(str(f) for f in drops) or "no definitions, but upstream changes in the bodies"
        report.detail = (f"cut from {upstream.package} {found} ({report.scores[found]:.0%} alike; "
                         f"{report.scores[version]:.0%} for {version}); onto {version} it drops: {lost}")
        return report
    lost = f"; drops {', '.join(str(f) for f in drops)}" if drops else ""
    report.detail = f"a real change of {target}: +{plus} -{minus} lines{lost}"
    return report
