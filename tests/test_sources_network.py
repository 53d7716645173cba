"""The real PyPI: the sdists the recipes pin are fetched, verified and extracted (network; cached between runs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from npuport.recipe.model import Source
from npuport.sources import Cache, Mirrors, fetch

PINS = [
    ("mmcv-full", "1.3.8", "2b8dd40697a11b7061b5f54131999ac1cda4c4b02dfc60d7fc2c9a3fa484782e"),
    ("mmcv-full", "1.2.7", "de8c864e5a5bb16b27dc055fee362fb64ca09ebda1347633ab3d9914ff96a6e7"),
    ("mmcv", "0.2.16", "a94396b38bd82b2a2e3be2851b7c5494341d6530d7545c6067c8bb181a8d1c33"),
    ("mmdet", "2.10.0", "5d913b86799fe93b6ceb481802466fb85d2cab676fa92607d06e97b05bc4b25a"),
]


@pytest.fixture(scope="session")
def pypi_cache() -> Cache:
    """One cache for the whole session and for later runs: env NPUPORT_TEST_CACHE, else ~/.cache/npuport-tests."""
    return Cache(os.environ.get("NPUPORT_TEST_CACHE") or Path.home() / ".cache" / "npuport-tests")


@pytest.mark.network
@pytest.mark.parametrize("package, version, sha256", PINS, ids=[f"{p}-{v}" for p, v, _ in PINS])
def test_real_pypi_sdist(pypi_cache, package, version, sha256):
    source = Source(package, "pypi", package=package, version=version, sha256=sha256)
    got = fetch(source, cache=pypi_cache, mirrors=Mirrors())
    assert got.digest == sha256 and got.root == pypi_cache.tree_path(sha256)
    assert (got.root / "setup.py").is_file() and (got.root / "PKG-INFO").is_file()
    assert f"Version: {version}" in (got.root / "PKG-INFO").read_text(encoding="utf-8", errors="replace")
    assert pypi_cache.blob(sha256) is not None
    assert fetch(source, cache=pypi_cache, mirrors=Mirrors(), offline=True) == got
