"""Recipe variants for side-by-side measurements: the same recipe without its static training-step steps.

A recipe's static steps (ids starting with ``static-``) make the training step's shapes fixed without
changing its maths. ``write_dynamic(name, out)`` writes ``OUT/NAME`` (recipe.toml and its files) without
them: set that up with ``--recipes OUT`` for the "runs anywhere" tree, and compare the two with
``npuport profile`` (benchmarks/static_census.py) or their losses and mAP (benchmarks/static_parity.py).
A config line that only the static steps can read (a transform of npuport.runtime, its ``custom_imports``)
ends with the comment ``# npuport-static``: the variant's configs (``*.py`` of the recipe) leave it out.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from . import RECIPE_FILE, find

STATIC_PREFIX = "static-"
_TABLE = re.compile(r"^\[\[?[A-Za-z_.]+\]\]?\s*$")
_STATIC_LINE = re.compile(r"^\s*[^#\s].*#\s*npuport-static\b")


def without_static(text: str) -> str:
    """recipe.toml text with every [[step]] table whose id starts with ``static-`` left out."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if _TABLE.match(line.strip()):
            blocks.append([])
        blocks[-1].append(line)
    kept = [b for b in blocks if not (b and b[0].strip() == "[[step]]" and _is_static(b))]
    return "".join(line for block in kept for line in block)


def without_static_lines(text: str) -> str:
    """Config text without the code lines marked ``# npuport-static``."""
    return "".join(line for line in text.splitlines(keepends=True) if not _STATIC_LINE.match(line))


def _is_static(block: list[str]) -> bool:
    return any(re.match(rf'\s*id\s*=\s*"{STATIC_PREFIX}', line) for line in block)


def write_dynamic(name: str, out: Path, extra_dirs: tuple[str, ...] = ()) -> Path:
    """Copy recipe `name` to OUT/NAME without its static steps; returns OUT (a folder for ``--recipes``)."""
    source = find(name, extra_dirs).parent
    target = Path(out) / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    (target / RECIPE_FILE).write_text(without_static((source / RECIPE_FILE).read_text()))
    for config in target.rglob("*.py"):
        config.write_text(without_static_lines(config.read_text()))
    return Path(out)
