"""What mmdet_train and mmdet_eval share: process setup, config overrides, wrapping, evaluation, output."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import random
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from npuport import runtime
from npuport.atomic import write_json  # noqa: F401  (the drivers write through common.write_json)
from npuport.drivers.mmdet_config import load_config
from npuport.drivers.process import Dist, run_main, setup_process  # noqa: F401  (the mmdet drivers use common.*)
from npuport.errors import UsageError


def seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    runtime.manual_seed_all(seed)


def parse_scale(text: str) -> Tuple[int, int]:
    try:
        width, height = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UsageError(f"--img-scale {text!r} is not WIDTH,HEIGHT (for example 320,320)") from None
    return width, height


def set_pipeline_scale(pipeline: List[Dict[str, Any]], scale: Tuple[int, int]) -> None:
    """Every Resize / MultiScaleFlipAug of `pipeline` (and the transforms inside) to `scale`."""
    for step in pipeline:
        if step.get("type") in ("Resize", "MultiScaleFlipAug") and "img_scale" in step:
            step["img_scale"] = scale
        if "transforms" in step:
            set_pipeline_scale(step["transforms"], scale)


def apply_overrides(cfg: Any, img_scale: Optional[str], pretrained: str) -> None:
    """Small-image runs and pretrained weights, without editing the reference config."""
    if img_scale:
        scale = parse_scale(img_scale)
        for split in ("train", "val", "test"):
            set_pipeline_scale(cfg.data[split].pipeline, scale)
    if pretrained == "none":
        cfg.model.pretrained = None
    elif pretrained != "config":
        if not os.path.isfile(pretrained):
            raise UsageError(f"--pretrained {pretrained} is not a file; pass config, none or a checkpoint path")
        cfg.model.pretrained = pretrained
    source = cfg.model.get("pretrained")
    if isinstance(source, str) and source.startswith("torchvision://"):
        import importlib.util

        if importlib.util.find_spec("torchvision") is None:
            raise UsageError(
                f"the config loads {source} but torchvision is not installed; pass --pretrained none or a checkpoint path"
            )


def apply_schedule(cfg: Any, args: Any) -> None:
    """--lr and --lr-warmup-iters (short checks that must learn in a few iterations), without editing the config."""
    if args.lr is not None:
        if args.lr < 0:
            raise UsageError(f"--lr {args.lr}: give 0 or more")
        cfg.optimizer.lr = args.lr
    if args.lr_warmup_iters is not None:
        if args.lr_warmup_iters < 0:
            raise UsageError(f"--lr-warmup-iters {args.lr_warmup_iters}: give 0 or more")
        if args.lr_warmup_iters == 0:
            cfg.lr_config.warmup = None
        else:
            cfg.lr_config.warmup_iters = args.lr_warmup_iters


def set_score_thr(cfg: Any, score_thr: float) -> None:
    """The detection score threshold: test_cfg.rcnn (two-stage) or test_cfg itself (single-stage, e.g. GFL),
    with test_cfg inside the model (mmdet >= 2.10 configs) or at the top level (mmdet 2.6 configs)."""
    test_cfg = cfg.model.get("test_cfg") or cfg.get("test_cfg")
    if not test_cfg:
        raise UsageError("--score-thr: the config has no test_cfg (in its model or at the top level) to set it in")
    target = test_cfg.rcnn if "rcnn" in test_cfg else test_cfg
    target.score_thr = score_thr


def get_logger(work_dir: str, timestamp: str, dist: Dist) -> logging.Logger:
    """mmdet's root logger, writing to WORK_DIR/<timestamp>.log on rank 0 and WORK_DIR/rank<N>.log elsewhere."""
    from mmdet.utils import get_root_logger

    os.makedirs(work_dir, exist_ok=True)
    log_file = os.path.join(work_dir, f"{timestamp}.log")
    logger = get_root_logger(log_file=log_file, log_level=logging.INFO)
    if dist.rank != 0:
        for stream in logger.handlers:  # the console stays rank 0's
            if type(stream) is logging.StreamHandler:
                stream.setLevel(logging.ERROR)
        handler = logging.FileHandler(os.path.join(work_dir, f"rank{dist.rank}.log"), "w")
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return logger


def apply_run_args(cfg: Any, args: argparse.Namespace, per_device_key: str) -> None:
    """The run's work dir, seed, samples per device (`per_device_key`: mmdet 2.x samples_per_gpu, 1.x and 0.x
    imgs_per_gpu), data loader workers and log interval."""
    cfg.work_dir = args.work_dir
    cfg.seed = args.seed
    if args.samples_per_device:
        cfg.data[per_device_key] = args.samples_per_device
    if args.workers is not None:
        cfg.data.workers_per_gpu = args.workers
    if args.log_interval:
        cfg.log_config.interval = args.log_interval


