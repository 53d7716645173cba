"""NPU107: report NMS, RoI, IoU and bbox-coder ops that have a torch_npu fused twin, and LayerNorm over several dims.

Upstream idiom::

    dets, keep = batched_nms(bboxes, scores, labels, nms_cfg)
    ious = bbox_overlaps(gt_bboxes, bboxes)
    giou = generalized_box_iou(box_cxcywh_to_xyxy(src), box_cxcywh_to_xyxy(tgt))
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0])
    self.norm = nn.LayerNorm([channels, 1, 1])
    x = F.layer_norm(x, x.shape[1:])

Reported, not changed: torch_npu has one fused kernel for each of these (the twin's name is in the message,
from `data/npu_ops.json`): torch_npu.npu_batch_nms, npu_nms_v4, npu_roi_align, npu_iou, npu_giou,
npu_bounding_box_encode / npu_bounding_box_decode. Their inputs and outputs differ from the upstream
functions (box formats, fixed output counts, padding), so switching is a decision for the port; on cpu and
cuda the upstream code stays right. A LayerNorm whose normalized_shape spans several dims (a list or tuple of
more than one, or `x.shape[k:]`) is reported: Ascend's LayerNorm kernel is fused over the last dim; the same
maths over one flattened dim (`x.flatten(-k)`, weight and bias reshaped) runs on it.

Why: without these, a detector on the NPU runs NMS, IoU and box coding as chains of small ops with
data-dependent shapes, and LayerNorm over several dims as a slow composite.
"""

from __future__ import annotations

import functools
import re
from typing import Optional

import libcst as cst

from npuport.rewriters._util import data, dotted, keyword
from npuport.rewriters.base import Rule, RuleTransformer

#: receivers that are compiled modules (NPU106's sites), not the Python ops
_COMPILED = ("ext_module", "_cuda", "_cpu")


def _dims(node: cst.BaseExpression) -> Optional[str]:
    """How many dims a normalized_shape evidently spans when more than one ('2', 'k:'); None otherwise."""
    if isinstance(node, (cst.List, cst.Tuple)) and len(node.elements) > 1:
        return str(len(node.elements))
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        value = node.value.func if isinstance(node.value, cst.Call) else node.value
        if (isinstance(index, cst.Slice) and index.upper is None and index.lower is not None
                and isinstance(value, cst.Attribute) and value.attr.value in ("shape", "size")):
            lower = cst.Module(body=[]).code_for_node(index.lower)
            return None if lower == "-1" else f"[{lower}:]"
    return None


class _FusedOps(RuleTransformer):
    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func) or ""
        last = name.rsplit(".", 1)[-1]
        if last in ("LayerNorm", "layer_norm"):
            self._layer_norm(node, last)
            return
        if last == "dict":
            for arg in node.args:
                if keyword(arg) == "type" and isinstance(arg.value, cst.SimpleString):
                    kind = arg.value.value.strip("'\"")
                    if kind in data("npu_ops")["twins"] and kind[:1].isupper():
                        self.report(node, f"{kind} in a config: torch_npu's fused twin is "
                                          f"{data('npu_ops')['twins'][kind]} (its inputs and outputs differ)")
            return
        twin = data("npu_ops")["twins"].get(last)
        if twin is None or twin.startswith("torch.nn") or "." in name and name.rsplit(".", 2)[-2].endswith(_COMPILED):
            return
        self.report(node, f"{last}(...): torch_npu's fused twin is {twin} (its inputs and outputs differ: "
                          "switch by hand where the NPU path matters)")

    def _layer_norm(self, node: cst.Call, last: str) -> None:
        position = 0 if last == "LayerNorm" else 1
        shape = next((a.value for a in node.args if keyword(a) == "normalized_shape"), None)
        if shape is None and len(node.args) > position and not node.args[position].keyword:
            shape = node.args[position].value
        dims = None if shape is None else _dims(shape)
        if dims is not None:
            self.report(node, f"{last} over several dims ({dims}): Ascend's LayerNorm kernel is fused over the "
                              "last dim; normalise one flattened dim (x.flatten(-k), weight/bias reshaped) instead")


class NpuFusedOpsRule(Rule):
    ID = "NPU107"
    DESCRIPTION = ("report NMS / RoIAlign / IoU / bbox-coder calls with a torch_npu fused twin (named), and "
                   "LayerNorm over several dims")
    FIXABLE = False
    TRIGGERS = ("nms(", "roi_align(", "RoIAlign", "bbox_overlaps(", "BboxOverlaps2D", "box_iou(", "DeltaXYWHBBoxCoder",
                "delta2bbox(", "bbox2delta(", "DeformConv", "deform_conv2d(", "LayerNorm(", "layer_norm(")
    Transformer = _FusedOps

    def wants(self, source: str) -> bool:
        """A twin's name called (not `fast_nms(`), a config's `type='...'`, or a LayerNorm: name by name with
        str.find (one regex alternating every name, led by a lookbehind, is slow to search)."""
        if not any(t in source for t in self.TRIGGERS):
            return False
        if "LayerNorm(" in source or "layer_norm(" in source:
            return True
        return any(_called(source, name) or (name[:1].isupper() and name in source and _config(name).search(source))
                   for name in _TWINS)


_TWINS = sorted(data("npu_ops")["twins"])
_WORD = re.compile(r"\w")


def _called(source: str, name: str) -> bool:
    """`name(` not after a word character (not `fast_nms(`)."""
    at = source.find(name + "(")
    while at >= 0:
        if at == 0 or not _WORD.match(source[at - 1]):
            return True
        at = source.find(name + "(", at + 1)
    return False


@functools.lru_cache(maxsize=None)
def _config(name: str) -> "re.Pattern[str]":
    """A config entry naming the twin: `type='name'`."""
    return re.compile(rf"type\s*=\s*['\"]{name}['\"]")
