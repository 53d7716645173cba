"""PyPI sdists through the simple API (PEP 503 HTML) of the index pip is configured with."""

from __future__ import annotations

import posixpath
import re
import shutil
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser

from npuport.errors import SourceError, Unreachable
from npuport.recipe.model import Source
from npuport.sources.cache import Cache
from npuport.sources.extract import extract_archive
from npuport.sources.fetched import Fetched
from npuport.sources.mirrors import Mirrors
from npuport.sources.net import NotFound, download, open_url
from npuport.sources.pipconf import index_url

SDIST_SUFFIXES = (".tar.gz", ".zip")
ACCEPT = "application/vnd.pypi.simple.v1+html, text/html;q=0.9"


def canonical(name: str) -> str:
    """PEP 503 normalised project name: mmcv_full, MMCV.Full -> mmcv-full."""
    return re.sub(r"[-_.]+", "-", name).lower()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.base = ""
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "base" and href and not self.base:
            self.base = href
        elif tag == "a" and href:
            self.hrefs.append(href)


@dataclass(frozen=True)
class Sdist:
    """One sdist link of a PEP 503 page."""

    project: str  # PEP 503 normalised
    version: str
    url: str  # absolute, without the fragment
    sha256: str  # from the #sha256= fragment, or ""
    rank: int  # index in SDIST_SUFFIXES: .tar.gz before .zip


def sdists(page_url: str, html: str) -> list[Sdist]:
    """Every sdist linked from a PEP 503 page, in page order. URLs are resolved against the page (or its <base>);
    file names are split at their last '-' into project and version."""
    parser = _Links()
    parser.feed(html)
    base = urllib.parse.urljoin(page_url, parser.base) if parser.base else page_url
    found = []
    for href in parser.hrefs:
        url, _, fragment = urllib.parse.urljoin(base, href).partition("#")
        filename = urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))
        for rank, suffix in enumerate(SDIST_SUFFIXES):
            name, sep, ver = filename[: -len(suffix)].rpartition("-")
            if filename.lower().endswith(suffix) and sep:
                sha = fragment[len("sha256="):].lower() if fragment.startswith("sha256=") else ""
                found.append(Sdist(canonical(name), ver, url, sha, rank))
    return found


def sdist_links(package: str, version: str, page_url: str, html: str) -> list[tuple[str, str]]:
    """(url, sha256 from the #sha256= fragment or "") of each sdist of package==version on a PEP 503 page,
    `.tar.gz` first. Names match after PEP 503/625 normalisation, so mmcv-full-1.3.8.tar.gz and
    mmcv_full-1.3.8.tar.gz both count."""
    found = [s for s in sdists(page_url, html) if s.version == version and s.project == canonical(package)]
    return [(s.url, s.sha256) for s in sorted(found, key=lambda s: s.rank)]


def find_sdist(package: str, version: str, sha256: str, *, mirrors: Mirrors, index: str = "") -> str:
    """The URL (after mirrors) of the sdist of package==version on the index, preferring one whose
    index hash is `sha256`. SourceError if the project or the version is not there."""
    page = (index or index_url()) + canonical(package) + "/"
    page_url = mirrors.rewrite(page)
    via = f" (rewritten from {page} by a mirror)" if page_url != page else ""
    hint = f"{via}; check PIP_INDEX_URL / pip's index-url, or add --mirror FROM=TO"
    try:
        with open_url(page_url, accept=ACCEPT, hint=hint) as response:
            final = response.geturl()
            html = response.read().decode("utf-8", "replace")
    except NotFound:
        raise SourceError(f"{package} {version}: no project {canonical(package)!r} on {page_url}{via}; check the name and PIP_INDEX_URL") from None
    except OSError as exc:
        raise Unreachable(f"cannot read {page_url} ({exc}){hint}") from exc
    links = sdist_links(package, version, final, html)
    if not links:
        raise SourceError(
            f"{package} {version}: no sdist {package}-{version}.tar.gz (or .zip) on {page_url}{via}; "
            "check the version, or use a source of kind 'path'"
        )
    for url, sha in links:
        if sha == sha256:
            return mirrors.rewrite(url)
    return mirrors.rewrite(links[0][0])


def fetch_pypi(source: Source, cache: Cache, mirrors: Mirrors, offline: bool) -> Fetched:
    """Fetch source.package==source.version into the cache, verify its sha256 and extract it."""
    package, version, expected = source.package or source.name, source.version, source.sha256.lower()
    if not version:
        raise SourceError(f"source {source.name!r}: a pypi source needs a version; fix the recipe")
    if not expected:
        raise SourceError(f"{package} {version}: the recipe gives no sha256; add the sha256 of the sdist "
                          f"(the index shows it in the #sha256= fragment of the link)")
    with cache.lock(expected):
        tree = cache.tree(expected)
        if tree is not None:
            return Fetched(source.name, "pypi", tree.root, expected, tree.origin)
        origin = cache.recorded_origin(expected)
        blob = cache.blob(expected)
        if blob is None:
            if offline:
                raise Unreachable(f"{package} {version} is not in the cache {cache.root} (offline); "
                                  "run without --offline once to fetch it")
            url = find_sdist(package, version, expected, mirrors=mirrors)
            staging = cache.tmp_dir("download")
            try:
                got = download(url, staging / "archive", hint="; retry, or add --mirror FROM=TO")
                if got != expected:
                    raise SourceError(f"{package} {version}: sha256 mismatch for {url}: expected {expected}, got {got}; "
                                      "the recipe pin or the index is wrong, do not trust this archive")
                blob = cache.put_blob(staging / "archive", expected)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            origin = url
        staging = cache.tmp_dir("tree")
        try:
            name = posixpath.basename(urllib.parse.urlsplit(origin).path) if origin else blob.name
            try:
                extract_archive(blob, staging / "t", strip=True, label=f"{package} {version} sdist {name}")
            except SourceError:
                cache.remove(blob)  # an archive we refuse does not stay in the cache
                raise
            tree = cache.put_tree(staging / "t", expected, origin or str(blob))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return Fetched(source.name, "pypi", tree.root, expected, tree.origin)
