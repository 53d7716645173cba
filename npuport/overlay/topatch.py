"""`npuport overlay to-patch`: shrink an overlay. Each real change becomes the rewriters that already make part
of it (a `rewrite` step) and a minimal zero-fuzz diff of the rest (a `diff` step applied after it)."""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .audit import CHANGE, AuditReport, audit
from ..patches.unidiff import unified_diff
from .similarity import diff_size, lines


@dataclass
class FilePatch:
    file: str
    target: str
    rules: list[str]  # rewriters that make part of the change (in this order)
    diff: str  # what is left, against the upstream file after `rules`
    added: int = 0
    deleted: int = 0

    @property
    def covered(self) -> bool:
        return bool(self.rules) and not self.diff

    def summary(self) -> str:
        if self.covered:
            return f"{self.file}: covered entirely by {', '.join(self.rules)}: use a rewrite step on {self.target}"
        part = f"; after a rewrite step with {', '.join(self.rules)}" if self.rules else ""
        return f"{self.file}: diff of {self.target} +{self.added} -{self.deleted} lines{part}"


@dataclass
class ToPatchResult:
    report: AuditReport
    patches: list[FilePatch] = field(default_factory=list)

    @property
    def diff(self) -> str:
        return "".join(p.diff for p in self.patches)

    def to_json(self) -> dict:
        return {"audit": self.report.to_json(),
                "files": [{**vars(p), "covered": p.covered} for p in self.patches], "diff": self.diff}


def _edits(old: list[str], new: list[str]) -> tuple[set[int], Counter]:
    """Lines of `old` removed or replaced (by index) and the lines added (stripped, counted)."""
    gone: set[int] = set()
    added: Counter = Counter()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag != "equal":
            gone.update(range(i1, i2))
            added.update(line.strip() for line in new[j1:j2])
    return gone, added


def covering_rules(base: str, text: str, path: str) -> list[str]:
    """Fixable rewriters whose every edit of `base` is also an edit the overlay made."""
    from .. import rewriters
    from ..errors import NpuportError

    old = lines(base)
    want_gone, want_added = _edits(old, lines(text))
    found = []
    for rule_id, rule in rewriters.RULES.items():
        if not rule.FIXABLE or not rule().wants(base):
            continue
        try:
            out, _ = rewriters.apply(base, [rule_id], path)
        except NpuportError:
            return []
        if out == base:
            continue
        gone, added = _edits(old, lines(out))
        if gone <= want_gone and not (added - want_added):
            found.append(rule_id)
    return found


def to_patch(folder: str | Path, onto: str, maps=(), *, mirror_pairs=(), max_downloads: int = 6) -> ToPatchResult:
    from .. import rewriters

    report = audit(folder, onto, maps, mirror_pairs=mirror_pairs, max_downloads=max_downloads)
    result = ToPatchResult(report)
    for f in report.of_kind(CHANGE):
        rules = covering_rules(f.base, f.text, f.target) if f.target.endswith(".py") else []
        start = rewriters.apply(f.base, rules, f.target)[0] if rules else f.base
        if rules and start == f.base:
            rules = []
        added, deleted = diff_size(start, f.text)
        diff = unified_diff(start, f.text, f.target) if start != f.text else ""
        result.patches.append(FilePatch(f.file, f.target, rules, diff, added, deleted))
    return result
