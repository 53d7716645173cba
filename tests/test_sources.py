"""PyPI sdists through a real PEP 503 index served on loopback, and local path sources."""

from __future__ import annotations

import collections
import hashlib
import io
import logging
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from npuport.errors import SourceError, Unreachable, UsageError
from npuport.recipe.model import Source
from npuport.sources import Cache, Fetched, Mirrors, fetch, index_url, tree_digest
from npuport.sources.pypi import canonical, sdist_links

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def sources_env(monkeypatch, tmp_path):
    """No user mirrors, pip config or proxy leaks into these tests; loopback goes direct."""
    monkeypatch.setenv("NPUPORT_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("NPUPORT_MIRROR", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("NPUPORT_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.setenv("NPUPORT_TIMEOUT", "10")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")


def sdist_bytes(top: str, files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode = len(data), (modes or {}).get(name, 0o644)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


FILES = {"setup.py": b"from setuptools import setup\nsetup()\n", "demo/__init__.py": b"VERSION = '1.3.8'\n",
         "tools/run.sh": b"#!/bin/sh\necho hi\n"}


@dataclass
class Index:
    """A PEP 503 index on 127.0.0.1, its files under `root`, GET counts per path in `hits`."""

    root: Path
    base: str
    hits: collections.Counter = field(default_factory=collections.Counter)
    delay: float = 0.0

    @property
    def simple(self) -> str:
        return self.base + "/simple/"

    def publish(self, package: str, version: str, data: bytes, *, filename: str = "", href: str = "relative",
                fragment: bool = True) -> str:
        """Put one sdist on the index; returns its sha256."""
        filename = filename or f"{package}-{version}.tar.gz"
        (self.root / "packages").mkdir(parents=True, exist_ok=True)
        (self.root / "packages" / filename).write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        link = {"relative": f"../../packages/{filename}", "absolute": f"{self.base}/packages/{filename}",
                "rooted": f"/packages/{filename}"}[href] + (f"#sha256={sha}" if fragment else "")
        page = self.root / "simple" / canonical(package) / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        old = page.read_text() if page.exists() else ""
        page.write_text(old + f'<a href="{link}">{filename}</a><br/>\n')
        return sha

    def archive_hits(self) -> int:
        return sum(n for path, n in self.hits.items() if path.startswith("/packages/"))


@pytest.fixture
def index(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    idx = Index(root, "")

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            idx.hits[self.path] += 1
            if self.path.startswith("/packages/"):
                time.sleep(idx.delay)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    idx.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield idx
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo(sha: str, version: str = "1.3.8", package: str = "mmcv-full") -> Source:
    return Source("mmcv", "pypi", package=package, version=version, sha256=sha)


def test_fetch_verifies_extracts_and_caches(index, tmp_path, monkeypatch):
    sha = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES, {"tools/run.sh": 0o755}))
    monkeypatch.setenv("PIP_INDEX_URL", index.simple)
    cache = Cache(tmp_path / "cache")
    got = fetch(demo(sha), cache=cache)
    assert got == Fetched("mmcv", "pypi", cache.tree_path(sha), sha, f"{index.base}/packages/mmcv-full-1.3.8.tar.gz")
    assert (got.root / "setup.py").read_bytes() == FILES["setup.py"]
    assert os.stat(got.root / "tools" / "run.sh").st_mode & 0o100
    assert not os.stat(got.root / "setup.py").st_mode & 0o222, "cached trees are read-only"
    assert cache.blob(sha) is not None
    again = fetch(demo(sha), cache=cache)
    assert again == got and index.archive_hits() == 1


def test_sha256_mismatch_is_refused_and_not_cached(index, tmp_path, monkeypatch):
    real = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES))
    monkeypatch.setenv("PIP_INDEX_URL", index.simple)
    wrong = "0" * 64
    cache = Cache(tmp_path / "cache")
    with pytest.raises(SourceError) as err:
        fetch(demo(wrong), cache=cache)
    assert all(s in str(err.value) for s in ("mmcv-full", "1.3.8", "expected " + wrong, "got " + real))
    assert not (cache.root / "blobs").exists() or not any(p.is_file() for p in (cache.root / "blobs").rglob("*"))
    assert not (cache.root / "trees").exists()


