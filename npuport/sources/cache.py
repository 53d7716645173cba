"""The content-addressed source cache, safe to share between npuport processes.

Layout under the root (env NPUPORT_CACHE, else the user cache dir "npuport"):
  blobs/sha256/<aa>/<sha256>   downloaded archives, named by their sha256
  trees/<key>/                 extracted read-only trees (key: archive sha256 or git commit)
  trees/<key>.json             the tree's manifest: {"key", "digest": tree_digest, "origin"}
  git/<sha256 of url>.git      bare repositories
  locks/<key>.lock             one file lock (filelock) per entry
  tmp/                         staging; everything is moved into place with os.replace
An entry whose content no longer matches its name or manifest is removed, with a warning, and fetched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from npuport import atomic
from npuport.sources.digest import file_sha256, tree_digest

log = logging.getLogger("npuport.sources")


@dataclass(frozen=True)
class Tree:
    """A verified tree in the cache."""

    root: Path
    digest: str
    origin: str


class Cache:
    """The cache at `root`; every method that writes expects the caller to hold `lock(key)`."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    @classmethod
    def default(cls) -> Cache:
        """The cache in env NPUPORT_CACHE, else in the user cache dir ("npuport")."""
        env = os.environ.get("NPUPORT_CACHE")
        if env:
            return cls(env)
        try:
            from platformdirs import user_cache_dir

            return cls(user_cache_dir("npuport", appauthor=False))
        except ImportError:
            return cls(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "npuport")

    # paths
    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / sha256[:2] / sha256

    def tree_path(self, key: str) -> Path:
        return self.root / "trees" / key

    def git_path(self, url: str) -> Path:
        return self.root / "git" / (hashlib.sha256(url.encode()).hexdigest() + ".git")

    def tmp_dir(self, prefix: str) -> Path:
        """A new empty folder under tmp/, on the cache's filesystem so os.replace works."""
        base = self.root / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix + "-", dir=base))

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the exclusive lock of entry `key` (blocks while another process holds it)."""
        path = self.root / "locks" / (key + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("waiting for another npuport process that holds %s", path)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    # blobs
    def blob(self, sha256: str) -> Path | None:
        """The cached archive with this sha256, or None; a corrupted one is removed (with a warning)."""
        path = self.blob_path(sha256)
        if not path.is_file():
            return None
        got = file_sha256(path)
        if got == sha256:
            return path
        log.warning("cache entry %s is corrupted (sha256 %s); removing it and fetching again", path, got)
        path.unlink()
        return None

    def put_blob(self, staged: Path, sha256: str) -> Path:
        """Move a verified archive into place."""
        path = self.blob_path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o444)
        os.replace(staged, path)
        return path

    # trees
    def manifest_path(self, key: str) -> Path:
        return self.root / "trees" / (key + ".json")

    def tree(self, key: str) -> Tree | None:
        """The cached tree `key` if its content still matches its manifest; else removes it and returns None."""
        path, manifest = self.tree_path(key), self.manifest_path(key)
        if not path.exists() and not manifest.exists():
            return None
        try:
            meta = json.loads(manifest.read_text(encoding="utf-8"))
            digest = tree_digest(path) if path.is_dir() else ""
            if digest and digest == meta.get("digest"):
                return Tree(path, digest, str(meta.get("origin", "")))
        except (OSError, ValueError):
            pass
        log.warning("cache entry %s is incomplete or was modified; removing it and fetching again", path)
        self.remove(path)
        return None

    def recorded_origin(self, key: str) -> str:
        """The origin stored in a tree's manifest, even a stale one; "" if none."""
        try:
            return str(json.loads(self.manifest_path(key).read_text(encoding="utf-8")).get("origin", ""))
        except (OSError, ValueError):
            return ""

    def put_tree(self, staged: Path, key: str, origin: str) -> Tree:
        """Make a staged tree read-only, move it into place and write its manifest last."""
        digest = tree_digest(staged)
        set_writable(staged, False)
        path = self.tree_path(key)
        if path.exists():
            self.remove(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o755)  # moving a folder to another parent needs write access to it (its '..')
        os.replace(staged, path)
        os.chmod(path, 0o555)
        manifest = self.manifest_path(key)
        atomic.write_json(manifest, {"key": key, "digest": digest, "origin": origin}, indent=1, sort_keys=False)
        return Tree(path, digest, origin)

    # cleaning
    def remove(self, path: Path) -> None:
        """Remove a file or a (read-only) tree of this cache (and the tree's manifest): renamed aside, then deleted."""
        if path.parent == self.root / "trees":
            with contextlib.suppress(FileNotFoundError):
                self.manifest_path(path.name).unlink()
        if not os.path.lexists(path):
            return
        if path.is_dir() and not path.is_symlink():
            trash = self.tmp_dir("trash") / "t"
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | stat.S_IWUSR)
            os.replace(path, trash)
            set_writable(trash.parent, True)
            shutil.rmtree(trash.parent, ignore_errors=True)
        else:
            path.unlink()

    def clear(self) -> None:
        """Delete the whole cache."""
        if self.root.exists():
            set_writable(self.root, True)
            shutil.rmtree(self.root)


def set_writable(root: Path, writable: bool) -> None:
    """Add (or remove) the owner's write bit on every file and folder under root, never following links."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        paths.extend(os.path.join(dirpath, n) for n in [*dirnames, *filenames])
        if writable:
            os.chmod(dirpath, os.stat(dirpath).st_mode | stat.S_IWUSR)
    for p in [*paths, str(root)] if not writable else paths:
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = st.st_mode | stat.S_IWUSR if writable else st.st_mode & ~0o222
        os.chmod(p, stat.S_IMODE(mode))
