"""COCO bbox/segm mAP of an mmdet 0.x / 1.x checkpoint (SOLO, the GCNet authors' mmdet 0.6), with pycocotools.

    python -m npuport.drivers.mmdet1_eval CONFIG CHECKPOINT [--data-root DIR] [--img-scale W,H]
        [--workers N] [--score-thr T] [--cfg-options KEY=VALUE ...] [--out FILE]

The contract of ``npuport.drivers.mmdet_eval`` for trees of the mmdet 1.x era, whose tools/test*.py
print pycocotools' table and return nothing. npuport runs the model over ``cfg.data.test`` itself,
turns each image's output into COCO result records (``records``) and asks pycocotools' COCOeval for
the mAP of each metric in ``cfg.evaluation.metric`` (default: bbox, and segm for a model with masks):

- SOLO / SOLOv2 output ``[(masks N x H x W, labels, scores)]`` or ``[None]``: masks only, so segm.
  A box around a predicted mask is not what a box head predicts: bbox is not reported for them;
- two-stage detectors (Mask R-CNN) output ``(boxes per class, RLE masks per class)``: bbox and segm;
- box-only detectors output boxes per class: bbox.

Boxes are written as mmdet 1.x writes them (width = x2 - x1 + 1). Runs in one process on
npuport.runtime's device and prints one JSON document on stdout; ``--out`` also writes it to FILE.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from npuport.drivers import mmdet_common as common
from npuport.errors import UsageError

IOU_TYPES = ("bbox", "segm")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    return common.eval_parser("python -m npuport.drivers.mmdet1_eval", __doc__).parse_args(argv)


# ------------------------------------------------------------------ outputs to COCO records


def _is_solo(output: Any) -> bool:
    return (isinstance(output, list) and len(output) == 1
            and (output[0] is None or (isinstance(output[0], tuple) and len(output[0]) == 3)))


def _numpy(value: Any) -> Any:
    import numpy as np

    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _rle(segm: Dict[str, Any]) -> Dict[str, Any]:
    counts = segm["counts"]
    return {"size": [int(v) for v in segm["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}


def _box(row: Sequence[float]) -> List[float]:
    x1, y1, x2, y2 = (float(v) for v in row[:4])
    return [x1, y1, x2 - x1 + 1, y2 - y1 + 1]


def records(output: Any, img_id: int, cat_ids: Sequence[int]) -> Dict[str, List[Dict[str, Any]]]:
    """COCO result records {"bbox": [...], "segm": [...]} of one image's model output (see the module doc)."""
    import numpy as np
    import pycocotools.mask as mask_util

    found: Dict[str, List[Dict[str, Any]]] = {"bbox": [], "segm": []}
    if _is_solo(output):
        if output[0] is None:
            return found
        masks, labels, scores = (_numpy(v) for v in output[0])
        for mask, label, score in zip(masks, labels, scores):
            rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)[:, :, None]))[0]
            found["segm"].append({"image_id": img_id, "category_id": cat_ids[int(label)], "score": float(score),
                                  "segmentation": _rle(rle)})
        return found
    boxes, segms = output if isinstance(output, tuple) else (output, None)
    mask_scores = None
    if isinstance(segms, tuple):  # mask scoring heads: (masks per class, scores per class)
        segms, mask_scores = segms
    for label, rows in enumerate(boxes):
        for i, row in enumerate(rows):
            cat = cat_ids[label]
            found["bbox"].append({"image_id": img_id, "category_id": cat, "score": float(row[4]), "bbox": _box(row)})
            if segms is not None:
                score = float(mask_scores[label][i]) if mask_scores is not None else float(row[4])
                found["segm"].append({"image_id": img_id, "category_id": cat, "score": score,
                                      "segmentation": _rle(segms[label][i])})
    return found


