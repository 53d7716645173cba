"""git sources: a bare clone in the cache, the pinned commit (and tag) checked, its tree exported."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

from npuport import proc
from npuport.errors import SourceError, Unreachable
from npuport.recipe.model import Source
from npuport.sources.cache import Cache, Tree
from npuport.sources.extract import extract_archive
from npuport.sources.fetched import Fetched
from npuport.sources.mirrors import Mirrors

log = logging.getLogger("npuport.sources")

# Export the commit's files exactly as committed: no export-ignore/subst, eol conversion or smudge filters.
ATTRIBUTES = "* -export-ignore -export-subst -text -eol -filter -ident\n"
REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


def run_git(args: list[str], *, repo: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git non-interactively (no password prompts); SourceError if git is missing or, with `check`, fails."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return proc.run(["git", *(["-C", str(repo)] if repo else []), *args], what="git source",
                    env=env, check=check, error=SourceError)


def _git_url(url: str) -> str:
    """A plain relative path made absolute (git runs inside the cache); URLs unchanged."""
    if "://" in url or ":" in url.split("/", 1)[0]:
        return url
    return os.path.abspath(os.path.expanduser(url))


def _mirror_hint(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    prefix = f"{parts.scheme}://{parts.netloc}/" if parts.netloc else url
    return f"add --mirror {prefix}=<a mirror you can reach> (or NPUPORT_MIRROR, or [mirrors] in config.toml)"


def _has_commit(repo: Path, commit: str) -> bool:
    return run_git(["cat-file", "-e", commit + "^{commit}"], repo=repo, check=False).returncode == 0


def _tag_commit(repo: Path, tag: str) -> str:
    done = run_git(["rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}"], repo=repo, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


class _Repo:
    """The bare repository of one upstream URL, fetched at most once per fetch()."""

    def __init__(self, cache: Cache, url: str, origin: str, offline: bool):
        self.path, self.url, self.origin, self.offline = cache.git_path(url), url, origin, offline
        self.via = f" (rewritten from {url} by a mirror)" if origin != url else ""
        self.fetched = False
        if not (self.path / "HEAD").is_file():
            self._missing("is not in the cache")
            staging = cache.tmp_dir("git")
            try:
                run_git(["init", "--bare", "-q", str(staging / "r.git")])
                self.path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / "r.git", self.path)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        attributes = self.path / "info" / "attributes"
        if not attributes.is_file() or attributes.read_text() != ATTRIBUTES:
            attributes.parent.mkdir(exist_ok=True)
            attributes.write_text(ATTRIBUTES)

    def _missing(self, what: str) -> None:
        if self.offline:
            raise Unreachable(f"{self.url} {what} (offline); run without --offline once to fetch it")

    def fetch(self, *refspecs: str) -> None:
        """Fetch heads and tags (or the given refspecs); Unreachable on any failure."""
        self._missing("has no such commit or tag in the cache")
        log.info("fetching %s%s", self.origin, self.via)
        slow = ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]  # give up on a stalled server
        done = run_git([*slow, "fetch", "--quiet", "--force", _git_url(self.origin), *(refspecs or REFSPECS)],
                       repo=self.path, check=False)
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
            why = lines[-1].strip() if lines else f"git fetch exited {done.returncode}"
            if refspecs:  # a direct fetch of one commit: the server may refuse it, that is not unreachable
                log.debug("git fetch %s failed: %s", " ".join(refspecs), why)
                return
            raise Unreachable(f"cannot fetch {self.origin}{self.via}: {why}; {_mirror_hint(self.url)}")
        self.fetched = True


def fetch_git(source: Source, cache: Cache, mirrors: Mirrors, offline: bool) -> Fetched:
    """Fetch source.url into the cache, check source.commit (and source.tag) and export its tree."""
    commit, url, tag = source.commit.strip().lower(), source.url.strip(), source.tag.strip()
    if not url:
        raise SourceError(f"source {source.name!r}: a git source needs a url; fix the recipe")
    if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
        raise SourceError(f"source {source.name!r}: commit {source.commit!r} is not a full SHA; pin the full 40-hex commit")
    origin = mirrors.rewrite(url)
    with cache.lock("git-" + cache.git_path(url).stem):
        repo = _Repo(cache, url, origin, offline)
        if not _has_commit(repo.path, commit):
            repo.fetch()
            if not _has_commit(repo.path, commit):
                repo.fetch(commit)  # not on a branch or tag: ask for it by SHA
            if not _has_commit(repo.path, commit):
                raise SourceError(f"{url}: commit {commit} not found{repo.via}; check the recipe's commit")
        if tag:
            tagged = _tag_commit(repo.path, tag)
            if tagged != commit and not repo.fetched and not (offline and tagged):
                repo.fetch()  # the cached tag may be stale (offline and absent: Unreachable)
                tagged = _tag_commit(repo.path, tag)
            if not tagged:
                raise SourceError(f"{url}: tag {tag!r} not found{repo.via}; check the recipe's tag")
            if tagged != commit:
                raise SourceError(f"{url}: tag {tag!r} points at {tagged}, but the recipe pins {commit}; "
                                  "fix the recipe's tag or commit")
        run_git(["update-ref", f"refs/npuport/{commit}", commit], repo=repo.path)  # keep it from gc
        exclude = tuple(sorted(set(source.exclude)))
        key = commit
        if exclude:  # another tree than the whole commit's: its own cache entry
            key += "-x" + hashlib.sha256("\0".join(exclude).encode()).hexdigest()[:16]
        with cache.lock(key):
            tree = cache.tree(key)
            if tree is None:
                _check_excluded(repo.path, commit, exclude, url)
                tree = _export(cache, repo.path, commit, origin, exclude, key)
    return Fetched(source.name, "git", tree.root, commit, tree.origin)


def _check_excluded(repo: Path, commit: str, exclude: tuple[str, ...], url: str) -> None:
    """Every excluded path must exist at `commit`: a stale exclude is a recipe error."""
    for rel in exclude:
        listed = run_git(["ls-tree", "--name-only", commit, "--", rel], repo=repo, check=False)
        if listed.returncode != 0 or not listed.stdout.strip():
            raise SourceError(f"{url}: exclude {rel!r} names nothing at {commit[:12]}; remove it from the recipe")


def _export(cache: Cache, repo: Path, commit: str, origin: str, exclude: tuple[str, ...] = (), key: str = "") -> Tree:
    staging = cache.tmp_dir("export")
    try:
        archive = staging / "tree.tar"
        spec = ["--", *(f":(exclude,literal){rel}" for rel in exclude)] if exclude else []
        done = run_git(["archive", "--format=tar", "-o", str(archive), commit, *spec], repo=repo, check=False)
        if done.returncode != 0:
            raise SourceError(f"git archive of {commit} in {repo} failed: {done.stderr.strip()}; "
                              f"delete {repo} and fetch again")
        extract_archive(archive, staging / "t", strip=False, label=f"{origin}@{commit[:12]}")
        return cache.put_tree(staging / "t", key or commit, origin)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
