"""git sources with `exclude`: a commit holding a symlink to an absolute path (GFocalV2's `data`)."""

from __future__ import annotations

import os

import pytest

from npuport.errors import RecipeError, SourceError
from npuport.recipe.model import Source
from npuport.recipe.schema import parse_recipe
from npuport.sources import Cache, fetch
from test_sources_git import git, sources_env  # noqa: F401 (the autouse fixture)


@pytest.fixture
def upstream(tmp_path):
    path = tmp_path / "up" / "acme" / "demo.git"
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "setup.py").write_text("setup()\n")
    os.symlink("/share2/public/data", path / "data")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "one")
    return path, git(path, "rev-parse", "HEAD")


def test_absolute_symlink_is_refused_unless_excluded(upstream, tmp_path):
    path, commit = upstream
    cache = Cache(tmp_path / "c")
    with pytest.raises(SourceError, match="refused member 'data'"):
        fetch(Source("demo", "git", url=path.as_uri(), commit=commit), cache=cache)
    got = fetch(Source("demo", "git", url=path.as_uri(), commit=commit, exclude=("data",)), cache=cache)
    assert got.digest == commit
    assert sorted(p.name for p in got.root.iterdir()) == ["setup.py"]
    assert got.root != cache.tree_path(commit), "the partial tree has its own cache entry"


def test_stale_exclude_is_an_error(upstream, tmp_path):
    path, commit = upstream
    with pytest.raises(SourceError, match="exclude 'nothere' names nothing"):
        fetch(Source("demo", "git", url=path.as_uri(), commit=commit, exclude=("data", "nothere")),
              cache=Cache(tmp_path / "c"))


@pytest.mark.parametrize("bad", ["/etc", "../x", "a/../../b", ":(glob)*", ""])
def test_exclude_must_stay_inside_the_repository(tmp_path, bad):
    data = {"name": "demo", "description": "d",
            "source": [{"name": "demo", "kind": "git", "url": "https://example.invalid/x.git",
                        "commit": "ab" * 20, "exclude": [bad]}]}
    with pytest.raises(RecipeError, match=r"source\[0\]\.exclude\[0\]"):
        parse_recipe(data, tmp_path / "recipe.toml")