def coco_map(coco: Any, img_ids: Sequence[int], dets: List[Dict[str, Any]], iou_type: str) -> Dict[str, Any]:
    """pycocotools' AP (IoU 0.5:0.95, 0.5, 0.75) of `dets` on `img_ids`; 0.0 with empty_results for no detection."""
    from pycocotools.cocoeval import COCOeval

    if not dets:  # COCO.loadRes cannot load an empty list: no detection scores 0
        return {f"{iou_type}_mAP": 0.0, f"{iou_type}_mAP_50": 0.0, f"{iou_type}_mAP_75": 0.0, "empty_results": True}
    with common.stdout_to_stderr():  # COCOeval prints its table
        run = COCOeval(coco, coco.loadRes([dict(d) for d in dets]), iou_type)  # loadRes adds keys to each
        run.params.imgIds = list(img_ids)
        run.evaluate()
        run.accumulate()
        run.summarize()
    stats = [max(0.0, float(v)) for v in run.stats[:3]]  # -1: no ground truth in that range
    return {f"{iou_type}_mAP": stats[0], f"{iou_type}_mAP_50": stats[1], f"{iou_type}_mAP_75": stats[2]}


def metrics_of(cfg: Any, model: Any) -> List[str]:
    """cfg.evaluation.metric, else bbox (and segm for a model with a mask head); SOLO models: segm only."""
    wanted = cfg.get("evaluation", {}).get("metric")
    if wanted is None:
        wanted = ["bbox", "segm"] if getattr(model, "with_mask", False) else ["bbox"]
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [m for m in wanted if m not in IOU_TYPES]
    if unknown:
        raise UsageError(f"evaluation.metric {unknown} in the config: npuport reports {', '.join(IOU_TYPES)} only")
    return wanted


# ---------------------------------------------------------------------------------- running


def test_dataset(cfg: Any) -> Any:
    cfg.data.test.test_mode = True
    import mmdet.datasets as datasets

    if hasattr(datasets, "build_dataset"):
        return datasets.build_dataset(cfg.data.test)
    return datasets.get_dataset(cfg.data.test)  # mmdet 0.x


def evaluate(model: Any, cfg: Any, workers: Optional[int] = None) -> Dict[str, Any]:
    """COCO mAP of `model` (a bare detector) on cfg.data.test, one image at a time, in this process."""
    import torch
    from mmdet.datasets import build_dataloader

    from npuport.drivers.mmdet1_train import wrap_model

    dataset = test_dataset(cfg)
    loader = build_dataloader(dataset, 1, cfg.data.workers_per_gpu if workers is None else workers, 1,
                              dist=False, shuffle=False)
    wanted = metrics_of(cfg, model)
    if _solo_model(model) and "bbox" in wanted:
        wanted.remove("bbox")  # masks only (see the module doc)
    wrapped = wrap_model(model, common.Dist(distributed=False))
    wrapped.eval()
    dets: Dict[str, List[Dict[str, Any]]] = {"bbox": [], "segm": []}
    with torch.no_grad():
        for index, data in enumerate(loader):
            output = wrapped(return_loss=False, rescale=True, **data)
            for kind, found in records(output, dataset.img_ids[index], dataset.cat_ids).items():
                dets[kind].extend(found)
    result: Dict[str, Any] = {"images": len(dataset)}
    for kind in wanted:
        result.update(coco_map(dataset.coco, dataset.img_ids, dets[kind], kind))
    return result


def _solo_model(model: Any) -> bool:
    return type(model).__name__.startswith("SOLO")


def evaluate_checkpoint(args: argparse.Namespace) -> Dict[str, Any]:
    """Build the detector of `args.config`, load `args.checkpoint`, return its COCO metrics."""
    if not os.path.isfile(args.checkpoint):
        raise UsageError(f"checkpoint {args.checkpoint} does not exist; pass a file written by mmdet1_train")
    common.setup_process("none")
    cfg = common.load_config(args.config, args.data_root, args.cfg_options, args.overrides)
    from npuport.drivers.mmdet1_train import set_scale

    set_scale(cfg, args.img_scale)
    cfg.model.pretrained = None
    if args.score_thr is not None:
        common.set_score_thr(cfg, args.score_thr)

    from mmdet.models import build_detector

    with common.stdout_to_stderr():  # mmcv prints; stdout is for the JSON
        model = build_detector(cfg.model, train_cfg=None, test_cfg=cfg.get("test_cfg"))
        common.load_eval_checkpoint(model, args.checkpoint)
        metrics = evaluate(model, cfg, workers=args.workers)
    return {**metrics, "checkpoint": os.path.abspath(args.checkpoint), "versions": common.versions()}


def main(argv: Optional[List[str]] = None) -> int:
    return common.eval_main(parse_args(argv), evaluate_checkpoint)


if __name__ == "__main__":
    sys.exit(main())
