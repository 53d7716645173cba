"""Validate a recipe file's data into the typed model, naming the file and key of any error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from packaging.specifiers import InvalidSpecifier

from ..apex import pypi_apex_problem
from ..errors import RecipeError
from .model import Install, Pin, Recipe, Reference, Source, Step, Train, specifier

SHA256 = re.compile(r"^[0-9a-f]{64}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
STEP_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Table:
    """One TOML table being read: every key must be used exactly as the schema says."""

    def __init__(self, data: Any, file: Path, where: str):
        self.file, self.where = file, where
        if not isinstance(data, dict):
            self.fail(where, f"must be a table, got {type(data).__name__}")
        self.data = data
        self.used: set[str] = set()

    def fail(self, key: str, problem: str) -> None:
        raise RecipeError(f"{self.file}: key '{key}' {problem}")

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kind: type | tuple, default: Any = ..., check: Callable[[Any], str] | None = None):
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                self.fail(self.key(name), "is missing")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(self.key(name), f"must be {want}, got {type(value).__name__} {value!r}")
        if check is not None:
            problem = check(value)
            if problem:
                self.fail(self.key(name), problem)
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.get(name, list, [])
        for i, v in enumerate(values):
            if not isinstance(v, str):
                self.fail(f"{self.key(name)}[{i}]", f"must be a string, got {v!r}")
        return tuple(values)

    def mapping(self, name: str) -> tuple[tuple[str, str], ...]:
        table = self.get(name, dict, {})
        for k, v in table.items():
            if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                self.fail(f"{self.key(name)}.{k}", f"must be a string or number, got {v!r}")
        return tuple((k, str(v)) for k, v in table.items())

    def tables(self, name: str) -> list[Table]:
        items = self.get(name, list, [])
        return [Table(item, self.file, f"{self.key(name)}[{i}]") for i, item in enumerate(items)]

    def done(self) -> None:
        """Refuse the keys the schema does not know."""
        for name in self.data:
            if name not in self.used:
                self.fail(self.key(name), f"is not a known key here (known: {', '.join(sorted(self.used))})")


def one_of(*choices: str) -> Callable[[Any], str]:
    return lambda v: "" if v in choices else f"must be one of {', '.join(choices)}, got {v!r}"


def one_line(v: str) -> str:
    return "" if v.strip() and "\n" not in v else "must be one non-empty line"


def matches(pattern: re.Pattern, what: str) -> Callable[[Any], str]:
    return lambda v: "" if pattern.match(v) else f"must be {what}, got {v!r}"


def parse_recipe(data: dict, file: Path) -> Recipe:
    top = Table(data, file, "")
    name = top.get("name", str, check=matches(STEP_ID, "a lower-case name"))
    recipe = Recipe(
        name=name,
        description=top.get("description", str),
        model=top.get("model", str, ""),
        folder=file.parent,
        sources=tuple(parse_source(t) for t in top.tables("source")),
        steps=tuple(parse_step(t) for t in top.tables("step")),
        installs=tuple(parse_install(t) for t in top.tables("install")),
        train=parse_train(Table(top.get("train", dict), file, "train")) if "train" in data else None,
        references=tuple(parse_reference(t) for t in top.tables("reference")),
        amp=top.get("amp", str, "native", check=one_of("native", "apex")),
        includes=top.strings("include"),
    )
    top.done()
    if not recipe.sources:
        top.fail("source", "needs at least one [[source]]")
    check_references(recipe, top)
    return recipe


def parse_source(t: Table) -> Source:
    kind = t.get("kind", str, check=one_of("pypi", "git", "path"))
    common = dict(name=t.get("name", str, check=matches(STEP_ID, "a lower-case name")), kind=kind)
    if kind == "pypi":
        src = Source(
            **common,
            package=t.get("package", str, check=pypi_apex_problem),
            version=t.get("version", str),
            sha256=t.get("sha256", str, check=matches(SHA256, "64 lower-case hex digits")),
            option=t.get("option", str, ""),
            alternatives=tuple(parse_pin(p) for p in t.tables("alternative")),
            note=t.get("note", str, "", check=one_line),
        )
    elif kind == "git":
        src = Source(
            **common,
            url=t.get("url", str),
            commit=t.get("commit", str, check=matches(COMMIT, "a full 40-hex commit SHA")),
            tag=t.get("tag", str, ""),
            ref=t.get("ref", str, ""),
            exclude=t.strings("exclude"),
        )
        for i, rel in enumerate(src.exclude):
            if not rel or rel.startswith("/") or ".." in rel.split("/") or rel.startswith(":"):
                t.fail(f"{t.key('exclude')}[{i}]", f"must be a path inside the repository, got {rel!r}")
    else:
        src = Source(
            **common,
            path=t.get("path", str),
            sha256=t.get("sha256", str, "", check=lambda v: "" if not v or SHA256.match(v) else "must be a sha256"),
        )
    t.done()
    return src


def parse_pin(t: Table) -> Pin:
    pin = Pin(t.get("version", str), t.get("sha256", str, check=matches(SHA256, "64 lower-case hex digits")))
    t.done()
    return pin


def parse_step(t: Table) -> Step:
    kind = t.get("kind", str, check=one_of("rewrite", "diff", "files", "overlay"))
    step = Step(
        id=t.get("id", str, check=matches(STEP_ID, "a lower-case id")),
        kind=kind,
        source=t.get("source", str),
        why=t.get("why", str, check=one_line),
        rules=t.strings("rules") if kind == "rewrite" else (),
        paths=t.strings("paths") if kind == "rewrite" else (),
        patch=t.get("patch", str) if kind == "diff" else "",
        files=t.mapping("files") if kind == "files" else (),
        versions=t.strings("versions"),
        folder=t.get("folder", str) if kind == "overlay" else "",
        map=t.mapping("map") if kind == "overlay" else (),
    )
    for i, text in enumerate(step.versions):
        try:
            specifier(text)
        except InvalidSpecifier:
            t.fail(f"{t.key('versions')}[{i}]",
                   f"must be a version or a PEP 440 range such as \">=1.3,<1.3.9\", got {text!r}")
    if kind == "rewrite" and not (step.rules and step.paths):
        t.fail(t.key("rules"), "and 'paths' must both list at least one entry for a rewrite step")
    if kind == "files" and not step.files:
        t.fail(t.key("files"), "must map at least one target path to a recipe file")
    if kind == "overlay" and not step.map:
        t.fail(t.key("map"), "must map at least one upstream path to a file in the overlay folder")
    t.done()
    return step


def parse_install(t: Table) -> Install:
    inst = Install(
        source=t.get("source", str),
        env=t.mapping("env"),
        requires=t.strings("requires"),
        deps=t.strings("deps"),
        build_isolation=t.get("build_isolation", bool, True),
    )
    for key, reqs in (("requires", inst.requires), ("deps", inst.deps)):
        for req in reqs:
            problem = pypi_apex_problem(req)
            if problem:
                t.fail(t.key(key), problem)
    t.done()
    return inst


def parse_train(t: Table) -> Train:
    positive = lambda v: "" if v > 0 else "must be positive"  # noqa: E731
    train = Train(
        driver=t.get("driver", str),
        config=t.get("config", str, ""),
        overrides=t.get("overrides", str, ""),
        samples_per_device=t.get("samples_per_device", int, 2, check=positive),
        amp=t.get("amp", str, "off", check=one_of("O1", "off")),
        loss_scale=t.get("loss_scale", float, 128.0, check=positive),
        warmup_iters=t.get("warmup_iters", int, 5, check=lambda v: "" if v >= 0 else "must be >= 0"),
        epochs=t.get("epochs", int, 1, check=positive),
        data_format=t.get("data_format", str, "", check=one_of("", "coco", "cifar10")),
        metric=t.get("metric", str, ""),
        args=t.strings("args"),
        npu_env=t.mapping("npu_env"),
    )
    t.done()
    return train


def parse_reference(t: Table) -> Reference:
    ref = Reference(
        device=t.get("device", str, check=one_of("gpu", "npu")),
        world_size=t.get("world_size", int, check=lambda v: "" if v > 0 else "must be positive"),
        fps=t.get("fps", float),
        accuracy=t.get("accuracy", float, None),
    )
    t.done()
    return ref


def check_references(recipe: Recipe, top: Table) -> None:
    """Cross-references: steps and installs name known sources, step ids are distinct, files exist."""
    names = [s.name for s in recipe.sources]
    if len(set(names)) != len(names):
        top.fail("source", f"names must be distinct, got {names}")
    seen: set[str] = set()
    for i, step in enumerate(recipe.steps):
        where = f"step[{i}]"
        if step.id in seen:
            top.fail(f"{where}.id", f"repeats the id {step.id!r}")
        seen.add(step.id)
        if step.source not in names:
            top.fail(f"{where}.source", f"names no source of this recipe ({', '.join(names)}), got {step.source!r}")
        src = recipe.source(step.source)
        if step.versions and src.kind != "pypi":
            top.fail(f"{where}.versions", f"applies only to a pypi source; {src.name} is a {src.kind} source")
        pinned = [p.version for p in src.pins()]
        if step.versions and not any(step.applies_to(v) for v in pinned):
            top.fail(f"{where}.versions", f"{list(step.versions)} matches no pinned version of {src.name} "
                     f"({', '.join(pinned)})")
        wanted = [step.patch] if step.patch else [f for _, f in step.files]
        wanted += [f"{step.folder}/{f}" for _, f in step.map]
        for rel in wanted:
            if not (recipe.folder / rel).is_file():
                top.fail(f"{where}", f"refers to {rel}, which is not a file in {recipe.folder}")
    for i, inst in enumerate(recipe.installs):
        if inst.source not in names:
            top.fail(f"install[{i}].source", f"names no source of this recipe, got {inst.source!r}")
    if recipe.train is not None:
        check_train_files(recipe, names, top)


def check_train_files(recipe: Recipe, names: list[str], top: Table) -> None:
    """[train] config is SOURCE:PATH of a known source or a recipe file; overrides is a recipe file beside it."""
    train = recipe.train
    source, sep, rel = train.config.partition(":")
    if sep and (source not in names or not rel):
        top.fail("train.config", f"SOURCE:PATH must name a source of this recipe ({', '.join(names)}), "
                 f"got {train.config!r}")
    wanted = [("train.overrides", train.overrides)] + ([] if sep else [("train.config", train.config)])
    for key, rel in wanted:
        if rel and not (recipe.folder / rel).is_file():
            top.fail(key, f"refers to {rel}, which is not a file in {recipe.folder}")
    if train.overrides and not sep:
        top.fail("train.overrides", "merges over an upstream config: give train.config as SOURCE:PATH")
