"""NPU404: apex O1 `cached_cast` parent check for torch >= 1.10.

Before::

    def cached_cast(cast_fn, x, cache):
        ...
        if cached_x.grad_fn.next_functions[1][0].variable is not x:
            raise RuntimeError(...)

After::

    def cached_cast(cast_fn, x, cache):
        ...
        if cached_x.grad_fn.next_functions[0][0].variable is not x:
            raise RuntimeError(...)

Why: apex O1 caches the fp16 copy of each weight and checks that the cached copy's autograd parent is the
weight. Before torch 1.10 a cast's grad_fn (CopyBackwards) had two inputs, the weight second; since 1.10 it is
ToCopyBackward0 with the weight as its only input, so `next_functions[1]` raises IndexError at the second
forward of every O1 run (on NPU, CUDA and cpu alike). The weight is `next_functions[0][0].variable` now.

Fixed only inside a function named `cached_cast` (apex/amp/utils.py, and the copies of it in hand-made
ports); the same idiom elsewhere is reported, since `[1]` may rightly be a second input there.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters.base import Rule, RuleTransformer


def _index(node: cst.Subscript, value: str) -> bool:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return False
    inner = node.slice[0].slice.value
    return isinstance(inner, cst.Integer) and inner.value == value


def _is_idiom(node: cst.Subscript) -> bool:
    """`<...>.grad_fn.next_functions[1][0]`"""
    first = node.value
    if not (_index(node, "0") and isinstance(first, cst.Subscript) and _index(first, "1")):
        return False
    attr = first.value
    return (isinstance(attr, cst.Attribute) and attr.attr.value == "next_functions"
            and isinstance(attr.value, cst.Attribute) and attr.value.attr.value == "grad_fn")


class _CachedCast(RuleTransformer):
    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self.functions: list[str] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node.name.value)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.functions.pop()
        return updated

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
        if not _is_idiom(original):
            return updated
        if "cached_cast" not in self.functions:
            self.report(original, "grad_fn.next_functions[1][0]: since torch 1.10 a cast's grad_fn has one input, "
                                  "next_functions[0]; check this index by hand")
            return updated
        first: cst.Subscript = updated.value  # type: ignore[assignment]
        element = first.slice[0]
        index = element.slice.with_changes(value=cst.Integer("0"))  # type: ignore[union-attr]
        self.fix(original, "cached_cast: grad_fn.next_functions[1][0] -> next_functions[0][0] (torch >= 1.10)")
        return updated.with_changes(value=first.with_changes(slice=[element.with_changes(slice=index)]))


class ApexCachedCastRule(Rule):
    ID = "NPU404"
    DESCRIPTION = "fix apex O1 cached_cast's parent check for torch >= 1.10: grad_fn.next_functions[1][0] -> [0][0]"
    FIXABLE = True
    TRIGGERS = ("next_functions",)
    Transformer = _CachedCast
