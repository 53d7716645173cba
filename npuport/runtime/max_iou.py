"""MaxIoUAssigner's passes over its (gts, boxes) IoU matrix, a block of boxes at a time, for a CPU.

With the ground truth padded to a fixed count (gcnet's `static-gt-padding`: 100 gts) the RPN's assigner works
on a 100 x 160k matrix an image at 800x800, and each of its intermediates (the IoU's corners, widths, areas;
the maxima; the low-quality claims) is a 16M-element pass through memory. Here every pass works on a block of
4096 boxes at a time, so its intermediates stay in the cache; only the IoU matrix itself goes through memory,
written once and read by the maxima and by the claims. The numbers are those of the single call (`torch.equal`): the
same IEEE operations on the same elements, the maxima combined so that a tie keeps the first index, as
`Tensor.max(dim)` does. Called by gcnet's `static-assign-chunks` on a CPU only; an NPU or GPU keeps the
single call (one kernel each, static shapes).
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch

CHUNK = 4096  # boxes per block: 100 gts x 4096 float32 = 1.6 MB, within a core's cache


def overlaps(calculator: Callable[..., torch.Tensor], gt_bboxes: torch.Tensor, bboxes: torch.Tensor,
             chunk: int = CHUNK) -> torch.Tensor:
    """The (gts, boxes) IoU matrix `calculator(gt_bboxes, bboxes)`, a block of boxes at a time.

    mmdet's plain `BboxOverlaps2D` (no attributes of its own, as in mmdet 2.x before its fp16 options) is
    computed here, one coordinate at a time so every operation runs along the boxes; it is mmdet's
    `bbox_overlaps(mode='iou', eps=1e-6)` operation for operation. Any other calculator is called per block.
    """
    out = gt_bboxes.new_empty((gt_bboxes.size(0), bboxes.size(0)))
    if not (type(calculator).__name__ == "BboxOverlaps2D" and not vars(calculator)):
        for start in range(0, bboxes.size(0), chunk):
            out[:, start:start + chunk] = calculator(gt_bboxes, bboxes[start:start + chunk])
        return out
    gts = gt_bboxes[:, :4]
    boxes = bboxes[:, :4].t().contiguous()  # (4, boxes): each coordinate contiguous along the boxes
    gt_area = ((gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1]))[:, None]
    box_area = (boxes[2] - boxes[0]) * (boxes[3] - boxes[1])
    eps = gts.new_tensor([1e-6])
    gts = gts[:, :, None]  # (gts, 4, 1) against a block's (1, boxes)
    for start in range(0, bboxes.size(0), chunk):
        block = boxes[:, start:start + chunk]
        width = (torch.min(gts[:, 2], block[None, 2]) - torch.max(gts[:, 0], block[None, 0])).clamp(min=0)
        height = (torch.min(gts[:, 3], block[None, 3]) - torch.max(gts[:, 1], block[None, 1])).clamp(min=0)
        overlap = width * height
        union = torch.max(gt_area + box_area[None, start:start + chunk] - overlap, eps)
        torch.div(overlap, union, out=out[:, start:start + chunk])
    return out


def maxima(overlaps: torch.Tensor, chunk: int = CHUNK) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`overlaps.max(dim=0)` and `overlaps.max(dim=1)`, values and indices, a block of boxes at a time.

    The gts' indices come as int32 (the blocks' offsets added in int32: no int64 arithmetic, which many NPU
    kernels lack and a census counts); the boxes' as `max` gives them.
    """
    gts, boxes = overlaps.shape
    box_max = overlaps.new_empty(boxes)
    box_arg = torch.empty(boxes, dtype=torch.long, device=overlaps.device)
    gt_max = gt_arg = None
    for start in range(0, boxes, chunk):
        block = overlaps[:, start:start + chunk]
        box_max[start:start + chunk], box_arg[start:start + chunk] = block.max(dim=0)
        value, index = block.max(dim=1)
        index = index.to(torch.int32)
        if gt_max is None:
            gt_max, gt_arg = value, index
        else:  # a later block wins only when strictly larger: a tie keeps the first index
            larger = value > gt_max
            gt_max = torch.where(larger, value, gt_max)
            gt_arg = torch.where(larger, index + start, gt_arg)
    return box_max, box_arg, gt_max, gt_arg


def last_claims(overlaps: torch.Tensor, gt_max: torch.Tensor, gt_arg: torch.Tensor, min_pos_iou: float,
                assign_all: bool, chunk: int = CHUNK) -> torch.Tensor:
    """For each box, the last gt (numbered from 1, int32) whose best box it is, 0 for none, a block at a time.

    As the static assigner's low-quality match: a gt claims the boxes at its maximum IoU (`assign_all`) or
    its first best box, when that maximum is at least `min_pos_iou`; a box claimed by several keeps the last.
    """
    gts, boxes = overlaps.shape
    qualified = (gt_max >= min_pos_iou)[:, None]
    # a gt below min_pos_iou claims nothing: its maximum as NaN, which equals no IoU (one pass less a block)
    wanted = torch.where(qualified, gt_max[:, None], torch.full_like(qualified, float("nan"), dtype=gt_max.dtype))
    numbers = torch.arange(1, gts + 1, device=overlaps.device, dtype=torch.int32)[:, None]
    last = torch.empty(boxes, dtype=torch.int32, device=overlaps.device)
    for start in range(0, boxes, chunk):
        if assign_all:
            claims = overlaps[:, start:start + chunk] == wanted
        else:
            end = min(start + chunk, boxes)
            claims = torch.arange(start, end, device=overlaps.device, dtype=gt_arg.dtype)[None, :] == gt_arg[:, None]
            claims = claims & qualified
        last[start:start + chunk] = torch.where(claims, numbers, 0).amax(dim=0)
    return last

