"""The cache: location, tree digests, locks, corruption detection, read-only trees that npuport can still clean."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from npuport.recipe.model import Source
from npuport.sources import Cache, copy_tree, fetch, tree_digest


@pytest.fixture(autouse=True)
def sources_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NPUPORT_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("NPUPORT_MIRROR", raising=False)


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("NPUPORT_CACHE", str(tmp_path / "mine"))
    assert Cache.default().root == tmp_path / "mine"
    monkeypatch.delenv("NPUPORT_CACHE")
    assert Cache.default().root.name == "npuport"


def make_tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "setup.py").write_text("setup()\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o755)
    os.symlink("setup.py", root / "link.py")
    return root


def test_tree_digest_is_stable_over_paths_exec_bits_contents_and_links(tmp_path):
    a, b = make_tree(tmp_path / "a"), make_tree(tmp_path / "b")
    base = tree_digest(a)
    assert base == tree_digest(b)
    (b / ".git").mkdir()
    (b / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (b / "empty").mkdir()
    os.utime(b / "setup.py", (0, 0))
    assert tree_digest(b) == base, ".git, empty folders and mtimes do not count"
    changes = [
        lambda t: (t / "setup.py").write_text("setup( )\n"),
        lambda t: os.chmod(t / "run.sh", 0o644),
        lambda t: os.rename(t / "pkg" / "__init__.py", t / "pkg" / "init.py"),
        lambda t: (t / "pkg" / "new.py").write_text(""),
        lambda t: (os.unlink(t / "link.py"), os.symlink("run.sh", t / "link.py")),
    ]
    seen = {base}
    for i, change in enumerate(changes):
        t = make_tree(tmp_path / f"c{i}")
        change(t)
        seen.add(tree_digest(t))
    assert len(seen) == len(changes) + 1
    with pytest.raises(NotADirectoryError):
        tree_digest(a / "setup.py")


def archive(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in {"demo-1.0/setup.py": b"setup()\n", "demo-1.0/demo/core.py": b"X = 1\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path = tmp_path / "demo-1.0.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


def writable(path: Path) -> None:
    for p in [path, *path.parents]:
        if p.exists():
            os.chmod(p, os.stat(p).st_mode | 0o200)
        if p.name in ("trees",):
            break


@pytest.mark.parametrize("tamper", ["edit", "add", "delete", "manifest"])
def test_modified_tree_is_detected_and_rebuilt(tmp_path, caplog, tamper):
    cache = Cache(tmp_path / "c")
    source = Source("demo", "path", path=str(archive(tmp_path)))
    first = fetch(source, cache=cache)
    core = first.root / "demo" / "core.py"
    writable(core)
    if tamper == "edit":
        core.write_text("X = 2\n")
    elif tamper == "add":
        (first.root / "demo" / "extra.py").write_text("")
    elif tamper == "delete":
        core.unlink()
    else:
        os.chmod(cache.manifest_path(first.digest), 0o644)
        cache.manifest_path(first.digest).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="npuport.sources"):
        again = fetch(source, cache=cache)
    assert again == first
    assert core.read_text() == "X = 1\n" and not (first.root / "demo" / "extra.py").exists()
    assert any("removing it and fetching again" in r.getMessage() for r in caplog.records)


def test_cached_tree_is_read_only_and_can_be_cleaned(tmp_path):
    cache = Cache(tmp_path / "c")
    got = fetch(Source("demo", "path", path=str(archive(tmp_path))), cache=cache)
    modes = [os.stat(p).st_mode for p in [got.root, *got.root.rglob("*")]]
    assert modes and all(not m & 0o222 for m in modes)
    copy = copy_tree(got.root, tmp_path / "work" / "demo")
    (copy / "demo" / "core.py").write_text("X = 3\n")  # the copy is writable, the cache untouched
    assert tree_digest(copy) != tree_digest(got.root) and cache.tree(got.digest) is not None
    cache.remove(got.root)
    assert not got.root.exists() and cache.tree(got.digest) is None
    fetch(Source("demo", "path", path=str(archive(tmp_path))), cache=cache)
    cache.clear()
    assert not cache.root.exists()


def test_corrupted_blob_is_removed(tmp_path, caplog):
    cache = Cache(tmp_path / "c")
    data = b"archive bytes"
    sha = hashlib.sha256(data).hexdigest()
    staged = tmp_path / "staged"
    staged.write_bytes(data)
    path = cache.put_blob(staged, sha)
    assert path == cache.blob_path(sha) and cache.blob(sha) == path and path.parent.name == sha[:2]
    os.chmod(path, 0o644)
    path.write_bytes(b"archive bytez")
    with caplog.at_level(logging.WARNING, logger="npuport.sources"):
        assert cache.blob(sha) is None
    assert not path.exists() and "corrupted" in caplog.text
    assert cache.blob("f" * 64) is None


TRY_LOCK = """
import fcntl, sys
with open(sys.argv[1], "a+b") as f:
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(3)
"""


def test_lock_excludes_other_processes(tmp_path):
    cache = Cache(tmp_path / "c")
    lock_file = cache.root / "locks" / "abc.lock"

    def other() -> int:
        return subprocess.run([sys.executable, "-c", TRY_LOCK, str(lock_file)]).returncode

    with cache.lock("abc"):
        assert other() == 3
    assert other() == 0
