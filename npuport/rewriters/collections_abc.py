"""NPU603: `collections.Sequence` & co. -> `collections.abc`.

Before::

    import collections
    from collections import OrderedDict, Mapping
    if isinstance(batch, collections.Sequence): ...

After::

    import collections
    import collections.abc
    from collections import OrderedDict
    from collections.abc import Mapping
    if isinstance(batch, collections.abc.Sequence): ...

Why: Python 3.10 removed the ABC aliases from `collections`; mmcv 0.2's collate fails on import-time
use. Only names of collections.abc are moved; OrderedDict, defaultdict and the like stay.
"""

from __future__ import annotations

import collections.abc

import libcst as cst

from npuport.rewriters._util import dotted, stmt
from npuport.rewriters.base import Rule, RuleTransformer

ABC_NAMES = frozenset(n for n in collections.abc.__all__) | {"ByteString"}


class _CollectionsAbc(RuleTransformer):
    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if len(updated.body) != 1 or not isinstance(updated.body[0], cst.ImportFrom):
            return updated
        node = updated.body[0]
        if node.module is None or dotted(node.module) != "collections" or node.relative or \
                isinstance(node.names, cst.ImportStar):
            return updated
        moved = [a for a in node.names if a.name.value in ABC_NAMES]
        if not moved:
            return updated
        kept = [a for a in node.names if a.name.value not in ABC_NAMES]
        moved = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in moved]
        names = ", ".join(cst.Module(body=[]).code_for_node(a) for a in moved)
        new_from = stmt(f"from collections.abc import {names}")
        self.fix(original, f"from collections import {names} -> from collections.abc import {names}")
        if not kept:
            return new_from.with_changes(leading_lines=updated.leading_lines,
                                         trailing_whitespace=updated.trailing_whitespace)
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        first = updated.with_changes(body=[node.with_changes(names=kept)])
        return cst.FlattenSentinel([first, new_from])

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if not isinstance(original.value, cst.Name) or original.value.value != "collections":
            return updated
        if original.attr.value not in ABC_NAMES:
            return updated
        self.fix(original, f"collections.{original.attr.value} -> collections.abc.{original.attr.value}")
        self.need_import("collections.abc")
        return updated.with_changes(value=cst.Attribute(value=cst.Name("collections"), attr=cst.Name("abc")))


class CollectionsAbcRule(Rule):
    ID = "NPU603"
    DESCRIPTION = "move collections.Sequence/Mapping/Iterable/... (removed in Python 3.10) to collections.abc"
    FIXABLE = True
    TRIGGERS = ("collections",)
    PATTERN = r"collections\.[A-Z]|from collections import [^\n]*\b(?:" + "|".join(sorted(ABC_NAMES)) + r")\b"
    Transformer = _CollectionsAbc