def start_run(args: argparse.Namespace, configure: Callable[[Any, argparse.Namespace], None],
              logger: Callable[[str, str, Dist], logging.Logger] = get_logger) -> Tuple[Dist, Any, str, logging.Logger]:
    """The start every mmdet train driver shares: process group, config (`configure` applies `args`), seed,
    timestamp and logger, and the log line naming device, world size and AMP."""
    dist = setup_process(args.launcher)
    cfg = load_config(args.config, args.data_root, args.cfg_options, args.overrides)
    configure(cfg, args)
    seed_everything(args.seed + dist.rank)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    log = logger(cfg.work_dir, timestamp, dist)
    log.info(f"npuport: device={runtime.device(dist.local_rank)} world_size={dist.world_size} amp={args.amp}")
    return dist, cfg, timestamp, log


def wrap_model(model: Any, dist: Dist, find_unused_parameters: bool = False) -> Any:
    """The model on this process's device, in mmcv's DDP (distributed) or DataParallel wrapper."""
    from mmcv.parallel import MMDistributedDataParallel

    index = dist.local_rank
    model = model.to(runtime.device(index))
    if dist.distributed:
        return MMDistributedDataParallel(
            model,
            device_ids=[index] if runtime.is_available() else None,
            broadcast_buffers=False,
            find_unused_parameters=find_unused_parameters,
        )
    return single_device(model, index)


def single_device(model: Any, index: int = 0) -> Any:
    from mmcv.parallel import MMDataParallel

    if runtime.is_available():
        return MMDataParallel(model, device_ids=[index])
    return MMDataParallel(model)


def evaluate(model: Any, cfg: Any, samples_per_device: int = 1, workers: Optional[int] = None) -> Dict[str, float]:
    """COCO bbox/segm mAP of `model` (a bare detector) on cfg.data.test, in this process."""
    from mmdet.apis import single_gpu_test
    from mmdet.datasets import build_dataloader, build_dataset

    cfg.data.test.test_mode = True
    dataset = build_dataset(cfg.data.test)
    loader = build_dataloader(
        dataset,
        samples_per_gpu=1,
        workers_per_gpu=cfg.data.workers_per_gpu if workers is None else workers,
        dist=False,
        shuffle=False,
    )
    wrapped = single_device(model, runtime.local_rank() if runtime.is_available() else 0)
    outputs = single_gpu_test(wrapped, loader)
    metrics = cfg.get("evaluation", {}).get("metric", ["bbox"])
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    results = dataset.evaluate(outputs, metric=metrics)
    found: Dict[str, Any] = {
        key: float(value) for key, value in results.items() if "_mAP" in key and isinstance(value, (int, float))
    }
    for metric in metrics:
        if f"{metric}_mAP" not in found:  # mmdet reports nothing when there is no detection at all
            found[f"{metric}_mAP"] = 0.0
            found["empty_results"] = True
    return found


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send file descriptor 1 to stderr for a while (mmcv's progress bar and print() calls)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def load_eval_checkpoint(model: Any, path: str) -> None:
    """Weights of `path` into `model`, and the class names the checkpoint carries (eval drivers)."""
    from mmcv.runner import load_checkpoint

    checkpoint = load_checkpoint(model, path, map_location="cpu")
    classes = checkpoint.get("meta", {}).get("CLASSES")
    if classes:
        model.CLASSES = classes


def eval_main(args: Any, evaluate_checkpoint: Any) -> int:
    """An eval driver's main: the metrics as one JSON line on stdout (and in --out); an error in one line."""
    import json

    from npuport.errors import NpuportError

    try:
        result = evaluate_checkpoint(args)
    except NpuportError as error:
        print(f"npuport: error: {error}", file=sys.stderr)
        return error.exit_code
    if args.out:
        write_json(args.out, result)
    print(json.dumps(result, sort_keys=True))
    return 0


def versions() -> Dict[str, Optional[str]]:
    found: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for name in ("torch", "mmcv", "mmdet", "torch_npu"):
        try:
            module = __import__(name) if name != "torch_npu" else runtime.torch_npu()
            found[name] = getattr(module, "__version__", None) if module is not None else None
        except ImportError:
            found[name] = None
    if found.get("torch_npu") is None:
        found.pop("torch_npu")
    return found


def add_overrides_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overrides", metavar="FILE", help="a config merged over CONFIG (the recipe's overrides of "
                        "the upstream config: see npuport/drivers/mmdet_config.py)")


def eval_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The arguments of both eval drivers (mmdet_eval, mmdet1_eval): one contract for `npuport eval`."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    add_overrides_argument(parser)
    parser.add_argument("--data-root")
    parser.add_argument("--img-scale", help="WIDTH,HEIGHT for every Resize (as used in training)")
    parser.add_argument("--workers", type=int, default=None, help="data loader workers")
    parser.add_argument("--score-thr", type=float, help="override the test score_thr (checks on barely trained models)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", default=[],
                        help="set config keys as in training (model.bbox_head.stacked_convs=2)")
    parser.add_argument("--out", help="also write the metrics to this JSON file")
    return parser
