"""PadGroundTruth: an mmdet data-pipeline transform (2.x, and 1.x forks such as SOLO) that pads every image's ground truth to a fixed count on
the host, so the training step's shapes never follow the object count.

Before (mmdet's loader): ``gt_bboxes`` (n, 4), ``gt_labels`` (n,), ``gt_masks`` n bitmaps (BitmapMasks in 2.x, an (n, H, W) array in 1.x), n the image's own
count; the step pads them on the device (recipes' static-gt-padding), a ``cat`` whose input shape is new for
every count not seen before, and so are the copy of the gt masks and the ops after it.
After: n real rows, then far-away empty boxes (-1e4) labelled -1 up to ``num`` (the recipe's
``train_cfg.num_gt_pad``), and as many empty masks: nothing is assigned to them (see the recipe's steps).

The masks' cost: the padded array is ``np.zeros`` (pages that stay zero are not touched on the host) with the
n real masks copied in, but a loader worker pickles all ``num`` x H x W bytes to the main process and a device
copies them (on a CPU device the step only reads the rows it gathers). An image with more than ``num`` objects
keeps its own count (a new shape, rare: COCO has 7 per image on average).

Registered in mmdet's PIPELINES when imported: name it in a config's ``custom_imports`` (npuport's drivers
import them on mmcv 0.2 too, whose Config does not). mmdet 0.x has no data pipeline (nor a PIPELINES registry):
there a recipe's dataset calls it on the same keys itself (gcnet-original's static-host-gt-padding)::

    custom_imports = dict(imports=['npuport.runtime.gt_padding'], allow_failed_imports=False)
    train_pipeline = [..., dict(type='Pad', size_divisor=32), dict(type='PadGroundTruth', num=100), ...]
"""

from __future__ import annotations

import numpy as np

try:  # mmdet 2.x
    from mmdet.core import BitmapMasks
    from mmdet.datasets.builder import PIPELINES
except ImportError:  # mmdet 1.x: masks are arrays, the registry lives elsewhere; mmdet 0.x: no pipeline at all
    BitmapMasks = None
    try:
        from mmdet.datasets.registry import PIPELINES
    except ImportError:
        PIPELINES = None

FAR = -1e4  # an empty box far outside every image: it overlaps no anchor or proposal
NO_LABEL = -1


class PadGroundTruth:
    """Pad gt_bboxes, gt_labels and gt_masks (BitmapMasks) to `num` rows; place it after Pad and every geometric
    transform, before DefaultFormatBundle."""

    def __init__(self, num: int, masks: bool = True):
        if not isinstance(num, int) or num <= 0:
            raise ValueError(f"PadGroundTruth: num must be a positive int, got {num!r}")
        self.num = num
        self.masks = masks

    def __call__(self, results: dict) -> dict:
        boxes = results["gt_bboxes"]
        count = len(boxes)
        if count > self.num:
            return results
        extra = self.num - count
        results["gt_bboxes"] = np.concatenate([boxes, np.full((extra, 4), FAR, dtype=boxes.dtype)])
        labels = results["gt_labels"]
        results["gt_labels"] = np.concatenate([labels, np.full((extra,), NO_LABEL, dtype=labels.dtype)])
        gt_masks = results.get("gt_masks")
        if self.masks and gt_masks is not None:
            results["gt_masks"] = self._pad_masks(gt_masks, count)
        return results

    def _pad_masks(self, gt_masks, count: int):
        if BitmapMasks is None and isinstance(gt_masks, np.ndarray) and gt_masks.ndim == 3:
            padded = np.zeros((self.num,) + gt_masks.shape[1:], dtype=gt_masks.dtype)
            padded[:count] = gt_masks
            return padded
        if BitmapMasks is None or not isinstance(gt_masks, BitmapMasks):
            raise TypeError(f"PadGroundTruth pads BitmapMasks (mmdet 2.x) or (n, H, W) arrays (1.x) only, got "
                            f"{type(gt_masks).__name__} (load the masks with poly2mask=True, or pass masks=False)")
        padded = np.zeros((self.num, gt_masks.height, gt_masks.width), dtype=gt_masks.masks.dtype)
        padded[:count] = gt_masks.masks
        return BitmapMasks(padded, gt_masks.height, gt_masks.width)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num={self.num}, masks={self.masks})"


if PIPELINES is not None:
    PIPELINES.register_module()(PadGroundTruth)
