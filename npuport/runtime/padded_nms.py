"""NMS with a fixed output size: the kept boxes first, padded to `max_num`, and a mask of the real ones.

The NPU runs it as one kernel, ``torch_npu.npu_nms_v4(..., pad_to_max_output_size=True)``, whose
outputs have the same shape whatever the data keeps; elsewhere the portable greedy NMS of
:mod:`npuport.runtime.ops` keeps the same boxes and the result is padded. A census counts it as that one
static kernel. A training step that takes proposals from it sees the same shapes every iteration.
"""
from __future__ import annotations

from typing import Tuple

import torch

from npuport.runtime import census
from npuport.runtime.boxes import greedy_nms
from npuport.runtime.portable import is_npu, torch_npu_module


def nms_padded(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_num: int, offset: int = 0
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices of the kept boxes, highest score first, padded with 0 to `max_num`; and which are real.

    A custom op (``npuport::nms_padded``): torch.compile sees one node with fixed output shapes.
    """
    if max_num <= 0:
        raise ValueError(f"padded NMS needs a positive max_num, got {max_num}")
    keep, valid = _nms_padded_op(boxes, scores, float(iou_threshold), int(max_num), int(offset))
    return keep, valid


@torch.library.custom_op("npuport::nms_padded", mutates_args=())
def _nms_padded_op(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_num: int, offset: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    if is_npu(boxes):
        return _nms_padded_npu(boxes, scores, float(iou_threshold), int(max_num), int(offset))
    with census.kernel("npu_nms_v4", (boxes, scores)):  # one NPU kernel with a fixed output size
        if boxes.numel():
            keep = greedy_nms(boxes, scores, float(iou_threshold), int(offset))[:max_num]
        else:
            keep = boxes.new_empty((0,), dtype=torch.long)
        valid = torch.arange(max_num, device=boxes.device) < keep.numel()
        return torch.cat([keep, keep.new_zeros(max_num - keep.numel())]), valid


@_nms_padded_op.register_fake
def _(boxes, scores, iou_threshold, max_num, offset):  # noqa: ANN001
    return boxes.new_empty((max_num,), dtype=torch.long), boxes.new_empty((max_num,), dtype=torch.bool)


def _nms_padded_npu(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_num: int, offset: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    npu = torch_npu_module()
    if offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + offset], dim=1)
    iou = torch.tensor(iou_threshold, dtype=boxes.dtype, device=boxes.device)
    floor = torch.tensor(0.0, dtype=boxes.dtype, device=boxes.device)
    selected, count = npu.npu_nms_v4(boxes, scores, max_num, iou, floor, True)
    valid = torch.arange(max_num, device=boxes.device) < count.to(torch.int32)
    return torch.where(valid, selected, selected.new_zeros(())).long(), valid


def batched_nms_padded(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float, max_num: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """mmcv's batched_nms (boxes of different `idxs` never suppress each other) with a fixed output.

    Returns `dets` (max_num, 5): the kept boxes and their scores, highest first, then padding rows; and
    the mask of real rows. The padding rows repeat box 0 (callers blend them with what they need).
    """
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    keep, valid = nms_padded(boxes + offsets[:, None], scores, iou_threshold, max_num)
    return torch.cat([boxes[keep], scores[keep, None]], dim=1), valid
