"""A workspace: one folder per set-up model holding the patched tree, its lock and its environment.

    WS/current -> states/<key>        swapped atomically (a symlink replaced with os.replace)
    WS/states/<key>/src/<source>/     the patched (or pristine) sources
    WS/states/<key>/npuport.lock      sources, steps with base and result hashes, every file's hash
    WS/npuport.lock -> current/npuport.lock
    WS/env/                           the Python environment (see build.py)

Work is staged in states/.stage-*, and only a complete state is swapped in: an interrupted run (Ctrl-C,
SIGKILL) leaves the state before it whole, and the next run clears the stage it left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from . import __version__, atomic
from .errors import CheckFailed, UsageError
from .patches import engine
from .patches.hashing import file_hash, folder_hash, json_hash
from .patches.steps import StepResult
from .patches.table import HashTable
from .recipe import Recipe, Source
from .sources import copy_tree

LOCK = "npuport.lock"


def default_root(name: str) -> Path:
    base = os.environ.get("NPUPORT_WORKSPACE")
    if base:
        return Path(base).expanduser() / name
    try:
        from platformdirs import user_data_dir
    except ImportError:  # pragma: no cover
        return Path.home() / ".local" / "share" / "npuport" / "workspaces" / name
    return Path(user_data_dir("npuport")) / "workspaces" / name


@dataclass
class Outcome:
    """What a setup or revert did to the tree."""

    workspace: Path
    key: str
    changed: bool
    steps: list[StepResult]
    lock: dict


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root).absolute()
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"--workspace {root}: a file, not a folder; give a folder (it is created if missing)")

    @property
    def current(self) -> Path | None:
        link = self.root / "current"
        return link.resolve() if link.exists() else None

    def src(self, source: str) -> Path:
        return self.root / "current" / "src" / source

    def read_lock(self) -> dict | None:
        cur = self.current
        if cur is None or not (cur / LOCK).is_file():
            return None
        return json.loads((cur / LOCK).read_text(encoding="utf-8"))

    def require(self, recipe: str) -> dict:
        lock = self.read_lock()
        if lock is None:
            raise UsageError(f"no workspace for {recipe} at {self.root}; run `npuport setup {recipe}` first "
                             "(or pass the --workspace you set it up in)")
        return lock

    @contextlib.contextmanager
    def locked(self):
        """One npuport process at a time changes a workspace."""
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / ".lock"):
            yield

    def edited_files(self, lock: dict) -> list[str]:
        """Recorded files of the current tree that were changed or deleted since npuport wrote them.

        Files added beside them (build/, *.egg-info from pip) are not edits of the patched sources."""
        src = self.current / "src"
        return sorted(rel for rel, h in lock.get("files", {}).items() if file_hash(src / rel) != h)

    def install(self, recipe: Recipe, trees: dict[str, Path], sources: list[dict], pins: dict[str, Source],
                *, patched: bool = True, force: bool = False) -> Outcome:
        """Make the workspace hold `trees` (pristine, from the cache) with the recipe's steps applied."""
        key = state_key(recipe, sources, patched)
        with self.locked():
            self._clear_stages()
            lock = self.read_lock()
            if lock is not None and lock.get("key") == key:
                edited = self.edited_files(lock)
                if not edited:
                    return Outcome(self.root, key, False, [], lock)
                if not force:
                    raise CheckFailed(f"workspace {self.root} was edited by hand: {', '.join(edited[:5])}"
                                      f"{' ...' if len(edited) > 5 else ''}; run `npuport revert {recipe.name}` "
                                      f"or `npuport setup {recipe.name} --force` to replace the edits")
            stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=self._states()))
            try:
                roots = {}
                for name, tree in trees.items():
                    roots[name] = stage / "src" / name
                    copy_tree(tree, roots[name])
                results = engine.apply_all(recipe, roots, pins, HashTable.load(recipe)) if patched else []
                if engine.failures(results):
                    raise CheckFailed(engine.drift_report(recipe, results) + "; nothing was changed in " + str(self.root))
                lock = self._lock(recipe, key, sources, results, stage / "src", patched)
                atomic.write_json(stage / LOCK, lock, indent=1)
                final = self._states() / key[:16]
                if final.exists():  # the live state (setup --force over hand edits): swap first, remove after
                    final = Path(tempfile.mkdtemp(prefix=f"{key[:16]}-", dir=self._states()))
                    final.rmdir()
                os.rename(stage, final)
            except BaseException:
                _rmtree(stage)
                raise
            self._swap(final)
            return Outcome(self.root, key, True, results, lock)

    def _lock(self, recipe: Recipe, key: str, sources: list[dict], results: list[StepResult], src: Path,
              patched: bool) -> dict:
        files = {p.relative_to(src).as_posix(): file_hash(p) for p in sorted(src.rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts}
        return {"npuport": __version__, "recipe": recipe.name, "key": key, "patched": patched, "sources": sources,
                "steps": [r.to_json() for r in results], "files": files}

    def _states(self) -> Path:
        states = self.root / "states"
        states.mkdir(parents=True, exist_ok=True)
        return states

    def _clear_stages(self) -> None:
        for old in self._states().glob(".stage-*"):
            _rmtree(old)

    def _swap(self, final: Path) -> None:
        tmp = self.root / ".current.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(Path("states") / final.name, tmp)
        os.replace(tmp, self.root / "current")
        link = self.root / LOCK
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            os.symlink(Path("current") / LOCK, link)
        for other in self._states().iterdir():
            if other.name != final.name and not other.name.startswith("."):
                _rmtree(other)


def state_key(recipe: Recipe, sources: list[dict], patched: bool) -> str:
    """What a state is made of: npuport's version, the recipe folder, the fetched sources, patched or not."""
    return json_hash({"npuport": __version__, "recipe": folder_hash(recipe.folder), "sources": sources,
                      "patched": patched})


def is_stale(recipe: Recipe, lock: dict) -> bool:
    """True when the workspace was set up from another recipe (or npuport) than the one at hand."""
    return lock.get("key") != state_key(recipe, lock.get("sources", []), lock.get("patched", True))


def lock_hash(lock: dict) -> str:
    return json_hash(lock)


def _rmtree(path: Path) -> None:
    def onerror(func, p, _exc):
        os.chmod(p, stat.S_IRWXU)
        func(p)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=onerror)


