"""Mask slots per batch: which of a batch's sampled positives the mask head runs on, in a fixed number of rows.

A static sampler (gcnet's `static-sampler`) hands every image the same number of positive slots, its
positives first in random order and a mask saying which slots hold one. Running the mask head on every slot
of every image costs (images x slots) RoIs whatever the positives; :func:`select` keeps `slots` rows for the
whole batch instead: the valid slots first, each image's in the sampler's (random) order, the images taking
turns (round-robin by rank), so when the batch has at most `slots` positives every one of them is kept (the
same mask loss as the dynamic tree's); beyond that each image keeps a uniform random subset of its positives,
the images sharing the rows evenly (an image with fewer positives leaves its share to the others).
One top-k over a float key: no data-dependent shape, no host read, no int64 arithmetic.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from npuport.errors import UsageError
from npuport.runtime.portable import is_npu
from npuport.runtime.roi_align import pool_taps, roi_align


OPTION = "model.train_cfg.rcnn.mask_pos_slots"  # as --cfg-options sets it in an mmdet 2.x config
OPTIONS = (OPTION, "train_cfg.rcnn.mask_pos_slots")  # mmdet 2.x, then 0.x / 1.x (train_cfg at the top level)


def select(sampling_results: Sequence[Any], slots: int,
           option: str = OPTION) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick the batch's mask rows: (rows, image, labels), each of length min(slots, images x positive slots).

    `rows` index the images' positive slots concatenated; `image` (int32) says whose each row is; `labels` are
    the slots' gt labels, -1 where a row holds no positive (the static mask loss leaves those out). `option` is
    how --cfg-options sets the slot count (mmdet 0.x keeps train_cfg at the config's top level).
    """
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise UsageError(f"train_cfg.rcnn.mask_pos_slots: {slots!r} is not a row count; give a whole number >= 1 "
                         f"(--cfg-options {option}=N)")
    masks = [res.pos_mask for res in sampling_results]
    per_image = masks[0].numel()
    if any(m.numel() != per_image for m in masks):
        raise ValueError(f"mask slots: every image needs the same number of positive slots, got "
                         f"{[m.numel() for m in masks]}")
    device = masks[0].device
    # valid slots in (1, 2], the others in (-1, 0]; within each, rank 0 (the sampler's first) of every image
    # first: ties across images, so the images take turns
    rank = torch.arange(per_image, device=device, dtype=torch.float32) / per_image
    key = torch.cat([m.to(torch.float32) * 2 - rank for m in masks])
    _, rows = key.topk(min(slots, key.numel()))
    image = torch.arange(len(masks), device=device, dtype=torch.int32)[:, None].expand(len(masks), per_image)
    image = image.reshape(-1)[rows]
    labels = torch.cat([res.pos_gt_labels for res in sampling_results])[rows]
    return rows, image, labels


def batch_slots(sampling_results: Sequence[Any], gt_masks: Sequence[Any], slots: int,
                option: str = OPTION) -> Tuple[torch.Tensor, torch.Tensor, List[Any], torch.Tensor]:
    """The mask head's rows for a batch: (rois (rows, 5), labels, per-image results, image).

    Rows without a positive are empty boxes (RoIAlign reads no pixel for them; the mask loss leaves them out).
    The per-image results are shallow copies of each image's sampling result holding all the selected rows as
    its positives, the other images' rows as empty boxes and the gt indices clamped into the image's gt count:
    mmdet's mask targets of each image are computed for every row (only its own read pixels), and
    :func:`blend_targets` keeps each row's from its own image. Each copy's `pos_mask` says which rows hold a
    positive of its image, so a host-side target (mmdet 0.x's crops) can skip the others.
    """
    rows, image, labels = select(sampling_results, slots, option)
    boxes = torch.cat([res.pos_bboxes for res in sampling_results])[rows]
    gt_inds = torch.cat([res.pos_assigned_gt_inds for res in sampling_results])[rows]
    real = labels >= 0
    boxes = boxes * real[:, None].to(boxes.dtype)
    kept = []
    for i, (res, masks) in enumerate(zip(sampling_results, gt_masks)):
        res = copy.copy(res)
        own = image == i
        res.pos_bboxes = boxes * own[:, None].to(boxes.dtype)  # the other images' rows: empty boxes
        res.pos_mask = own & real
        res.pos_assigned_gt_inds = gt_inds.clamp(max=max(len(masks) - 1, 0))
        kept.append(res)
    rois = torch.cat([image[:, None].to(boxes.dtype), boxes], dim=1)
    return rois, labels, kept, image


