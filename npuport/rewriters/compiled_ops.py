"""NPU106: calls into compiled CUDA extension ops: rewrite those npuport.runtime provides, report the rest.

Before::

    inds = ext_module.nms(boxes, scores, iou_threshold=float(iou_threshold), offset=offset)  # mmcv/ops/nms.py
    ext_module.sigmoid_focal_loss_forward(input, target, weight, output, gamma=gamma, alpha=alpha)
    from mmcv.ops import sigmoid_focal_loss

After::

    inds = npuport.runtime.ops.nms(boxes, scores, iou_threshold=float(iou_threshold), offset=offset)
    ext_module.sigmoid_focal_loss_forward(...)   # reported: no portable twin
    from mmcv.ops import sigmoid_focal_loss      # reported: a compiled CUDA kernel (torch_npu twin named if any)

Why: mmcv-full's `mmcv._ext` and mmdet 1.x's `*_cuda` modules are CUDA code that does not build or run on
an Ascend server. npuport.runtime keeps their calling conventions (same names, keyword arguments, outputs
written into the tensors passed in) for the ops in `data/npu_ops.json` (`ext_portable`):
pure PyTorch on cpu and cuda, torch_npu kernels on an NPU, so a call to one of them is rewritten and keeps its
meaning on every device. Any other compiled op is reported with its torch_npu fused twin where there is one.
An import from mmcv.ops / mmdet.ops of an op that runs on the portable ext (nms, RoIAlign, ...) is left alone.
mmdet 0.x/1.x's relative imports of its own compiled modules (`from . import nms_cuda`) are NPU607's.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import data, dotted
from npuport.rewriters.base import Rule, RuleTransformer

_OPS = "npuport.runtime.ops"


def _twin(name: str) -> str:
    twin = data("npu_ops")["twins"].get(name)
    return f"; torch_npu twin: {twin}" if twin else "; torch_npu has no fused twin under that name"


class _CompiledOps(RuleTransformer):
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (isinstance(func, cst.Attribute) and (dotted(func.value) or "").rsplit(".", 1)[-1] == "ext_module"):
            return updated
        name = func.attr.value
        if name in data("npu_ops")["ext_portable"]:
            self.fix(original, f"ext_module.{name}(...) -> {_OPS}.{name}(...) (portable, same calling convention)")
            self.need_import(_OPS)
            return updated.with_changes(func=cst.parse_expression(f"{_OPS}.{name}"))
        self.report(original, f"ext_module.{name}: a compiled CUDA op that npuport.runtime does not provide"
                              f"{_twin(name.replace('_forward', '').replace('_backward', ''))}")
        return updated

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if isinstance(updated.names, cst.ImportStar):
            return updated
        names = [alias.name.value for alias in updated.names if isinstance(alias.name, cst.Name)]
        table = data("npu_ops")
        module = "" if updated.relative or updated.module is None else dotted(updated.module) or ""
        package = next((p for p in table["ops_portable"] if module == p or module.startswith(p + ".")), None)
        if package is None:
            return updated
        cuda_only = [n for n in names if n not in table["ops_portable"][package] and not n.startswith("_")]
        if cuda_only:
            twins = "; ".join(f"{n}: {table['twins'][n]}" for n in cuda_only if n in table["twins"])
            self.report(original, f"{', '.join(cuda_only)} from {module} run compiled CUDA kernels that "
                                  f"npuport.runtime does not provide (torch_npu twins: {twins or 'none known'})")
        return updated


class CompiledOpsRule(Rule):
    ID = "NPU106"
    DESCRIPTION = ("rewrite calls into compiled CUDA ops that npuport.runtime provides (ext_module.nms, ...); "
                   "report the others and CUDA-only mmcv.ops / mmdet.ops imports")
    FIXABLE = True
    TRIGGERS = ("ext_module.", "mmcv.ops", "mmdet.ops")
    PATTERN = r"ext_module\.|from\s+(mmcv|mmdet)\.ops"
    Transformer = _CompiledOps