def test_pip_index_url_is_honoured_without_trailing_slash(index, tmp_path, monkeypatch):
    sha = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES))
    monkeypatch.setenv("PIP_INDEX_URL", index.simple.rstrip("/"))
    assert index_url() == index.simple
    assert fetch(demo(sha), cache=Cache(tmp_path / "c")).digest == sha
    assert index.hits["/simple/mmcv-full/"] == 1


@pytest.mark.parametrize("href", ["relative", "rooted", "absolute"])
@pytest.mark.parametrize("filename", ["mmcv-full-1.3.8.tar.gz", "mmcv_full-1.3.8.tar.gz"])
def test_hrefs_and_name_normalisation(index, tmp_path, monkeypatch, href, filename):
    sha = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv_full-1.3.8", FILES), filename=filename, href=href)
    monkeypatch.setenv("PIP_INDEX_URL", index.simple)
    got = fetch(demo(sha, package="MMCV_Full"), cache=Cache(tmp_path / "c"))
    assert got.origin == f"{index.base}/packages/{filename}"
    assert (got.root / "setup.py").is_file()


def test_local_file_index_like_pips_extra_indexes(tmp_path, monkeypatch):
    data = sdist_bytes("mmcv-full-1.3.8", FILES)
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "idx" / "files").mkdir(parents=True)
    (tmp_path / "idx" / "files" / "mmcv_full-1.3.8.tar.gz").write_bytes(data)
    page = tmp_path / "idx" / "simple" / "mmcv-full" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<a href="../../files/mmcv_full-1.3.8.tar.gz#sha256={sha}">mmcv_full-1.3.8.tar.gz</a>')
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "idx" / "simple").as_uri())
    got = fetch(demo(sha), cache=Cache(tmp_path / "c"))
    assert got.origin == (tmp_path / "idx" / "files" / "mmcv_full-1.3.8.tar.gz").as_uri()


def test_sdist_links_pick_the_version_and_prefer_tar_gz():
    html = """<html><body>
    <a href="../../f/mmcv-full-1.3.80.tar.gz#sha256=aa">x</a>
    <a href="../../f/mmcv-full-1.3.8.zip#sha256=bb">x</a>
    <a href="../../f/mmcv-full-1.3.8-cp39-cp39-linux_x86_64.whl#sha256=cc">x</a>
    <a href="../../f/mmcv_full-1.3.8.tar.gz#sha256=dd">x</a>
    <a href="../../f/mmcv-1.3.8.tar.gz#sha256=ee">x</a></body></html>"""
    links = sdist_links("mmcv-full", "1.3.8", "https://idx.example/simple/mmcv-full/", html)
    assert links == [("https://idx.example/f/mmcv_full-1.3.8.tar.gz", "dd"), ("https://idx.example/f/mmcv-full-1.3.8.zip", "bb")]


def test_missing_version_and_missing_project(index, tmp_path, monkeypatch):
    index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES))
    monkeypatch.setenv("PIP_INDEX_URL", index.simple)
    with pytest.raises(SourceError, match=r"mmcv-full 9\.9\.9: no sdist mmcv-full-9\.9\.9\.tar\.gz"):
        fetch(demo("1" * 64, version="9.9.9"), cache=Cache(tmp_path / "c"))
    with pytest.raises(SourceError, match="no project 'nope'"):
        fetch(demo("1" * 64, package="nope"), cache=Cache(tmp_path / "c"))


def test_unreachable_index_names_the_url(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", url)
    started = time.monotonic()
    with pytest.raises(Unreachable, match=rf"{url}mmcv-full/.*--mirror"):
        fetch(demo("1" * 64), cache=Cache(tmp_path / "c"))
    assert time.monotonic() - started < 5


def test_mirror_rewrites_the_index(index, tmp_path, monkeypatch):
    sha = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES), href="absolute")
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.invalid/simple/")
    got = fetch(demo(sha), cache=Cache(tmp_path / "c"), mirrors=Mirrors.load([f"https://pypi.invalid/={index.base}/"]))
    assert got.origin.startswith(index.base)


def test_offline(index, tmp_path, monkeypatch):
    sha = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES))
    cache = Cache(tmp_path / "c")
    with pytest.raises(Unreachable, match=r"not in the cache .*\(offline\); run without --offline once"):
        fetch(demo(sha), cache=cache, offline=True)
    monkeypatch.setenv("PIP_INDEX_URL", index.simple)
    warm = fetch(demo(sha), cache=cache)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port()}/simple/")
    assert fetch(demo(sha), cache=cache, offline=True) == warm
    cache.remove(warm.root)  # the tree is gone but the archive is cached: offline re-extracts it
    assert fetch(demo(sha), cache=cache, offline=True).root == warm.root
    assert index.archive_hits() == 1


