"""Portable NMS and IoU (mmcv's `_ext.nms`, `_ext.bbox_overlaps`): pure PyTorch on cpu / cuda, torch_npu on an NPU."""
from __future__ import annotations

from typing import Any, List

import torch

from npuport.runtime import census
from npuport.runtime.portable import is_npu, torch_npu_module

# rows of the IoU matrix computed at once by nms (bounds its memory to CHUNK x N)
NMS_CHUNK = 2048


def _iou_rows(boxes: torch.Tensor, areas: torch.Tensor, rows: slice, offset: int) -> torch.Tensor:
    """IoU of boxes[rows] against all boxes, with mmcv's `offset` (+1 pixel) convention."""
    b = boxes[rows]
    xx1 = torch.maximum(b[:, None, 0], boxes[None, :, 0])
    yy1 = torch.maximum(b[:, None, 1], boxes[None, :, 1])
    xx2 = torch.minimum(b[:, None, 2], boxes[None, :, 2])
    yy2 = torch.minimum(b[:, None, 3], boxes[None, :, 3])
    w = (xx2 - xx1 + offset).clamp(min=0)
    h = (yy2 - yy1 + offset).clamp(min=0)
    inter = w * h
    return inter / (areas[rows, None] + areas[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float = 0.5, offset: int = 0) -> torch.Tensor:
    """Greedy NMS: indices of kept boxes, highest score first (mmcv's `_ext.nms`).

    A box is dropped when its IoU with a kept, higher-scored box is >= iou_threshold.
    """
    if boxes.numel() == 0:
        return boxes.new_empty((0,), dtype=torch.long)
    if is_npu(boxes):
        return _nms_npu(boxes, scores, float(iou_threshold), int(offset))
    with census.kernel("npu_nms_v4", (boxes, scores), dynamic=True):  # one NPU kernel; how many it keeps depends on the data
        return greedy_nms(boxes, scores, float(iou_threshold), int(offset))


def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int) -> torch.Tensor:
    """The portable body of :func:`nms` (cpu or cuda, at least one box), outside any census kernel."""
    order = torch.sort(scores, descending=True, stable=True)[1]
    ordered = boxes[order]
    if ordered.dtype in (torch.float16, torch.bfloat16):
        ordered = ordered.float()
    if ordered.device.type == "cpu":
        kept = _greedy_cpu(ordered.detach().numpy(), iou_threshold, offset)
        return order[torch.from_numpy(kept)]
    return order[_greedy_matrix(ordered, iou_threshold, offset)]


def _greedy_cpu(boxes: Any, threshold: float, offset: int) -> Any:
    """Greedy suppression over score-ordered boxes, shrinking the candidate list each step."""
    import numpy as np

    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    areas = (x2 - x1 + offset) * (y2 - y1 + offset)
    rest = np.arange(boxes.shape[0])
    keep = []
    while rest.size:
        i = rest[0]
        keep.append(i)
        rest = rest[1:]
        if not rest.size:
            break
        w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + offset, 0)
        h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + offset, 0)
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        rest = rest[~(iou >= threshold)]
    return np.asarray(keep, dtype=np.int64)


def _greedy_matrix(ordered: torch.Tensor, threshold: float, offset: int) -> torch.Tensor:
    """Greedy suppression from the IoU matrix computed on the device in row chunks (cuda)."""
    areas = (ordered[:, 2] - ordered[:, 0] + offset) * (ordered[:, 3] - ordered[:, 1] + offset)
    count = ordered.size(0)
    # suppress[i, j]: box j (j > i) is dropped if box i is kept
    suppress = torch.empty((count, count), dtype=torch.bool)
    for start in range(0, count, NMS_CHUNK):
        rows = slice(start, min(start + NMS_CHUNK, count))
        suppress[rows] = (_iou_rows(ordered, areas, rows, offset) >= threshold).cpu()
    matrix = suppress.triu_(diagonal=1).numpy()
    removed = matrix[0].copy()
    removed[:] = False
    keep: List[int] = []
    for i in range(count):
        if removed[i]:
            continue
        keep.append(i)
        removed |= matrix[i]
    return torch.as_tensor(keep, dtype=torch.long, device=ordered.device)


def _nms_npu(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int) -> torch.Tensor:
    npu = torch_npu_module()
    if offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + offset], dim=1)
    iou = torch.tensor(iou_threshold, dtype=boxes.dtype, device=boxes.device)
    floor = torch.tensor(0.0, dtype=boxes.dtype, device=boxes.device)
    selected, valid = npu.npu_nms_v4(boxes, scores, boxes.size(0), iou, floor, False)
    return selected[: int(valid)].long()


def bbox_overlaps(
    bboxes1: torch.Tensor, bboxes2: torch.Tensor, ious: torch.Tensor, mode: int = 0, aligned: bool = False, offset: int = 0
) -> None:
    """IoU (mode 0) or IoF (mode 1) of two box sets, written into `ious` (mmcv's `_ext.bbox_overlaps`)."""
    if aligned:
        lt = torch.maximum(bboxes1[:, :2], bboxes2[:, :2])
        rb = torch.minimum(bboxes1[:, 2:], bboxes2[:, 2:])
    else:
        lt = torch.maximum(bboxes1[:, None, :2], bboxes2[None, :, :2])
        rb = torch.minimum(bboxes1[:, None, 2:], bboxes2[None, :, 2:])
    wh = (rb - lt + offset).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area1 = (bboxes1[:, 2] - bboxes1[:, 0] + offset) * (bboxes1[:, 3] - bboxes1[:, 1] + offset)
    area2 = (bboxes2[:, 2] - bboxes2[:, 0] + offset) * (bboxes2[:, 3] - bboxes2[:, 1] + offset)
    if not aligned:
        area1, area2 = area1[:, None], area2[None, :]
    union = area1 + area2 - inter if mode == 0 else area1.expand_as(inter)
    ious.copy_(inter / union.clamp(min=torch.finfo(inter.dtype).eps))
