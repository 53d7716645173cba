"""Content digests: sha256 of a file, and a stable digest of a directory tree."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

CHUNK = 1 << 20
IGNORED = frozenset({".git"})


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, as 64 hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_entries(path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """(relative posix path, kind, content) for every file and symlink under `path`, sorted; skips .git.

    kind is "x" (executable file), "f" (other file) or "l" (symlink); content is the file's sha256
    or the link's target. Directories only count through what they hold.
    """
    root = Path(path)
    out: list[tuple[str, str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in IGNORED]
        here = Path(dirpath)
        for name in [*filenames, *dirnames]:
            if name in IGNORED:
                continue
            full = here / name
            st = full.lstat()
            rel = full.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out.append((rel, "l", os.readlink(full)))
            elif stat.S_ISREG(st.st_mode):
                kind = "x" if st.st_mode & 0o111 else "f"
                out.append((rel, kind, file_sha256(full)))
    out.sort(key=lambda e: e[0].encode("utf-8", "surrogateescape"))
    return out


def tree_digest(path: str | os.PathLike[str]) -> str:
    """A sha256 over a tree's file paths, exec bits, contents and symlink targets (ignores .git)."""
    if not Path(path).is_dir():
        raise NotADirectoryError(str(path))
    h = hashlib.sha256()
    for rel, kind, content in tree_entries(path):
        for part in (kind, content, rel):
            h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()
