"""The published versions of a PyPI project, fetched on demand through npuport's cache, and the search for the
version an overlay file was cut from.

Versions come from the simple index pip is configured with (mirrors apply); each sdist is checked against the
sha256 in its link's #sha256= fragment and kept in the cache, so a second audit downloads nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from ..errors import SourceError, UsageError

FINAL = re.compile(r"^\d+(\.\d+)*$")


@dataclass(frozen=True)
class Published:
    version: str
    url: str
    sha256: str


def version_key(version: str) -> Version:
    return Version(version)


def series(version: str) -> tuple[int, ...]:
    """'1.3.8' -> (1, 3)"""
    return Version(version).release[:2]


def published(package: str, mirrors) -> list[Published]:
    """Every final release of `package` with an sdist and an index sha256, oldest first."""
    from ..sources import index_url
    from ..sources.net import NotFound, open_url
    from ..sources.pypi import ACCEPT, canonical, sdists

    page = mirrors.rewrite(index_url() + canonical(package) + "/")
    try:
        with open_url(page, accept=ACCEPT, hint="; check PIP_INDEX_URL or add --mirror FROM=TO") as response:
            final, html = response.geturl(), response.read().decode("utf-8", "replace")
    except NotFound:
        raise UsageError(f"no project {canonical(package)!r} on {page}; check the name given to --onto") from None
    best: dict[str, Published] = {}  # per version: its first hashed sdist, .tar.gz before .zip
    for s in sorted(sdists(final, html), key=lambda s: s.rank):
        if s.project == canonical(package) and FINAL.match(s.version) and s.sha256 and s.version not in best:
            best[s.version] = Published(s.version, s.url, s.sha256)
    return [best[v] for v in sorted(best, key=version_key)]


@dataclass
class Upstream:
    """One project's published versions, their trees fetched lazily (at most `budget` downloads)."""

    package: str
    versions: list[Published]
    mirrors: object
    budget: int
    trees: dict[str, Path] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def find(self, version: str) -> Published:
        for pub in self.versions:
            if pub.version == version:
                return pub
        near = [p.version for p in self.versions if FINAL.match(version) and series(p.version) == series(version)]
        raise UsageError(f"{self.package} {version} is not a published release with an sdist on the index"
                         + (f"; published in that series: {', '.join(near)}" if near else ""))

    def tree(self, version: str, *, count: bool = True) -> Path | None:
        """The extracted sdist of `version`; None once the download budget is spent."""
        if version in self.trees:
            return self.trees[version]
        if count and len(self.fetched) >= self.budget:
            return None
        from .. import sources
        from ..recipe.model import Source

        pub = self.find(version)
        src = Source(name=self.package, kind="pypi", package=self.package, version=version, sha256=pub.sha256)
        try:
            got = sources.fetch(src, mirrors=self.mirrors)  # type: ignore[arg-type]
        except SourceError as exc:
            raise SourceError(f"{self.package} {version}: {exc}") from None
        self.trees[version] = Path(got.root)
        if count:
            self.fetched.append(version)
        return self.trees[version]

    def text(self, version: str, rel: str) -> str | None:
        """The file `rel` at `version` (None: absent, not text, or over the budget)."""
        root = self.tree(version)
        if root is None or not (root / rel).is_file():
            return None
        try:
            return (root / rel).read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return None


def coarse_order(versions: list[str], onto: str) -> list[str]:
    """Versions to try first: the ends of onto's own series, then the nearest end of each neighbouring series
    (the last of the ones before, the first of the ones after), nearest series first."""
    by_series: dict[tuple[int, ...], list[str]] = {}
    for v in sorted(versions, key=version_key):
        by_series.setdefault(series(v), []).append(v)
    keys = sorted(by_series)
    home = series(onto)
    order: list[str] = []
    own = [v for v in by_series.get(home, []) if v != onto]
    order += [v for v in (own[:1] + own[-1:]) if v not in order]
    i = keys.index(home) if home in keys else 0
    for d in range(1, len(keys)):
        if i - d >= 0:
            order.append(by_series[keys[i - d]][-1])
        if i + d < len(keys):
            order.append(by_series[keys[i + d]][0])
    return order


def closest(upstream: Upstream, onto: str, rel: str, text: str, score) -> tuple[str, dict[str, float]]:
    """The published version whose `rel` is most like `text` (onto wins ties), and every score taken.

    Tries coarse_order() within the download budget, then walks from the best one to its neighbours while the
    score rises."""
    ordered = [p.version for p in upstream.versions]
    scores: dict[str, float] = {}

    def take(version: str) -> bool:
        if version in scores:
            return True
        other = upstream.text(version, rel)
        if other is None and version not in upstream.trees:
            return False  # over the budget
        scores[version] = score(text, other) if other is not None else 0.0
        return True

    take(onto)
    for version in coarse_order(ordered, onto):
        if not take(version):
            break
    best = max(scores, key=lambda v: (scores[v], v == onto))
    while best != onto:
        i = ordered.index(best)
        steps = [ordered[j] for j in (i - 1, i + 1) if 0 <= j < len(ordered) and ordered[j] not in scores]
        for version in steps:
            take(version)
        better = max(scores, key=lambda v: (scores[v], v == onto))
        if better == best or scores[better] <= scores[best]:
            break
        best = better
    return best, scores
