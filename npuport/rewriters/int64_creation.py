"""NPU201: report int64 label/index tensors created with new_full/new_zeros/torch.full (report only).

Upstream idiom::

    labels = anchors.new_full((num_anchors,), self.num_classes, dtype=torch.long)
    assigned = overlaps.new_zeros((num_bboxes,), dtype=torch.long)

What an Ascend port does::

    labels = anchors.new_full((num_anchors,), self.num_classes, dtype=torch.int32)

Why: many Ascend kernels (compare, gather, scatter, where on AI Core) are int32-only, so int64 label and
index tensors fall back to the AI CPU or add casts on every step. The change is not made for you: the same
tensor often reaches F.cross_entropy or nll_loss, which need int64 targets on cpu and cuda, and indexing
semantics differ with int32 on old torch. Only these call shapes are reported: x.new_full / x.new_zeros /
x.new_ones / torch.full / torch.zeros / torch.ones with dtype=torch.long or torch.int64.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import dotted
from npuport.rewriters.base import Rule, RuleTransformer

_METHODS = {"new_full", "new_zeros", "new_ones"}
_FUNCTIONS = {"torch.full", "torch.zeros", "torch.ones"}


class _Int64Creation(RuleTransformer):
    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func) or ""
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
                   "dtype=torch.long); report only: cpu/cuda losses need int64 targets")
    FIXABLE = False
    TRIGGERS = ("torch.long", "torch.int64")
    Transformer = _Int64Creation
