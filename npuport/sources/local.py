"""path sources: a local directory used in place, or a local archive extracted into the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

from npuport.errors import SourceError, UsageError
from npuport.recipe.model import Source
from npuport.sources.cache import Cache
from npuport.sources.digest import file_sha256, tree_digest
from npuport.sources.extract import ARCHIVE_SUFFIXES, extract_archive, is_archive
from npuport.sources.fetched import Fetched


def fetch_path(source: Source, cache: Cache) -> Fetched:
    """A directory: itself, with its tree digest. An archive: sha256-checked, extracted once into the cache.

    A relative path is taken from the current directory; the caller resolves recipe-relative paths first.
    """
    if not source.path:
        raise SourceError(f"source {source.name!r}: a path source needs a path; fix the recipe")
    path = Path(source.path).expanduser().resolve()
    if path.is_dir():
        return Fetched(source.name, "path", path, tree_digest(path), str(path))
    if not path.is_file():
        raise UsageError(f"source {source.name!r}: {path} does not exist; check the path (or --source NAME=PATH)")
    if not is_archive(path):
        raise UsageError(f"source {source.name!r}: {path} is neither a directory nor an archive "
                         f"({', '.join(ARCHIVE_SUFFIXES)})")
    expected = source.sha256.lower()
    got = file_sha256(path)
    if expected and got != expected:
        raise SourceError(f"source {source.name!r}: sha256 mismatch for {path}: expected {expected}, got {got}; "
                          "use the archive the recipe pins, or update its sha256")
    with cache.lock(got):
        tree = cache.tree(got)
        if tree is None:
            staging = cache.tmp_dir("tree")
            try:
                extract_archive(path, staging / "t", strip=True, label=str(path))
                tree = cache.put_tree(staging / "t", got, str(path))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return Fetched(source.name, "path", tree.root, got, str(path))
