"""How alike two texts are, and how big their difference is (line-based)."""

from __future__ import annotations

import difflib


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def similarity(a: str, b: str) -> float:
    """1.0 for equal texts, 0.0 for nothing in common (difflib's ratio over lines)."""
    if a == b:
        return 1.0
    la, lb = lines(a), lines(b)
    matcher = difflib.SequenceMatcher(None, la, lb, autojunk=False)
    if matcher.real_quick_ratio() < 0.2:
        return matcher.real_quick_ratio() / 2
    return matcher.ratio()


def diff_size(old: str, new: str) -> tuple[int, int]:
    """(lines added, lines removed) from `old` to `new`."""
    added = removed = 0
    for line in difflib.unified_diff(lines(old), lines(new), n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed

