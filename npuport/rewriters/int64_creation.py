"""NPU201: report int64 label/index tensors created with new_full/new_zeros/torch.full (report only).

Upstream idiom::

    labels = anchors.new_full((num_anchors,), self.num_classes, dtype=torch.long)
    assigned = overlaps.new_zeros((num_bboxes,), dtype=torch.long)

What an Ascend port does::

    labels = anchors.new_full((num_anchors,), self.num_classes, dtype=torch.int32)

Why: many Ascend kernels (compare, gather, scatter, where on AI Core) are int32-only, so int64 label and
index tensors fall back to the AI CPU or add casts on every step. The change is not made for you: the same
tensor often reaches F.cross_entropy or nll_loss, which need int64 targets on cpu and cuda, and indexing
semantics differ with int32 on old torch. Reported: x.new_full / x.new_zeros / x.new_ones / torch.full /
torch.zeros / torch.ones with dtype=torch.long or torch.int64; and int64 by inheritance, without a dtype:
`inds.new_full(...)`, `inds.new_zeros(...)`, `torch.full_like(inds, ...)`, `torch.arange(n,
device=inds.device)`... where `inds` is an index tensor from earlier in the function (nonzero, argmax,
argsort, topk's indices, .long(), a dtype=torch.long creation)::

    inds = (labels > 0).nonzero().squeeze(1)
    targets = inds.new_zeros(n)                 # int64, like inds
"""

from __future__ import annotations

import re

import libcst as cst

from npuport.rewriters._kinds import INT64, NONZERO, KindTracker
from npuport.rewriters._util import dotted
from npuport.rewriters.base import Rule

_METHODS = {"new_full", "new_zeros", "new_ones"}
_FUNCTIONS = {"torch.full", "torch.zeros", "torch.ones"}
#: creations that take their dtype from a tensor: x.new_*(...) and torch.*_like(x, ...)
_INHERIT_METHODS = {"new_full", "new_zeros", "new_ones", "new_empty", "new_tensor"}
_LIKE = {"torch.full_like", "torch.zeros_like", "torch.ones_like", "torch.empty_like"}


class _Int64Creation(KindTracker):
    def _index(self, node: cst.BaseExpression) -> str:
        """The name of an index tensor (int64), or ''."""
        return node.value if isinstance(node, cst.Name) and self.kind(node) in (INT64, NONZERO) else ""

    def _inherits(self, node: cst.Call, name: str) -> None:
        if any(arg.keyword is not None and arg.keyword.value == "dtype" for arg in node.args):
            return
        func = node.func
        source, what = "", ""
        if isinstance(func, cst.Attribute) and func.attr.value in _INHERIT_METHODS:
            source, what = self._index(func.value), f"{dotted(func.value)}.{func.attr.value}"
        elif name in _LIKE and node.args and node.args[0].keyword is None:
            source, what = self._index(node.args[0].value), name
        elif name == "torch.arange":
            for arg in node.args:
                value = arg.value
                if arg.keyword is not None and arg.keyword.value == "device" and isinstance(value, cst.Attribute) \
                        and value.attr.value == "device":
                    source, what = self._index(value.value), name
        if source:
            self.report(node, f"{what}(...) without a dtype is int64, inherited from the index tensor {source}: "
                              "slow or unsupported in Ascend kernels; give dtype=torch.int32 where no int64 "
                              "consumer follows")

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func) or ""
        self._inherits(node, name)
        is_method = isinstance(node.func, cst.Attribute) and node.func.attr.value in _METHODS
        if not (is_method or name in _FUNCTIONS):
            return
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "dtype" and dotted(arg.value) in (
                    "torch.long", "torch.int64"):
                what = node.func.attr.value if is_method else name  # type: ignore[union-attr]
                self.report(node, f"{what}(..., dtype={dotted(arg.value)}): int64 labels/indices are slow or "
                                  "unsupported in Ascend kernels; use torch.int32 where no int64 consumer follows")


class Int64CreationRule(Rule):
    ID = "NPU201"
    DESCRIPTION = ("report int64 label/index creation (new_full/new_zeros/new_ones/torch.full/zeros/ones with "
                   "dtype=torch.long, or without a dtype from an index tensor); report only: cpu/cuda losses need "
                   "int64 targets")
    FIXABLE = False
    TRIGGERS = ("torch.long", "torch.int64", "nonzero", "argmax", "argmin", "argsort", "topk", ".long()", "sort(",
                "max(", "min(", "kthvalue", "mode(", "median(")
    Transformer = _Int64Creation

    def wants(self, source: str) -> bool:
        """dtype=torch.long, or an index tensor's source and a creation that would inherit from it."""
        if "torch.long" in source or "torch.int64" in source:
            return True
        return super().wants(source) and _INHERITING.search(source) is not None


_INHERITING = re.compile(r"\.new_(?:full|zeros|ones|empty|tensor)\(|_like\(|arange\(")
