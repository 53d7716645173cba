"""sources: fetch each pinned upstream into a content-addressed cache and prove it is what the recipe says.

    fetched = fetch(recipe.source("mmcv"), mirrors=Mirrors.load(cli_pairs), offline=False)
    copy_tree(fetched.root, workspace / "mmcv")   # the cached tree itself is read-only

Kinds: "pypi" (sdist from the index pip is configured with, sha256-checked), "git" (bare clone, commit and
tag checked, tree exported) and "path" (a directory used in place, or an archive). See cache.py for the
cache layout and mirrors.py for the mirror configuration.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from npuport.errors import SourceError
from npuport.recipe.model import Source
from npuport.sources.cache import Cache
from npuport.sources.digest import tree_digest
from npuport.sources.fetched import Fetched
from npuport.sources.mirrors import Mirrors
from npuport.sources.pipconf import index_url

__all__ = ["Cache", "Fetched", "Mirrors", "copy_tree", "fetch", "index_url", "tree_digest"]


def fetch(source: Source, *, cache: Cache | None = None, mirrors: Mirrors | None = None, offline: bool = False) -> Fetched:
    """Fetch and verify one source; the returned tree is read-only.

    Raises SourceError (hash or pin mismatch, unsafe archive), Unreachable (network, offline with a cold
    cache) or UsageError (malformed mirror, missing local path).
    """
    cache = cache or Cache.default()
    mirrors = Mirrors.load() if mirrors is None else mirrors
    if source.kind == "pypi":
        from npuport.sources.pypi import fetch_pypi

        return fetch_pypi(source, cache, mirrors, offline)
    if source.kind == "git":
        from npuport.sources.git import fetch_git

        return fetch_git(source, cache, mirrors, offline)
    if source.kind == "path":
        from npuport.sources.local import fetch_path

        return fetch_path(source, cache)
    raise SourceError(f"source {source.name!r}: unknown kind {source.kind!r}; use pypi, git or path")


def copy_tree(root: str | Path, dest: str | Path) -> Path:
    """Copy a fetched tree to `dest` (which must not exist), writable, symlinks kept as links."""
    from npuport.sources.cache import set_writable

    dest = Path(dest)
    shutil.copytree(root, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    set_writable(dest, True)
    return dest
