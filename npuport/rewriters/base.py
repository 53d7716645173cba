"""The rule contract: a rule turns a libcst module into a new module plus the sites it touched."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Optional

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst._nodes.internal import CodegenState

from npuport.rewriters._util import dotted


@dataclass(frozen=True)
class Change:
    """One site a rule found. `fixed` is False for a site that was only reported."""

    rule: str
    line: int
    message: str
    fixed: bool = True


class Lines:
    """Start lines of a module's nodes, computed only for the nodes a rule reported.

    The same start lines as libcst's PositionProvider, from one code generation that counts lines and keeps
    them for the wanted nodes only (no columns, no metadata wrapper, no table of every node): a fraction of
    its cost. Rules record nodes during their visit; `need` is called with all of them before `line`.
    """

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._lines: dict[cst.CSTNode, int] = {}

    def need(self, nodes: list[cst.CSTNode]) -> None:
        """Compute the lines of these nodes (one code generation for all that are not known yet)."""
        wanted = {node for node in nodes if node not in self._lines}
        if wanted:
            state = _LineState(self.module, wanted)
            try:
                self.module._codegen(state)
            except _AllFound:
                pass
            self._lines.update(state.lines)
            self._lines.update((node, 0) for node in wanted if node not in state.lines)

    def line(self, node: cst.CSTNode) -> int:
        if node not in self._lines:
            self.need([node])
        return self._lines[node]


_NEWLINE = re.compile(r"\r\n?|\n")


class _LineState(CodegenState):
    """Code generation that keeps the start line of the wanted nodes (PositionProvider's rules)."""

    def __init__(self, module: cst.Module, wanted: set[cst.CSTNode]) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.line = 1
        self.wanted = wanted
        #: ids of the wanted nodes: a cheaper test than CSTNode's own __hash__, made for every node generated
        self.ids = {id(node) for node in wanted}
        self.lines: dict[cst.CSTNode, int] = {}
        #: start lines of the wanted nodes being generated, by id
        self._starts: dict[int, int] = {}

    def add_indent_tokens(self) -> None:
        pass  # indents hold no newline, and the code itself is not kept

    def add_token(self, value: str) -> None:
        if "\n" in value:
            self.line += value.count("\n") if "\r" not in value else len(_NEWLINE.findall(value))
        elif "\r" in value:
            self.line += len(_NEWLINE.findall(value))

    def before_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.ids:
            self._starts[id(node)] = self.line

    def after_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.ids and node not in self.lines:
            self.found(node, self._starts[id(node)])

    def found(self, node: cst.CSTNode, line: int) -> None:
        """A node's first recorded start is final (a syntactic one comes before its after_codegen)."""
        self.lines[node] = line
        if len(self.lines) == len(self.wanted):
            raise _AllFound  # the rest of the code generation would change nothing

    def record_syntactic_position(self, node: cst.CSTNode, *, start_node: Optional[cst.CSTNode] = None,
                                  end_node: Optional[cst.CSTNode] = None) -> "_Syntactic":
        return _Syntactic(self, node, start_node)


class _AllFound(Exception):
    pass


class _Syntactic:
    """The context of CodegenState.record_syntactic_position, as a plain object (cheaper than contextlib)."""

    __slots__ = ("state", "node", "start_node", "start")

    def __init__(self, state: _LineState, node: cst.CSTNode, start_node: Optional[cst.CSTNode]) -> None:
        self.state, self.node, self.start_node = state, node, start_node

    def __enter__(self) -> None:
        self.start = self.state.line
        if self.start_node is not None and id(self.node) in self.state.ids:
            self.state.wanted.add(self.start_node)  # its start is the node's start
            self.state.ids.add(id(self.start_node))

    def __exit__(self, *exc: object) -> None:
        state = self.state
        if id(self.node) in state.ids and exc[0] is None:
            state.found(self.node, state.lines[self.start_node] if self.start_node is not None else self.start)


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


class SkipImportsTransformer(RuleTransformer):
    """A rule transformer that never rewrites inside import statements."""

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False


class Rule:
    """A codemod with a stable ID. Subclasses set the class attributes and `Transformer`."""

    ID: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    FIXABLE: ClassVar[bool] = False
    #: A file that contains none of these substrings is skipped without parsing.
    TRIGGERS: ClassVar[tuple[str, ...]] = ()
    #: Optional finer pre-filter on the text (a regex), checked after TRIGGERS.
    PATTERN: ClassVar[Optional[str]] = None
    #: False for a rule whose sites depend on its own rewritten children (it then walks alone in check mode)
    SHARED: ClassVar[bool] = True
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
        changes = self.changes(visitor, lines if lines is not None and lines.module is module else Lines(module))
        if not any(c.fixed for c in changes):
            return module, changes, []
        return new, changes, visitor.imports

    def changes(self, visitor: RuleTransformer, lines: Lines) -> list[Change]:
        """The sites a visit recorded, as changes in line order."""
        lines.need([node for node, _, _ in visitor.sites])
        changes = [Change(self.ID, lines.line(node), message, fixed) for node, message, fixed in visitor.sites]
        changes.sort(key=lambda c: c.line)
        return changes

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
