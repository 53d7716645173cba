"""Shared fixtures: every test gets its own cache and workspace root; network tests share one download cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPUPORT_WORKSPACE", str(tmp_path / "workspaces"))
    monkeypatch.setenv("NPUPORT_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("NPUPORT_MIRROR", raising=False)


@pytest.fixture
def shared_cache(monkeypatch) -> Path:
    """A download cache kept between test runs (real PyPI archives are fetched once)."""
    path = Path(os.environ.get("NPUPORT_TEST_CACHE", Path.home() / ".cache" / "npuport-tests"))
    path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("NPUPORT_CACHE", str(path))
    return path


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600):
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "npuport", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=timeout)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


MIRRORS_ENV = "NPUPORT_TEST_MIRRORS"
BUNDLES = REPO.parent / "shared" / "upstreams"  # git bundles of the git-only upstreams at their pins (read-only)


def github_mirror(tmp: Path, *repos: str) -> list[str]:
    """`--mirror` arguments that serve GitHub repositories ("owner/name") from local git.

    From $NPUPORT_TEST_MIRRORS when set (snapshots as `owner+name/repo`, a bare git dir or a clone whose .git
    is used), else from the bundles in ../shared/upstreams (`owner+name.bundle`, cloned bare into `tmp`, never
    written to), as in CI. Tests that need a repository skip, saying why, when neither has it."""
    root = os.environ.get(MIRRORS_ENV)
    for repo in repos:
        link = tmp / "gh" / f"{repo}.git"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists():
            continue
        if root:
            snap = Path(root) / repo.replace("/", "+") / "repo"
            git_dir = snap / ".git" if (snap / ".git").is_dir() else snap
            if not (git_dir / "HEAD").exists():
                pytest.skip(f"no snapshot of {repo} at {snap}")
            link.symlink_to(git_dir)
            continue
        bundle = BUNDLES / f"{repo.replace('/', '+')}.bundle"
        if not bundle.is_file():
            pytest.skip(f"no git bundle of {repo} at {bundle}; set {MIRRORS_ENV} to a folder of git snapshots "
                        "(owner+name/repo) to test git-only upstreams")
        subprocess.run(["git", "clone", "--quiet", "--bare", "--branch", "pinned", str(bundle), str(link)],
                       check=True, capture_output=True, timeout=300)
    return ["--mirror", f"https://github.com/=file://{tmp / 'gh'}/"]
