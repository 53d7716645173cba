"""NPU202: cast the inputs of roi_align/roi_pool to float32.

Before::

    out = roi_align(feats, rois, self.output_size, self.spatial_scale)

After::

    out = roi_align(feats.float(), rois.float(), self.output_size, self.spatial_scale)

Why: under mixed precision the features and rois reach the ROI kernels as float16, which Ascend's
RoIAlign/RoIPool do not accept (and mmcv's own kernels need both inputs in one dtype). Casting both to
float32 is correct on every device; autocast casts the output back where it is consumed. Only direct calls
to functions named roi_align / roi_pool (any module prefix) with the two tensors as the first two
positional arguments are changed; an argument that is already `x.float()` is left as it is.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import method
from npuport.rewriters.base import Rule, RuleTransformer

_OPS = {"roi_align", "roi_pool"}


def _is_float_cast(node: cst.BaseExpression) -> bool:
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "float" and not node.args)


class _RoiFloatCast(RuleTransformer):
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        if name not in _OPS or len(updated.args) < 2:
            return updated
        args = list(updated.args)
        if any(a.keyword is not None or a.star for a in args[:2]):
            self.report(original, f"{name} called with keyword tensors: cast input and rois to float by hand")
            return updated
        if all(_is_float_cast(a.value) for a in args[:2]):
            return updated
        for i in (0, 1):
            if not _is_float_cast(args[i].value):
                args[i] = args[i].with_changes(value=method(args[i].value, "float"))
        self.fix(original, f"{name}(input, rois, ...) -> {name}(input.float(), rois.float(), ...)")
        return updated.with_changes(args=args)


class RoiFloatCastRule(Rule):
    ID = "NPU202"
    DESCRIPTION = "cast the input and rois of roi_align/roi_pool calls to float32 (fp16 ROI kernels fail on NPU)"
    FIXABLE = True
    TRIGGERS = ("roi_align(", "roi_pool(")
    Transformer = _RoiFloatCast
