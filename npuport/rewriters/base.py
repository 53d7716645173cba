"""The rule contract: a rule turns a libcst module into a new module plus the sites it touched."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Optional

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.metadata import MetadataWrapper, PositionProvider

from npuport.rewriters._util import dotted


@dataclass(frozen=True)
class Change:
    """One site a rule found. `fixed` is False for a site that was only reported."""

    rule: str
    line: int
    message: str
    fixed: bool = True


class Lines:
    """Line numbers of a module's nodes, computed once and only when a rule asks for one.

    Resolving positions costs about twice a parse, so rules record nodes during their
    visit and the lines are looked up afterwards, only for files with a site.
    """

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._positions: Optional[object] = None

    def line(self, node: cst.CSTNode) -> int:
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        try:
            return self._positions[node].start.line  # type: ignore[index]
        except KeyError:
            return 0


class RuleTransformer(cst.CSTTransformer):
    """Base visitor for rules: record sites on original nodes, ask for imports."""

    def __init__(self, rule: "Rule") -> None:
        super().__init__()
        self.rule = rule
        self.sites: list[tuple[cst.CSTNode, str, bool]] = []
        self.imports: list[ImportItem] = []

    def fix(self, original: cst.CSTNode, message: str) -> None:
        self.sites.append((original, message, True))

    def report(self, original: cst.CSTNode, message: str) -> None:
        self.sites.append((original, message, False))

    def need_import(self, module: str, obj: Optional[str] = None, alias: Optional[str] = None) -> None:
        item = ImportItem(module, obj, alias)
        if item not in self.imports:
            self.imports.append(item)


class Rule:
    """A codemod with a stable ID. Subclasses set the class attributes and `Transformer`."""

    ID: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    FIXABLE: ClassVar[bool] = False
    #: A file that contains none of these substrings is skipped without parsing.
    TRIGGERS: ClassVar[tuple[str, ...]] = ()
    #: Optional finer pre-filter on the text (a regex), checked after TRIGGERS.
    PATTERN: ClassVar[Optional[str]] = None
    Transformer: ClassVar[Callable[["Rule"], RuleTransformer]]

    def wants(self, source: str) -> bool:
        """Cheap text test: could this file contain a site?"""
        if self.TRIGGERS and not any(t in source for t in self.TRIGGERS):
            return False
        if self.PATTERN is not None:
            return _compiled(self.PATTERN).search(source) is not None
        return True

    def run(self, module: cst.Module, lines: Optional[Lines] = None) -> tuple[cst.Module, list[Change], list[ImportItem]]:
        """Visit once; return the new module, the sites, and the imports the new code needs."""
        visitor = self.Transformer(self)
        new = module.visit(visitor)
        if not visitor.sites:
            return module, [], []
        lines = lines if lines is not None and lines.module is module else Lines(module)
        changes = [Change(self.ID, lines.line(node), message, fixed) for node, message, fixed in visitor.sites]
        changes.sort(key=lambda c: c.line)
        if not any(c.fixed for c in changes):
            return module, changes, []
        return new, changes, visitor.imports

    def transform(self, module: cst.Module) -> tuple[cst.Module, list[Change]]:
        """Apply this rule alone. Report-only rules return the module unchanged."""
        new, changes, imports = self.run(module)
        return add_imports(new, imports), changes


def add_imports(module: cst.Module, imports: list[ImportItem]) -> cst.Module:
    """Add `import x` lines, sorted, once each, after the module's last top-level import statement (after its
    docstring when it has none); a module already doing `import x` is left as it is.

    Written here rather than through libcst's AddImportsVisitor, whose placement changed between releases
    (after the last top-level import in 1.0, after the first block of imports in 1.9): the recipes record the
    hashes of rewritten files, so the result must not depend on the installed libcst."""
    if any(item.obj_name or item.alias for item in imports):
        raise ValueError("add_imports adds plain `import module` lines only")
    present = {dotted(alias.name) for st in module.body if isinstance(st, cst.SimpleStatementLine)
               for node in st.body if isinstance(node, cst.Import) for alias in node.names if alias.asname is None}
    missing = sorted({item.module for item in imports} - present)
    if not missing:
        return module
    at = 0
    for i, st in enumerate(module.body):
        if not isinstance(st, cst.SimpleStatementLine):
            continue
        if i == 0 and isinstance(st.body[0], cst.Expr) and isinstance(st.body[0].value, cst.SimpleString):
            at = 1  # the docstring
        if any(isinstance(node, (cst.Import, cst.ImportFrom)) for node in st.body):
            at = i + 1
    added = [cst.parse_statement(f"import {name}") for name in missing]
    return module.with_changes(body=[*module.body[:at], *added, *module.body[at:]])


_PATTERNS: dict[str, "re.Pattern[str]"] = {}


def _compiled(pattern: str) -> "re.Pattern[str]":
    if pattern not in _PATTERNS:
        _PATTERNS[pattern] = re.compile(pattern)
    return _PATTERNS[pattern]
