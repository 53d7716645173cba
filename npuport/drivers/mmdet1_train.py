"""Train an mmdet 0.x / 1.x detector on mmcv 0.2.x's Runner with the installed (patched) trees.

    python -m npuport.drivers.mmdet1_train CONFIG --work-dir DIR [--launcher none|pytorch]
        [--max-iters N | --epochs N] [--amp O1|off] [--loss-scale S] [--seed S] [--data-root DIR]
        [--samples-per-device N] [--workers N] [--img-scale W,H] [--pretrained config|none|PATH]
        [--log-interval N] [--validate] [--score-thr T] [--lr LR] [--lr-warmup-iters N]
        [--cfg-options KEY=VALUE ...]

The command-line contract of ``npuport.drivers.mmdet_train``, for trees of the mmdet 1.x era
(SOLO, the GCNet authors' mmdet 0.6), whose training loop is mmcv 0.2's epoch-based Runner with
a ``batch_processor``:

- the model runs on ``npuport.runtime.device()``; DataContainers are unwrapped and moved there
  by this driver (mmcv 0.2's scatter is CUDA-only), and several processes train under torch's
  DistributedDataParallel (mmcv 0.2's wrapper only broadcasts: mmdet 1.x summed gradients in
  its DistOptimizerHook, which the recipes do not use);
- ``--max-iters N`` runs ceil(N / batches per epoch) epochs of a loader that stops after N
  batches in all (mmcv 0.2 has no iteration-based runner);
- ``--amp O1`` runs each batch under ``npuport.runtime.autocast()`` and puts a GradScaler on the
  runner for the OptimizerHook that the recipe's NPU403 step rewrote.

At the end rank 0 writes ``WORK_DIR/npuport-run.json``; ``npuport.runtime.timing`` (called from
the rewritten IterTimerHook, and from a hook added here) writes ``npuport-metrics.jsonl``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import sys
from typing import Any, Dict, Iterator, List, Optional

from npuport import runtime
from npuport.drivers import mmdet_common as common
from npuport.drivers import mmdet_report
from npuport.drivers.mmdet_train import TimingHook, parse_args
from npuport.errors import UsageError
from npuport.runtime import mmcv_amp, profiling

__all__ = ["parse_args", "train", "main", "to_device", "IterLimit"]


# ------------------------------------------------------------------------ data to device


def to_device(obj: Any, device: Any) -> Any:
    """`obj` with its DataContainers unwrapped (one device's share) and its tensors on `device`.

    mmcv 0.2 collates a DataContainer into ``data = [share]`` for one device; cpu_only ones
    (image metas) stay on the host.
    """
    import torch
    from mmcv.parallel import DataContainer

    if isinstance(obj, DataContainer):
        share = obj.data[0]
        return share if obj.cpu_only else to_device(share, device)
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, list):
        return [to_device(item, device) for item in obj]
    if isinstance(obj, tuple):
        return tuple(to_device(item, device) for item in obj)
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    return obj


def wrap_model(model: Any, dist: common.Dist, find_unused_parameters: bool = False) -> Any:
    """`model` on this process's device, in a wrapper that takes collated batches (and DDP for several)."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    device = runtime.device(dist.local_rank)
    model = model.to(device)

    class OnDevice(torch.nn.Module):
        def __init__(self, module: Any) -> None:
            super().__init__()
            self.module = module

        def forward(self, *inputs: Any, **kwargs: Any) -> Any:
            return self.module(*to_device(inputs, device), **to_device(kwargs, device))

    class DataContainerDDP(DistributedDataParallel):
        def forward(self, *inputs: Any, **kwargs: Any) -> Any:
            return super().forward(*to_device(inputs, device), **to_device(kwargs, device))

    if not dist.distributed:
        return OnDevice(model)
    return DataContainerDDP(
        model,
        device_ids=[dist.local_rank] if runtime.is_available() else None,
        broadcast_buffers=False,
        find_unused_parameters=find_unused_parameters,
    )


class IterLimit:
    """A data loader that stops after `total` batches over all its epochs (len: batches per epoch)."""

    def __init__(self, loader: Any, total: int) -> None:
        self.loader = loader
        self.left = total

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        if self.left <= 0:
            return
        for batch in self.loader:
            yield batch
            self.left -= 1
            if self.left <= 0:
                return

    def __getattr__(self, name: str) -> Any:  # sampler, dataset, batch_size, ...
        return getattr(self.__dict__["loader"], name)


# ------------------------------------------------------------------------- the tree's API


def _batch_processor(amp: bool) -> Any:
    """mmdet's batch_processor, under autocast for O1, counting the samples of this device's batch.

    mmdet 1.x reports num_samples = len(img.data), the number of devices' shares (1 per process):
    FPS needs the images.
    """
    from mmdet.apis.train import batch_processor

    def run(model: Any, data: Dict[str, Any], train_mode: bool, **kwargs: Any) -> Dict[str, Any]:
        outputs = batch_processor(model, data, train_mode, **kwargs)
        img = data.get("img")
        share = getattr(img, "data", [None])[0]
        if hasattr(share, "size"):
            outputs["num_samples"] = int(share.size(0))
        return outputs

    return mmcv_amp.autocast_method(run) if amp else run


def _build_dataset(cfg_data: Any) -> Any:
    import mmdet.datasets as datasets

    if hasattr(datasets, "build_dataset"):
        return datasets.build_dataset(cfg_data)
    return datasets.get_dataset(cfg_data)  # mmdet 0.x


def _build_optimizer(model: Any, cfg_optimizer: Any) -> Any:
    from mmdet.apis.train import build_optimizer

    return build_optimizer(model, cfg_optimizer)


def _logger(work_dir: str, timestamp: str, dist: common.Dist) -> logging.Logger:
    try:
        utils = importlib.import_module("mmdet.utils")  # mmdet 1.x: get_root_logger(log_file, log_level)
    except ImportError:
        utils = None
    if hasattr(utils, "get_root_logger"):
        return common.get_logger(work_dir, timestamp, dist)
    # mmdet 0.x: the 'mmdet' logger, to stderr on rank 0 and to a file per rank
    os.makedirs(work_dir, exist_ok=True)
    logger = logging.getLogger("mmdet")
    logger.setLevel(logging.INFO)
    name = f"{timestamp}.log" if dist.rank == 0 else f"rank{dist.rank}.log"
    handlers: List[logging.Handler] = [logging.FileHandler(os.path.join(work_dir, name), "w")]
    if dist.rank == 0:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        logger.addHandler(handler)
    return logger


def set_scale(cfg: Any, img_scale: Optional[str]) -> None:
    """--img-scale for both config styles: pipelines (mmdet 1.x) and datasets that carry img_scale (mmdet 0.x)."""
    if not img_scale:
        return
    scale = common.parse_scale(img_scale)
    for split in ("train", "val", "test"):
        if split not in cfg.data:
            continue
        if "pipeline" in cfg.data[split]:
            common.set_pipeline_scale(cfg.data[split].pipeline, scale)
        else:
            cfg.data[split].img_scale = scale


# ---------------------------------------------------------------------------- training


def _configure(cfg: Any, args: argparse.Namespace) -> None:
    common.apply_run_args(cfg, args, "imgs_per_gpu")
    common.apply_overrides(cfg, None, args.pretrained)
    set_scale(cfg, args.img_scale)
    common.apply_schedule(cfg, args)
    if args.epochs:
        cfg.total_epochs = args.epochs


def train(args: argparse.Namespace) -> Dict[str, Any]:
    """Train as `args` say; return what rank 0 writes to npuport-run.json."""
    dist, cfg, timestamp, logger = common.start_run(args, _configure, _logger)

    from mmcv.runner import DistSamplerSeedHook, Runner
    from mmdet.datasets import build_dataloader
    from mmdet.models import build_detector

    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    dataset = _build_dataset(cfg.data.train)
    model.CLASSES = dataset.CLASSES
    import mmdet

    if cfg.get("checkpoint_config") is None:
        cfg.checkpoint_config = dict(interval=1)
    cfg.checkpoint_config.meta = dict(mmdet_version=mmdet.__version__, config=cfg.text, CLASSES=dataset.CLASSES)
    loader: Any = build_dataloader(
        dataset, cfg.data.imgs_per_gpu, cfg.data.workers_per_gpu, 1, dist=dist.distributed
    )
    epochs = int(cfg.total_epochs)
    if args.max_iters:
        per_epoch = len(loader)
        if per_epoch < 1:
            raise UsageError(f"the training set of {args.config} gives no batch of {cfg.data.imgs_per_gpu} images")
        epochs = math.ceil(args.max_iters / per_epoch)
        loader = IterLimit(loader, args.max_iters)
        cfg.checkpoint_config.interval = epochs  # one checkpoint, at the end
    if args.no_checkpoint:
        cfg.checkpoint_config.interval = -1  # mmcv 0.2's CheckpointHook then saves nothing

    wrapped = wrap_model(model, dist, cfg.get("find_unused_parameters", False))
    optimizer = _build_optimizer(wrapped, cfg.optimizer)
    runner = Runner(wrapped, _batch_processor(args.amp == "O1"), optimizer, cfg.work_dir, logger=logger)
    runner.timestamp = timestamp
    if args.amp == "O1":  # the recipe's NPU403 step makes mmcv's OptimizerHook step through the scaler
        runner.npuport_scaler = runtime.GradScaler(init_scale=args.loss_scale)
    runner.register_training_hooks(cfg.lr_config, cfg.optimizer_config, cfg.checkpoint_config, cfg.log_config)
    runner.register_hook(TimingHook(), priority="LOW")
    profiling.attach(runner)  # `npuport profile`: a census of every training step
    if dist.distributed:
        runner.register_hook(DistSamplerSeedHook())
    from npuport.drivers import mmdet1_eval

    return mmdet_report.finish(runner, lambda: runner.run([loader], cfg.workflow, epochs), model, cfg, args, dist,
                               cfg.data.imgs_per_gpu, mmdet1_eval.evaluate, logger)


def main(argv: Optional[List[str]] = None) -> int:
    return common.run_main(train, parse_args(argv, prog="python -m npuport.drivers.mmdet1_train"))


if __name__ == "__main__":
    sys.exit(main())