def test_corrupted_archive_is_detected_and_fetched_again(index, tmp_path, monkeypatch, caplog):
    sha = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES))
    monkeypatch.setenv("PIP_INDEX_URL", index.simple)
    cache = Cache(tmp_path / "c")
    first = fetch(demo(sha), cache=cache)
    blob = cache.blob_path(sha)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    cache.manifest_path(sha).unlink()  # the tree is incomplete too: it must be rebuilt from the archive
    with caplog.at_level(logging.WARNING, logger="npuport.sources"):
        again = fetch(demo(sha), cache=cache)
    assert again.root == first.root and (again.root / "setup.py").read_bytes() == FILES["setup.py"]
    assert index.archive_hits() == 2
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    assert any("corrupted" in r.getMessage() and str(blob) in r.getMessage() for r in caplog.records)


def test_refused_sdist_leaves_nothing_in_the_cache(index, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("evil-1.0/../../outside.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"boom"))
    sha = index.publish("evil", "1.0", buf.getvalue())
    monkeypatch.setenv("PIP_INDEX_URL", index.simple)
    cache = Cache(tmp_path / "c")
    with pytest.raises(SourceError, match=r"evil 1\.0 sdist evil-1\.0\.tar\.gz: refused member 'evil-1\.0/\.\./\.\./outside\.txt'"):
        fetch(demo(sha, version="1.0", package="evil"), cache=cache)
    assert [p for p in cache.root.rglob("*") if p.is_file() and p.parent.name != "locks"] == []
    assert not (tmp_path / "outside.txt").exists()


FETCH_SCRIPT = """
import sys
from npuport.recipe.model import Source
from npuport.sources import Cache, Mirrors, fetch
f = fetch(Source("mmcv", "pypi", package="mmcv-full", version="1.3.8", sha256=sys.argv[2]),
          cache=Cache(sys.argv[1]), mirrors=Mirrors())
print(f.root)
"""


def test_two_processes_fetch_the_same_source(index, tmp_path):
    sha = index.publish("mmcv-full", "1.3.8", sdist_bytes("mmcv-full-1.3.8", FILES))
    index.delay = 0.5  # both processes are surely in flight at once
    env = {**os.environ, "PIP_INDEX_URL": index.simple, "PYTHONPATH": str(REPO)}
    cache = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT, str(cache), sha], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    roots = {out.strip() for out, _ in outs}
    assert roots == {str(Cache(cache).tree_path(sha))}
    assert index.archive_hits() == 1, "the second process waited on the lock and used the first one's entry"
    tree = Cache(cache).tree(sha)
    assert tree is not None and tree.digest == tree_digest(tree.root)


# path sources


def test_path_directory_is_used_in_place(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "setup.py").write_text("setup()\n")
    got = fetch(Source("local", "path", path=str(src)), cache=Cache(tmp_path / "c"))
    assert got == Fetched("local", "path", src, tree_digest(src), str(src))
    assert not (tmp_path / "c").exists()


def test_path_archive_checked_and_extracted(tmp_path):
    archive = tmp_path / "demo-1.0.tar.gz"
    archive.write_bytes(sdist_bytes("demo-1.0", FILES))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    cache = Cache(tmp_path / "c")
    got = fetch(Source("demo", "path", path=str(archive), sha256=sha), cache=cache)
    assert got.root == cache.tree_path(sha) and (got.root / "setup.py").is_file() and got.digest == sha
    assert fetch(Source("demo", "path", path=str(archive)), cache=cache) == got
    with pytest.raises(SourceError, match=f"sha256 mismatch for {archive}: expected {'2' * 64}, got {sha}"):
        fetch(Source("demo", "path", path=str(archive), sha256="2" * 64), cache=cache)


def test_path_missing_or_not_an_archive(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        fetch(Source("x", "path", path=str(tmp_path / "nope")), cache=Cache(tmp_path / "c"))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UsageError, match="neither a directory nor an archive"):
        fetch(Source("x", "path", path=str(tmp_path / "notes.txt")), cache=Cache(tmp_path / "c"))


def test_unknown_kind():
    with pytest.raises(SourceError, match="unknown kind 'svn'"):
        fetch(Source("x", "svn"), cache=Cache("/nonexistent"), mirrors=Mirrors())
