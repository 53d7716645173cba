"""Train an mmdet 2.x detector with the installed (patched) mmcv and mmdet.

    python -m npuport.drivers.mmdet_train CONFIG --work-dir DIR [--launcher none|pytorch]
        [--max-iters N | --epochs N] [--amp O1|off] [--seed S] [--data-root DIR]
        [--samples-per-device N] [--workers N] [--img-scale W,H] [--pretrained config|none|PATH]
        [--log-interval N] [--validate] [--score-thr T] [--lr LR] [--lr-warmup-iters N]
        [--cfg-options KEY=VALUE ...]

mmdet 2.x ships no tools/, so this is npuport's entry, built on mmdet's and mmcv's APIs. Run it
under torchrun with ``--launcher pytorch`` for several processes. At the end rank 0 writes
the run file of npuport.contract; ``npuport.runtime.timing`` writes the metrics lines.
``--validate`` evaluates the final model on the test split (rank 0) with pycocotools.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional

from npuport import contract
from npuport.drivers import mmdet_common as common
from npuport.drivers import mmdet_report
from npuport.runtime import mmcv_amp, profiling, timing


def parse_args(argv: Optional[List[str]] = None, prog: str = "python -m npuport.drivers.mmdet_train") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("config")
    common.add_overrides_argument(parser)
    contract.add_driver_arguments(parser, amp_levels=list(mmcv_amp.LEVELS), loss_scale=mmcv_amp.DEFAULT_LOSS_SCALE)
    parser.add_argument("--workers", type=int, help="data loader workers per device")
    parser.add_argument("--img-scale", help="WIDTH,HEIGHT for every Resize (small-image runs)")
    parser.add_argument("--pretrained", default="config", help="config (the config's), none, or a checkpoint path")
    parser.add_argument("--log-interval", type=int)
    parser.add_argument("--score-thr", type=float, help="the test score_thr for --validate (barely trained models)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", default=[],
                        help="set config keys (model.bbox_head.stacked_convs=2); values are Python literals")
    parser.add_argument("--lr", type=float, help="the optimizer's learning rate instead of the config's")
    parser.add_argument("--lr-warmup-iters", type=int, help="linear lr warm-up iterations instead of the config's "
                        "(0: none)")
    return parser.parse_args(argv)


class TimingHook:
    """Calls timing.record after each train iteration, for trees whose IterTimerHook lacks the call.

    timing.record ignores a second call for the same iteration, so both may be present.
    """

    def __new__(cls) -> Any:
        from mmcv.runner import Hook

        class _TimingHook(Hook):
            def after_train_iter(self, runner: Any) -> None:
                timing.record(runner)

        return _TimingHook()


def _configure(cfg: Any, args: argparse.Namespace) -> None:
    common.apply_run_args(cfg, args, "samples_per_gpu")
    common.apply_overrides(cfg, args.img_scale, args.pretrained)
    common.apply_schedule(cfg, args)
    if args.max_iters:
        cfg.runner = dict(type="IterBasedRunner", max_iters=args.max_iters)
        cfg.workflow = [("train", 1)]
        cfg.checkpoint_config = dict(by_epoch=False, interval=args.max_iters)
        cfg.log_config.hooks = [dict(type="TextLoggerHook", by_epoch=False)]
    elif args.epochs:
        cfg.runner = dict(type="EpochBasedRunner", max_epochs=args.epochs)


def train(args: argparse.Namespace) -> Dict[str, Any]:
    """Train as `args` say; return what rank 0 writes to npuport-run.json."""
    dist, cfg, timestamp, logger = common.start_run(args, _configure, common.get_logger)

    from mmcv.runner import DistSamplerSeedHook, EpochBasedRunner, OptimizerHook, build_optimizer, build_runner
    from mmdet.datasets import build_dataloader, build_dataset
    from mmdet.models import build_detector

    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    dataset = build_dataset(cfg.data.train)
    model.CLASSES = dataset.CLASSES
    import mmdet

    if args.no_checkpoint:
        cfg.checkpoint_config = None  # mmcv registers no CheckpointHook
    else:
        cfg.checkpoint_config.meta = dict(mmdet_version=mmdet.__version__, CLASSES=dataset.CLASSES)
    loader = build_dataloader(
        dataset, cfg.data.samples_per_gpu, cfg.data.workers_per_gpu, 1, dist=dist.distributed, seed=args.seed
    )
    wrapped = common.wrap_model(model, dist, cfg.get("find_unused_parameters", False))
    optimizer = build_optimizer(wrapped, cfg.optimizer)
    runner = build_runner(
        cfg.runner,
        default_args=dict(model=wrapped, optimizer=optimizer, work_dir=cfg.work_dir, logger=logger, meta=dict(seed=args.seed)),
    )
    runner.timestamp = timestamp

    if args.amp == "O1":  # the recipe's NPU403 step makes mmcv's OptimizerHook step through the scaler
        mmcv_amp.enable(runner, wrapped, loss_scale=args.loss_scale)
    optimizer_config: Any = OptimizerHook(**cfg.optimizer_config) if dist.distributed else cfg.optimizer_config
    runner.register_training_hooks(
        cfg.lr_config, optimizer_config, cfg.checkpoint_config, cfg.log_config, cfg.get("momentum_config")
    )
    runner.register_hook(TimingHook(), priority="LOW")
    profiling.attach(runner)  # `npuport profile`: a census of every training step
    if dist.distributed and isinstance(runner, EpochBasedRunner):
        runner.register_hook(DistSamplerSeedHook())
    return mmdet_report.finish(runner, lambda: runner.run([loader], cfg.workflow), model, cfg, args, dist,
                               cfg.data.samples_per_gpu, common.evaluate, logger)


def main(argv: Optional[List[str]] = None) -> int:
    return common.run_main(train, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
