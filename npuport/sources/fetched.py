"""What a fetch returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fetched:
    """A verified source tree. `root` is read-only: copy it (see `copy_tree`) before changing anything."""

    name: str  # the recipe's source name
    kind: str  # "pypi" | "git" | "path"
    root: Path  # the tree: the package root (an sdist's top folder is stripped)
    digest: str  # sha256 of the archive, the git commit, or tree_digest of a local directory
    origin: str  # the URL or path actually used, after mirrors
