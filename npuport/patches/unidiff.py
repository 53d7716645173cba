"""Unified diffs, written (git-style, a/ b/ prefixes) and parsed and applied with zero fuzz: every context and
removed line must match where the hunk says."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from ..errors import CheckFailed

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: list[str] = field(default_factory=list)  # each begins with ' ', '-' or '+'; no line ends


@dataclass
class FilePatch:
    old: str | None  # None: the patch creates the file
    new: str | None  # None: the patch deletes the file
    hunks: list[Hunk] = field(default_factory=list)
    no_newline_at_end: bool = False  # the new file ends without a newline

    @property
    def path(self) -> str:
        return self.new or self.old or ""


def unified_diff(old: str | None, new: str | None, path: str) -> str:
    """A unified diff of one file from `old` to `new` (None: the file is absent, named /dev/null), with a/ b/
    prefixes: it applies with `patch -p1`, `git apply` and parse/apply here. "" when nothing changed."""
    a, b = (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(a, b, f"a/{path}" if old is not None else "/dev/null",
                                     f"b/{path}" if new is not None else "/dev/null"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _strip(name: str) -> str | None:
    name = name.split("\t", 1)[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse(text: str, where: str = "<diff>") -> list[FilePatch]:
    """Parse `diff -u` / `git diff` output into file patches."""
    patches: list[FilePatch] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            patches.append(FilePatch(_strip(line[4:]), _strip(lines[i + 1][4:])))
            i += 2
            continue
        m = HUNK.match(line)
        if m:
            if not patches:
                raise CheckFailed(f"{where}:{i + 1}: hunk before any '---'/'+++' file header")
            hunk = Hunk(int(m[1]), int(m[2] or 1), int(m[3]), int(m[4] or 1))
            i += 1
            old_seen = new_seen = 0
            while i < len(lines) and (old_seen < hunk.old_len or new_seen < hunk.new_len):
                body = lines[i]
                tag = body[:1] or " "
                if tag == "\\":
                    i += 1
                    continue
                if tag not in " -+":
                    raise CheckFailed(f"{where}:{i + 1}: hunk shorter than its header says")
                hunk.lines.append(tag + body[1:])
                old_seen += tag in " -"
                new_seen += tag in " +"
                i += 1
            if i < len(lines) and lines[i].startswith("\\ No newline"):
                if hunk.lines and hunk.lines[-1][0] in " +":
                    patches[-1].no_newline_at_end = True
                i += 1
            patches[-1].hunks.append(hunk)
            continue
        i += 1
    if not patches:
        raise CheckFailed(f"{where}: holds no file patch (expected '--- a/PATH' / '+++ b/PATH' headers)")
    return patches


def apply(original: str | None, patch: FilePatch, where: str) -> str | None:
    """Apply one file patch to a file's text (None: absent); hunks must match exactly at their line numbers."""
    if patch.old is None:
        if original is not None:
            raise CheckFailed(f"{where}: the diff creates {patch.new}, which exists already")
        old_lines: list[str] = []
    else:
        if original is None:
            raise CheckFailed(f"{where}: {patch.old} does not exist")
        old_lines = original.splitlines()
    out: list[str] = []
    pos = 0  # index into old_lines
    for n, hunk in enumerate(patch.hunks, 1):
        start = hunk.old_start - 1 if hunk.old_len else hunk.old_start
        if start < pos:
            raise CheckFailed(f"{where}: hunk {n} of {patch.path} overlaps the one before")
        out.extend(old_lines[pos:start])
        pos = start
        for line in hunk.lines:
            tag, body = line[0], line[1:]
            if tag == "+":
                out.append(body)
                continue
            if pos >= len(old_lines) or old_lines[pos] != body:
                found = old_lines[pos] if pos < len(old_lines) else "<end of file>"
                raise CheckFailed(
                    f"{where}: hunk {n} of {patch.path} does not apply at line {pos + 1} (zero fuzz): "
                    f"expected {body!r}, found {found!r}"
                )
            if tag == " ":
                out.append(body)
            pos += 1
    out.extend(old_lines[pos:])
    if patch.new is None:
        return None
    ends_with_newline = not patch.no_newline_at_end and (original is None or original.endswith("\n") or pos < len(old_lines))
    return "\n".join(out) + ("\n" if out and ends_with_newline else "")