def usage(labels: torch.Tensor, sampling_results: Sequence[Any]) -> Dict[str, torch.Tensor]:
    """What a static step logs beside its losses (npuport.contract.ROW_KEYS, in the losses' one host read): the
    rows that held a positive, and the batch's positives (more than the rows: the rest were left out)."""
    positives = torch.stack([res.pos_mask.sum(dtype=torch.float32) for res in sampling_results]).sum()
    return {"mask_rows": (labels >= 0).sum(dtype=torch.float32), "mask_positives": positives}


def configured(cfg: Any) -> Optional[Tuple[str, int]]:
    """(option, rows) of a config whose mask head runs on fixed rows per batch (`mask_pos_slots`), else None."""
    for option in OPTIONS:
        node = cfg
        for key in option.split("."):
            node = node.get(key) if hasattr(node, "get") else None
        if isinstance(node, int) and not isinstance(node, bool):
            return option, node
    return None


def blend_targets(targets: torch.Tensor, image: torch.Tensor, images: int) -> torch.Tensor:
    """Each row's mask target from its own image, out of the (images x rows, ...) targets of the per-image results."""
    per = targets.view(images, -1, *targets.shape[1:])
    out = per[0]
    for i in range(1, images):
        out = torch.where((image == i).view(-1, *[1] * (per.dim() - 2)), per[i], out)
    return out


def batch_targets(rois: torch.Tensor, kept: Sequence[Any], image: torch.Tensor, gt_masks: Sequence[Any],
                  mask_size: Any) -> Optional[torch.Tensor]:
    """The batch's mask targets in one pass: one RoIAlign for all the rows.

    The numbers of mmdet's per-image `mask_target` on :func:`batch_slots`' results (as gcnet's
    `static-mask-target` computes it: the gt masks gathered, cast to float and cropped by RoIAlign, sampling
    ratio 0, aligned) blended by :func:`blend_targets`, which gathered and cast every row's mask once per image.
    On a CPU (or GPU) the RoIAlign reads each row's taps straight from its gt's uint8 mask (`pool_taps`), so no
    mask is gathered or cast whole; on an NPU the rows' masks are gathered and cast once.
    `rois` and `kept` are :func:`batch_slots`' (boxes and, per image, the gt indices clamped into its count).
    None when the images' masks are not all non-empty bitmaps of one size (`.masks` an (n, H, W) array): then
    the per-image targets and :func:`blend_targets`.
    """
    arrays = [getattr(masks, "masks", None) for masks in gt_masks]
    if not arrays or not all(isinstance(a, np.ndarray) and a.ndim == 3 and len(a) for a in arrays):
        return None
    if len({(masks.height, masks.width, *a.shape[1:]) for masks, a in zip(gt_masks, arrays)}) != 1:
        return None
    height, width = gt_masks[0].height, gt_masks[0].width
    device = rois.device
    gt = kept[0].pos_assigned_gt_inds
    for i in range(1, len(kept)):
        gt = torch.where(image == i, kept[i].pos_assigned_gt_inds, gt)
    first = torch.tensor(np.cumsum([0] + [len(a) for a in arrays[:-1]]), dtype=torch.int32, device=device)
    index = first.index_select(0, image) + gt.to(torch.int32)  # the row's gt among the batch's masks
    xs = rois[:, [1, 3]].clamp(0, width)
    ys = rois[:, [2, 4]].clamp(0, height)
    masks = torch.cat([torch.from_numpy(a) for a in arrays]).to(device)
    size = tuple(mask_size) if isinstance(mask_size, (tuple, list)) else (mask_size, mask_size)
    if is_npu(masks):  # npu_roi_align takes a float input: the rows' masks gathered and cast, once
        boxes = torch.stack([torch.arange(rois.size(0), device=device).to(xs.dtype), xs[:, 0], ys[:, 0], xs[:, 1],
                             ys[:, 1]], dim=1)
        masks = masks.index_select(0, index).to(boxes.dtype)
        targets = roi_align(masks[:, None], boxes, size, 1.0, 0, True)
    else:  # each row pooled straight from its gt's uint8 mask: only the taps are read and cast
        boxes = torch.stack([index.to(xs.dtype), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)
        targets = pool_taps(masks[:, None], boxes, size, 1.0, 0, True)
    return (targets.squeeze(1) >= 0.5).float()
