"""git sources against real repositories created in tmp_path (no network beyond loopback)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from npuport.errors import SourceError, Unreachable
from npuport.recipe.model import Source
from npuport.sources import Cache, Mirrors, fetch, tree_digest

REPO = Path(__file__).resolve().parents[1]
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(autouse=True)
def sources_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NPUPORT_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("NPUPORT_MIRROR", raising=False)
    monkeypatch.setenv("NPUPORT_CACHE", str(tmp_path / "default-cache"))


class Upstream:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        (path / "setup.py").write_text("setup()\n")
        (path / "run.sh").write_text("#!/bin/sh\n")
        os.chmod(path / "run.sh", 0o755)
        (path / "ignored.txt").write_text("kept anyway\n")
        (path / ".gitattributes").write_text("ignored.txt export-ignore\nsetup.py export-subst\n")
        os.symlink("setup.py", path / "link.py")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "one")
        git(path, "tag", "-a", "v1.0", "-m", "release 1.0")
        self.c1 = git(path, "rev-parse", "HEAD")
        self.c2 = self.commit("two.py")

    def commit(self, name: str) -> str:
        (self.path / name).write_text(name + "\n")
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", name)
        return git(self.path, "rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return self.path.as_uri()


@pytest.fixture
def upstream(tmp_path):
    return Upstream(tmp_path / "up" / "acme" / "demo.git")


def src(url: str, commit: str, tag: str = "") -> Source:
    return Source("demo", "git", url=url, commit=commit, tag=tag)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fetch_commit_with_tag(upstream, tmp_path):
    cache = Cache(tmp_path / "c")
    got = fetch(src(upstream.url, upstream.c1, "v1.0"), cache=cache)
    assert got.digest == upstream.c1 and got.root == cache.tree_path(upstream.c1) and got.origin == upstream.url
    files = sorted(p.relative_to(got.root).as_posix() for p in got.root.rglob("*"))
    assert files == [".gitattributes", "ignored.txt", "link.py", "run.sh", "setup.py"]
    assert (got.root / "setup.py").read_text() == "setup()\n", "exported as committed (no export-subst)"
    assert os.readlink(got.root / "link.py") == "setup.py"
    assert os.stat(got.root / "run.sh").st_mode & 0o100
    head = fetch(src(upstream.url, upstream.c2), cache=cache)
    assert tree_digest(head.root) == tree_digest(upstream.path) != tree_digest(got.root)


def test_plain_and_relative_local_paths(upstream, tmp_path, monkeypatch):
    cache = Cache(tmp_path / "c")
    assert fetch(src(str(upstream.path), upstream.c2), cache=cache).digest == upstream.c2
    monkeypatch.chdir(tmp_path)
    got = fetch(src("up/acme/demo.git", upstream.c1, "v1.0"), cache=Cache(tmp_path / "c2"))
    assert (got.root / "setup.py").is_file()


def test_new_upstream_commit_is_fetched(upstream, tmp_path):
    cache = Cache(tmp_path / "c")
    fetch(src(upstream.url, upstream.c2), cache=cache)
    c3 = upstream.commit("three.py")
    assert (fetch(src(upstream.url, c3), cache=cache).root / "three.py").is_file()


def test_tag_on_another_commit_is_refused(upstream, tmp_path):
    with pytest.raises(SourceError, match=rf"tag 'v1.0' points at {upstream.c1}, but the recipe pins {upstream.c2}"):
        fetch(src(upstream.url, upstream.c2, "v1.0"), cache=Cache(tmp_path / "c"))


def test_missing_tag_and_unknown_commit(upstream, tmp_path):
    with pytest.raises(SourceError, match="tag 'v9' not found"):
        fetch(src(upstream.url, upstream.c1, "v9"), cache=Cache(tmp_path / "c"))
    with pytest.raises(SourceError, match=f"commit {'ab' * 20} not found"):
        fetch(src(upstream.url, "ab" * 20), cache=Cache(tmp_path / "c"))
    with pytest.raises(SourceError, match="not a full SHA"):
        fetch(src(upstream.url, upstream.c1[:12]), cache=Cache(tmp_path / "c"))


def test_moved_tag_is_fetched_again(upstream, tmp_path):
    cache = Cache(tmp_path / "c")
    fetch(src(upstream.url, upstream.c1, "v1.0"), cache=cache)
    git(upstream.path, "tag", "-f", "-a", "v1.0", "-m", "moved", upstream.c2)
    assert fetch(src(upstream.url, upstream.c2, "v1.0"), cache=cache).digest == upstream.c2


def test_mirror_rewrites_a_github_url(upstream, tmp_path):
    url = "https://github.com/acme/demo.git"
    mirrors = Mirrors.load([f"https://github.com/={(tmp_path / 'up').as_uri()}/"])
    cache = Cache(tmp_path / "c")
    got = fetch(src(url, upstream.c1, "v1.0"), cache=cache, mirrors=mirrors)
    assert got.origin == upstream.url and got.digest == upstream.c1
    assert cache.git_path(url).is_dir()


def test_unreachable_url_suggests_a_mirror(tmp_path):
    port = closed_port()
    url = f"http://127.0.0.1:{port}/acme/x.git"
    started = time.monotonic()
    with pytest.raises(Unreachable) as err:
        fetch(src(url, "ab" * 20), cache=Cache(tmp_path / "c"))
    assert f"cannot fetch {url}" in str(err.value) and f"--mirror http://127.0.0.1:{port}/=" in str(err.value)
    assert time.monotonic() - started < 10
    mirrors = Mirrors.load([f"https://github.com/=http://127.0.0.1:{port}/"])
    with pytest.raises(Unreachable, match=r"\(rewritten from https://github.com/acme/x.git by a mirror\).*--mirror https://github.com/="):
        fetch(src("https://github.com/acme/x.git", "ab" * 20), cache=Cache(tmp_path / "c"), mirrors=mirrors)


def test_offline(upstream, tmp_path):
    cache = Cache(tmp_path / "c")
    with pytest.raises(Unreachable, match=r"is not in the cache \(offline\); run without --offline once"):
        fetch(src(upstream.url, upstream.c1, "v1.0"), cache=cache, offline=True)
    warm = fetch(src(upstream.url, upstream.c1, "v1.0"), cache=cache)
    fetch(src(upstream.url, upstream.c2), cache=cache)
    shutil.rmtree(upstream.path)
    assert fetch(src(upstream.url, upstream.c1, "v1.0"), cache=cache, offline=True) == warm
    cache.remove(cache.tree_path(upstream.c2))  # re-exported from the cached clone
    assert (fetch(src(upstream.url, upstream.c2), cache=cache, offline=True).root / "two.py").is_file()
    with pytest.raises(Unreachable, match=r"\(offline\)"):
        fetch(src(upstream.url, "cd" * 20), cache=cache, offline=True)


def test_modified_tree_is_exported_again(upstream, tmp_path, caplog):
    cache = Cache(tmp_path / "c")
    got = fetch(src(upstream.url, upstream.c1), cache=cache)
    target = got.root / "setup.py"
    os.chmod(got.root, 0o755)
    os.chmod(target, 0o644)
    target.write_text("tampered\n")
    with caplog.at_level(logging.WARNING, logger="npuport.sources"):
        again = fetch(src(upstream.url, upstream.c1), cache=cache)
    assert (again.root / "setup.py").read_text() == "setup()\n"
    assert any("was modified" in r.getMessage() for r in caplog.records)


SCRIPT = """
import sys
from npuport.recipe.model import Source
from npuport.sources import Cache, Mirrors, fetch
print(fetch(Source("demo", "git", url=sys.argv[2], commit=sys.argv[3], tag="v1.0"), cache=Cache(sys.argv[1]),
            mirrors=Mirrors()).root)
"""


def test_two_processes_fetch_the_same_commit(upstream, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "c"), upstream.url, upstream.c1],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert {o.strip() for o, _ in outs} == {str(Cache(tmp_path / "c").tree_path(upstream.c1))}
    tree = Cache(tmp_path / "c").tree(upstream.c1)
    assert tree is not None and tree.digest == tree_digest(tree.root)
    assert sorted(p.name for p in tree.root.iterdir()) == [".gitattributes", "ignored.txt", "link.py", "run.sh", "setup.py"]
