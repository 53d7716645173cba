"""The typed recipe: what a recipe file holds once it has been validated."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Pin:
    """One version of a PyPI source that a user may choose, with the archive's sha256."""

    version: str
    sha256: str


@dataclass(frozen=True)
class Source:
    """One upstream: a PyPI sdist, a git commit, or a local path (directory or archive)."""

    name: str
    kind: str  # "pypi" | "git" | "path"
    package: str = ""  # pypi: distribution name as on the index, e.g. "mmcv-full"
    version: str = ""  # pypi: the default version
    sha256: str = ""  # pypi: sha256 of the sdist; path: optional sha256 of an archive
    url: str = ""  # git: clone URL (mirrors rewrite its prefix)
    tag: str = ""  # git: optional tag that must point at `commit`
    ref: str = ""  # git: optional branch the commit is on (informational)
    commit: str = ""  # git: full 40-hex commit SHA
    exclude: tuple[str, ...] = ()  # git: paths left out of the exported tree (e.g. a symlink to an absolute path)
    path: str = ""  # path: a directory or an archive
    option: str = ""  # the CLI option that chooses the version, e.g. "mmcv" for --mmcv
    alternatives: tuple[Pin, ...] = ()  # pypi: other versions a user may choose
    note: str = ""  # one line on the versions offered, e.g. why there is only one

    def pins(self) -> list[Pin]:
        """Every version a user may choose, the default first (pypi only)."""
        return [Pin(self.version, self.sha256), *self.alternatives] if self.kind == "pypi" else []

    def at(self, version: str) -> Source:
        """This source pinned at another supported version."""
        for pin in self.pins():
            if pin.version == version:
                return replace(self, version=pin.version, sha256=pin.sha256)
        raise KeyError(version)

    @property
    def pin_label(self) -> str:
        """A short human label of the pin: 'mmcv-full==1.3.8', 'url@commit', or the path."""
        if self.kind == "pypi":
            return f"{self.package}=={self.version}"
        if self.kind == "git":
            return f"{self.url}@{self.commit[:12]}"
        return self.path


@dataclass(frozen=True)
class Step:
    """One patch step: a rewriter run, a zero-fuzz diff, new files, or an overlay of whole upstream files."""

    id: str
    kind: str  # "rewrite" | "diff" | "files" | "overlay"
    source: str  # the name of the source it patches
    why: str  # one line: why the NPU (or today's stack) needs it
    rules: tuple[str, ...] = ()  # rewrite: rewriter IDs, applied in order
    paths: tuple[str, ...] = ()  # rewrite: files (relative to the source root) it must change
    patch: str = ""  # diff: path of the .diff file, relative to the recipe folder
    files: tuple[tuple[str, str], ...] = ()  # files: (target in the source tree, file in the recipe folder)
    versions: tuple[str, ...] = ()  # apply only at versions matching one of these (e.g. "1.3.8", ">=1.3,<1.3.9")
    folder: str = ""  # overlay: folder of whole files, relative to the recipe folder
    map: tuple[tuple[str, str], ...] = ()  # overlay: (upstream path it replaces, file in `folder`)
    include: str = ""  # the shared step set it comes from (e.g. "_mmcv_full"); "" for the recipe's own

    def applies_to(self, version: str) -> bool:
        """Whether the step runs on its source at `version` (a step without `versions` runs on every one)."""
        if not self.versions:
            return True
        try:
            v = Version(version)
        except InvalidVersion:
            return False
        return any(specifier(s).contains(v, prereleases=True) for s in self.versions)


def specifier(text: str) -> SpecifierSet:
    """A step's version entry as a PEP 440 specifier set: "1.3.8" means ==1.3.8; ">=1.3,<1.3.9" a range.
    InvalidSpecifier when it is neither."""
    text = text.strip()
    return SpecifierSet(text if text[:1] in "<>=!~" else f"=={text}")


@dataclass(frozen=True)
class Install:
    """One pip install of a patched source into the workspace environment."""

    source: str
    env: tuple[tuple[str, str], ...] = ()
    requires: tuple[str, ...] = ()  # build-time requirements installed first
    deps: tuple[str, ...] = ()  # run-time requirements installed with --no-deps discipline
    build_isolation: bool = True


@dataclass(frozen=True)
class Train:
    """How `npuport train` runs the model by default."""

    driver: str  # module run as `python -m`, e.g. "npuport.drivers.mmdet_train"
    config: str = ""  # "SOURCE:PATH" (a file of the set-up tree) or a path relative to the recipe folder
    overrides: str = ""  # a config merged over `config`, relative to the recipe folder
    samples_per_device: int = 2
    amp: str = "off"  # "O1" | "off"
    loss_scale: float = 128.0
    warmup_iters: int = 5
    epochs: int = 1
    data_format: str = ""  # "coco" | "cifar10"
    metric: str = ""  # the accuracy metric that reference results quote
    args: tuple[str, ...] = ()  # extra driver arguments
    npu_env: tuple[tuple[str, str], ...] = ()  # environment set on NPU servers

    def config_files(self, folder: Path, src: Callable[[str], Path]) -> list[str]:
        """The driver's config arguments: the config (`src(source)` is a source's set-up tree) and --overrides."""
        if not self.config:
            return []
        source, sep, rel = self.config.partition(":")
        config = src(source) / rel if sep else folder / self.config
        return [str(config), *(["--overrides", str(folder / self.overrides)] if self.overrides else [])]


@dataclass(frozen=True)
class Reference:
    """A reference result from the hand-made ports' READMEs."""

    device: str  # "gpu" | "npu"
    world_size: int
    fps: float
    accuracy: float | None = None


@dataclass(frozen=True)
class Recipe:
    """A validated recipe, with the folder it was loaded from."""

    name: str
    description: str
    model: str
    folder: Path
    sources: tuple[Source, ...]
    steps: tuple[Step, ...] = ()
    installs: tuple[Install, ...] = ()
    train: Train | None = None
    references: tuple[Reference, ...] = field(default=())
    amp: str = "native"  # "native" (torch AMP through npuport.runtime) | "apex" (NVIDIA apex, see npuport.apex)
    includes: tuple[str, ...] = ()  # the shared step sets it includes (see npuport.recipe.include)

    def source(self, name: str) -> Source:
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)
