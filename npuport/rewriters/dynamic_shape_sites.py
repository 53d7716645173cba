"""NPU301: report dynamic-shape sites (report only).

Upstream idioms reported::

    pos_inds = (labels > 0).nonzero().squeeze(1)        # nonzero / torch.nonzero
    idx = torch.where(mask)                             # torch.where with one argument
    pos_scores = scores[scores > thr]                   # boolean-mask indexing with a comparison
    vals = x.masked_select(m); cls = labels.unique()    # masked_select / unique
    inds = (labels == c).nonzero().view(-1)             # reshape(-1) of one of these: one site

Why: the Ascend graph compiler builds a kernel per input shape. An op whose output size depends on the
data recompiles (or falls back to the AI CPU) on every new size, which is the main cause of slow NPU
ports. Rewrite to fixed-size forms (masks, torch.where(c, a, b), sums) where the shapes allow it.

Heuristics, to keep noise low: a `.nonzero()` directly indexed with an integer (`m.nonzero()[0]`) is
numpy's idiom and skipped, as are calls on a name bound to numpy (`np.nonzero`, `np.unique`); boolean
indexing is reported only when the index is evidently boolean (a comparison, ~/&/| of comparisons,
x.gt(...)-style calls, or a name assigned from one of those earlier in the function: `keep = s > t; x[keep]`);
a gather with indices from nonzero (`x[inds]`, `x.index_select(0, inds)` after `inds = m.nonzero()...`)
is reported too, as the consumer whose shape follows; indexing a numpy array (a name assigned from np.* or
.numpy(), or any name in a module that does not import torch) is not. `view(-1)`/`reshape(-1)` is only
data dependent on one of the above and is reported as part of it. Masked assignment (`x[m] = v`) belongs to NPU302.
"""

from __future__ import annotations

import re

import libcst as cst

from npuport.rewriters._kinds import MASK, NONZERO, NUMPY, KindTracker, indexes_with, mask_names
from npuport.rewriters._util import dotted, is_boolean, module_aliases
from npuport.rewriters.base import Rule

_METHODS = {"nonzero", "masked_select", "unique", "unique_consecutive"}


class _DynamicShapes(KindTracker):
    def visit_Module(self, node: cst.Module) -> None:
        super().visit_Module(node)
        self.numpy = module_aliases(node, "numpy") | {"np", "numpy"}
        self.skip: set[int] = set()
        self.stores: set[int] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self.stores.add(id(target.target))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.stores.add(id(node.target))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if (len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
                and isinstance(node.slice[0].slice.value, cst.Integer) and isinstance(node.value, cst.Call)):
            self.skip.add(id(node.value))  # x.nonzero()[0]: numpy
            return
        if id(node) in self.stores or len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return
        index = node.slice[0].slice.value
        if is_boolean(index):
            self.report(node, "boolean-mask indexing x[mask] has a data-dependent shape; keep the mask "
                              "(torch.where / masked_fill / multiply by mask) instead")
        elif isinstance(index, cst.Name) and self.uses_torch and self.kind(node.value) != NUMPY:
            self._gather(node, index, f"x[{index.value}]")

    def _gather(self, node: cst.CSTNode, index: cst.Name, what: str) -> None:
        kind = self.kind(index)
        if kind == MASK:
            self.report(node, f"{what} with {index.value} a boolean mask built earlier: data-dependent shape; "
                              "keep the mask (torch.where / masked_fill / multiply by mask) instead")
        elif kind == NONZERO:
            self.report(node, f"{what} gathers with indices from nonzero: its shape follows the data; "
                              "gather a fixed count (top-k, padded indices) with a validity mask")

    def visit_Call(self, node: cst.Call) -> None:
        if id(node) in self.skip:
            return
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("view", "reshape") and node.args:
            first = node.args[0].value
            if isinstance(first, cst.UnaryOperation) and isinstance(first.operator, cst.Minus):
                if isinstance(func.value, cst.Call) and self._dynamic(func.value):
                    self.skip.add(id(func.value))
                    self.report(node, f"{self._dynamic(func.value)}(...).{func.attr.value}(-1): data-dependent "
                                      "shape; recompiles per size on NPU")
            return
        if self.uses_torch and isinstance(func, cst.Attribute) and func.attr.value == "index_select" \
                and len(node.args) >= 2 and isinstance(node.args[-1].value, cst.Name):
            self._gather(node, node.args[-1].value, f"index_select(..., {node.args[-1].value.value})")
        what = self._dynamic(node)
        if what:
            self.report(node, f"{what}(...) has a data-dependent output shape; recompiles per size on NPU "
                              "(use a mask, torch.where(c, a, b) or a sum)")

    def _dynamic(self, node: cst.Call) -> str:
        func = node.func
        name = dotted(func) or ""
        if name.split(".")[0] in self.numpy:
            return ""
        if name == "torch.where":
            return "torch.where" if len(node.args) == 1 else ""
        if isinstance(func, cst.Attribute) and func.attr.value in _METHODS:
            return name if name.startswith("torch.") else func.attr.value
        return ""


class DynamicShapeSitesRule(Rule):
    ID = "NPU301"
    DESCRIPTION = ("report dynamic-shape sites: nonzero, torch.where(cond), boolean-mask indexing, "
                   "masked_select, unique (report only)")
    FIXABLE = False
    TRIGGERS = ("nonzero", "where(", "masked_select", "unique", "[")
    Transformer = _DynamicShapes

    def wants(self, source: str) -> bool:
        """The sites' own words, a comparison in brackets, or `x[keep]` with `keep` a mask built earlier."""
        if not any(t in source for t in self.TRIGGERS):
            return False
        return (any(word in source for word in _WORDS) or _INLINE_MASK.search(source) is not None
                or indexes_with(source, mask_names(source)))


_WORDS = ("nonzero", "torch.where(", "masked_select", "unique")
_INLINE_MASK = re.compile(r"\[[^\]\n]*(?:[<>~]|==|!=|\.(?:gt|lt|ge|le|eq|ne|bool)\()")
