"""Safe extraction of tar and zip archives: nothing may land outside the target folder.

We check every member ourselves (tarfile's filter='data' needs Python 3.11.4+): no absolute paths, no
`..`, no device files or FIFOs, no symlink or hardlink whose target leaves the tree. Files are written
first and symlinks last, so no write ever goes through a link; a refused archive leaves nothing behind.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from npuport.errors import SourceError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class Refused(SourceError):
    """An archive member that would escape the target folder, or that we do not extract."""


@dataclass
class Member:
    raw: str  # the name as stored in the archive
    name: str  # cleaned relative posix path (after stripping the top folder)
    kind: str  # "file" | "dir" | "symlink" | "hardlink"
    mode: int = 0o644
    target: str = ""  # symlink: link text; hardlink: cleaned member name it points at
    mtime: float | None = None
    open: Callable[[], IO[bytes]] | None = None


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Whether a file name ends with a suffix we know how to extract."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def extract_archive(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, strip: bool = True, label: str = ""
) -> None:
    """Extract `archive` (tar, compressed tar or zip) into the new folder `dest`.

    With `strip`, a single top-level folder holding everything (an sdist's `name-1.0/`) is removed so
    that `dest` is the package root. Raises SourceError naming the archive and the member it refused;
    `dest` is removed on any failure.
    """
    label = label or str(archive)
    dest = Path(dest)
    dest.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _extract(_zip_members(zf, label), dest, strip, label)
        else:
            with tarfile.open(archive, "r:*") as tf:
                _extract(_tar_members(tf, label), dest, strip, label)
    except BaseException as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(exc, (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError)):
            raise SourceError(f"{label}: cannot extract ({exc}); fetch it again or check the file") from exc
        raise


def _refuse(label: str, raw: str, why: str) -> Refused:
    return Refused(f"{label}: refused member {raw!r} ({why}); the archive is unsafe, check where it came from")


def _clean(raw: str, label: str) -> str:
    """The member name as a relative posix path, or Refused if it is absolute or climbs with `..`."""
    if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw):
        raise _refuse(label, raw, "absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(label, raw, "'..' in the path")
    return "/".join(parts)


def _tar_members(tf: tarfile.TarFile, label: str) -> list[Member]:
    out = []
    for info in tf.getmembers():
        name = _clean(info.name, label)
        if info.isdir():
            kind, target = "dir", ""
        elif info.isreg():
            kind, target = "file", ""
        elif info.issym():
            kind, target = "symlink", info.linkname
        elif info.islnk():
            kind, target = "hardlink", _clean(info.linkname, label)
        else:
            raise _refuse(label, info.name, "device file, FIFO or other special member")
        opener = (lambda i=info: tf.extractfile(i)) if kind == "file" else None  # type: ignore[misc]
        out.append(Member(info.name, name, kind, info.mode, target, float(info.mtime), opener))
    return out


def _zip_members(zf: zipfile.ZipFile, label: str) -> list[Member]:
    out = []
    for info in zf.infolist():
        name = _clean(info.filename, label)
        mode = info.external_attr >> 16
        mtime = time.mktime(info.date_time + (0, 0, -1)) if info.date_time[0] >= 1980 else None
        if info.is_dir():
            kind, target = "dir", ""
        elif stat.S_ISLNK(mode):
            kind, target = "symlink", zf.read(info).decode("utf-8", "surrogateescape")
        elif mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise _refuse(label, info.filename, "device file, FIFO or other special member")
        else:
            kind, target = "file", ""
        opener = (lambda i=info: zf.open(i)) if kind == "file" else None  # type: ignore[misc]
        out.append(Member(info.filename, name, kind, mode or 0o644, target, mtime, opener))
    return out


def _strip_top(members: list[Member], label: str) -> None:
    """Remove a single top-level folder shared by every member, in place (names and hardlink targets)."""
    named = [m for m in members if m.name]
    tops = {m.name.split("/", 1)[0] for m in named}
    if len(tops) != 1:
        return
    top = tops.pop()
    if any(m.name == top and m.kind != "dir" for m in named):
        return
    prefix = top + "/"
    for m in members:
        m.name = m.name[len(prefix):] if m.name.startswith(prefix) else ""
        if m.kind == "hardlink":
            if not m.target.startswith(prefix):
                raise _refuse(label, m.raw, f"hardlink to {m.target!r} outside {top}/")
            m.target = m.target[len(prefix):]


def _check_link(m: Member, label: str) -> None:
    if m.kind == "symlink":
        if not m.target or m.target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", m.target):
            raise _refuse(label, m.raw, f"symlink to absolute path {m.target!r}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.target))
        if resolved == ".." or resolved.startswith("../"):
            raise _refuse(label, m.raw, f"symlink to {m.target!r} points outside the tree")
    elif m.kind == "hardlink" and not m.target:
        raise _refuse(label, m.raw, "hardlink to the tree root")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _extract(members: list[Member], dest: Path, strip: bool, label: str) -> None:
    if strip:
        _strip_top(members, label)
    for m in members:
        _check_link(m, label)
    root = os.path.realpath(dest)
    written: set[str] = set()
    for m in members:
        if not m.name or m.kind == "symlink":
            continue
        path = dest / m.name
        if m.kind == "dir":
            _makedirs(path, m, label)
            continue
        _makedirs(path.parent, m, label)
        if path.is_dir():
            raise _refuse(label, m.raw, "a file where the archive also has a folder")
        if m.kind == "hardlink":
            if m.target not in written:
                raise _refuse(label, m.raw, f"hardlink to {m.target!r}, which is not a file extracted before it")
            shutil.copyfile(dest / m.target, path)
            os.chmod(path, os.stat(dest / m.target).st_mode & 0o777)
        else:
            assert m.open is not None
            with m.open() as src, open(path, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(path, 0o755 if m.mode & 0o111 else 0o644)
            if m.mtime is not None:
                os.utime(path, (m.mtime, m.mtime))
        written.add(m.name)
    for m in members:  # symlinks last: no file is ever written through one
        if m.kind != "symlink" or not m.name:
            continue
        path = dest / m.name
        _makedirs(path.parent, m, label)
        if not _inside(os.path.realpath(path.parent), root):
            raise _refuse(label, m.raw, "its folder resolves outside the tree")
        if os.path.lexists(path):
            raise _refuse(label, m.raw, "a symlink where the archive also has a file or folder")
        os.symlink(m.target, path)
        if not _inside(os.path.realpath(path), root):
            raise _refuse(label, m.raw, f"symlink to {m.target!r} resolves outside the tree")


def _makedirs(path: Path, m: Member, label: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise _refuse(label, m.raw, "a folder where the archive also has a file") from exc
