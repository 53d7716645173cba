"""COCO bbox/segm mAP of an mmdet 2.x checkpoint, with pycocotools through mmdet's evaluate.

    python -m npuport.drivers.mmdet_eval CONFIG CHECKPOINT [--data-root DIR] [--img-scale W,H]
        [--workers N] [--score-thr T] [--cfg-options KEY=VALUE ...] [--out FILE]

Runs in one process on npuport.runtime's device and prints one JSON document on stdout
({"bbox_mAP": ..., "segm_mAP": ..., ...}); ``--out`` also writes it to FILE.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional

from npuport.drivers import mmdet_common as common
from npuport.errors import UsageError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    return common.eval_parser("python -m npuport.drivers.mmdet_eval", __doc__).parse_args(argv)


def evaluate_checkpoint(args: argparse.Namespace) -> Dict[str, Any]:
    """Build the detector of `args.config`, load `args.checkpoint`, return its COCO metrics."""
    if not os.path.isfile(args.checkpoint):
        raise UsageError(f"checkpoint {args.checkpoint} does not exist; pass a file written by mmdet_train")
    common.setup_process("none")
    cfg = common.load_config(args.config, args.data_root, args.cfg_options, args.overrides)
    common.apply_overrides(cfg, args.img_scale, "none")

    from mmdet.models import build_detector

    cfg.model.train_cfg = None
    if args.score_thr is not None:
        common.set_score_thr(cfg, args.score_thr)
    with common.stdout_to_stderr():  # mmcv prints and draws progress bars; stdout is for the JSON
        model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
        common.load_eval_checkpoint(model, args.checkpoint)
        metrics = common.evaluate(model, cfg, workers=args.workers)
    return {**metrics, "checkpoint": os.path.abspath(args.checkpoint), "versions": common.versions()}


def main(argv: Optional[List[str]] = None) -> int:
    return common.eval_main(parse_args(argv), evaluate_checkpoint)


if __name__ == "__main__":
    sys.exit(main())
