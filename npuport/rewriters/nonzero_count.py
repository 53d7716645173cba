"""NPU303: counting with nonzero -> a sum.

Before::

    num_pos = len(torch.nonzero(labels > 0))
    num_pos = (labels > 0).nonzero().size(0)
    if fgs.nonzero().numel():

After::

    num_pos = int((labels > 0).sum())
    num_pos = int((labels > 0).sum())
    if int((fgs != 0).sum()):

Why: nonzero materializes a data-dependent index tensor just to count it; on the NPU that is a dynamic
shape (recompile or AI CPU fallback). A sum of the mask has a fixed shape. The result stays a Python
int, as before (the host sync it implies was already there).

Forms changed: len(N), N.size(0), N.shape[0], and N.numel() where only its truth or its comparison
with 0 matters (an if/while test, `not N.numel()`, `N.numel() > 0` and the like), with N =
torch.nonzero(c) or c.nonzero() (as_tuple=False allowed). numel() elsewhere counts elements times
dimensions and is reported. A non-boolean c is counted as (c != 0).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from npuport.rewriters._util import atom, code, dotted, expr, is_boolean, module_aliases
from npuport.rewriters.base import Rule, RuleTransformer


class _NonzeroCount(RuleTransformer):
    def visit_Module(self, node: cst.Module) -> None:
        self.numpy = module_aliases(node, "numpy") | {"np", "numpy"}
        self.truthy: set[int] = set()

    def _nonzero_arg(self, node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
        """c for torch.nonzero(c) / c.nonzero(), else None."""
        if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
            return None
        if node.func.attr.value != "nonzero":
            return None
        kwargs = [a for a in node.args if a.keyword is not None]
        if any(a.keyword.value != "as_tuple" or code(a.value) != "False" for a in kwargs):  # type: ignore[union-attr]
            return None
        positional = [a for a in node.args if a.keyword is None]
        name = dotted(node.func) or ""
        if name == "torch.nonzero":
            return positional[0].value if len(positional) == 1 and not positional[0].star else None
        if positional or name.split(".")[0] in self.numpy:
            return None
        return node.func.value

    def _count(self, c: cst.BaseExpression) -> cst.BaseExpression:
        c = c.with_changes(lpar=[], rpar=[]) if getattr(c, "lpar", None) else c
        inner = code(c) if is_boolean(c) else f"{code(atom(c))} != 0"
        return expr(f"int(({inner}).sum())")

    def _numel_of(self, node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
        if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "numel" and not node.args):
            return self._nonzero_arg(node.func.value)
        return None

    def _mark(self, node: cst.BaseExpression) -> None:
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            node = node.expression
        if self._numel_of(node) is not None:
            self.truthy.add(id(node))

    def visit_If(self, node: cst.If) -> None:
        self._mark(node.test)

    def visit_While(self, node: cst.While) -> None:
        self._mark(node.test)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._mark(node.test)

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self._mark(node.left)
        self._mark(node.right)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if len(node.comparisons) == 1 and code(node.comparisons[0].comparator) == "0":
            self._mark(node.left)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = original.func
        if isinstance(func, cst.Name) and func.value == "len" and len(original.args) == 1:
            c = self._nonzero_arg(original.args[0].value)
            if c is not None:
                self.fix(original, "len(nonzero(c)) -> int(c.sum())")
                return self._count(c)
        if isinstance(func, cst.Attribute) and func.attr.value == "size" and len(original.args) == 1 \
                and code(original.args[0].value) == "0":
            c = self._nonzero_arg(func.value)
            if c is not None:
                self.fix(original, "nonzero(c).size(0) -> int(c.sum())")
                return self._count(c)
        c = self._numel_of(original)
        if c is not None:
            if id(original) in self.truthy:
                self.fix(original, "nonzero(c).numel() used as a truth value -> int(c.sum())")
                return self._count(c)
            self.report(original, "nonzero(c).numel() counts elements x dims: use int(c.sum()) "
                                  "(times c.dim() if needed) by hand")
        return updated

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
        if (isinstance(original.value, cst.Attribute) and original.value.attr.value == "shape"
                and len(original.slice) == 1 and code(original.slice[0]) == "0"):
            c = self._nonzero_arg(original.value.value)
            if c is not None:
                self.fix(original, "nonzero(c).shape[0] -> int(c.sum())")
                return self._count(c)
        return updated


class NonzeroCountRule(Rule):
    ID = "NPU303"
    DESCRIPTION = "rewrite counts via nonzero (len(), .size(0), .shape[0], truthy .numel()) to int(mask.sum())"
    FIXABLE = True
    TRIGGERS = ("nonzero",)
    Transformer = _NonzeroCount
