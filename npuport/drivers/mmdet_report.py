"""The end of an mmdet training run, for both drivers (mmdet 2.x and the 0.x / 1.x era).

``finish`` resumes or loads what the config names, runs, and on rank 0 writes the run file of
npuport.contract (iterations, FPS, losses, world size, versions; with ``--validate``, the COCO metrics).
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from npuport.contract import RUN_FILE
from npuport.drivers import mmdet_common as common
from npuport.drivers.process import leave_process_group


def finish(runner: Any, run: Callable[[], None], model: Any, cfg: Any, args: Any, dist: Any,
           samples_per_device: int, evaluate: Callable[[Any, Any], Dict[str, float]], logger: Any) -> Dict[str, Any]:
    """Resume / load, call `run`, then report; returns what rank 0 wrote (empty on other ranks)."""
    from npuport.runtime import timing

    if cfg.get("resume_from"):
        runner.resume(cfg.resume_from)
    elif cfg.get("load_from"):
        runner.load_checkpoint(cfg.load_from)
    run()
    summary = timing.close(runner)
    result: Dict[str, Any] = {}
    if dist.rank == 0:
        result = run_summary(runner, summary, args, dist, samples_per_device)
        result.update(mask_pos_slots(cfg))
        if args.validate:
            if args.score_thr is not None:
                common.set_score_thr(cfg, args.score_thr)
            with common.stdout_to_stderr():  # mmcv's progress output
                result.update(evaluate(model, cfg))
        common.write_json(f"{cfg.work_dir}/{RUN_FILE}", result)
        logger.info(f"npuport: wrote {cfg.work_dir}/{RUN_FILE}")
    end_process_group(dist)
    return result


def run_summary(runner: Any, summary: Dict[str, Any], args: Any, dist: Any, samples_per_device: int) -> Dict[str, Any]:
    """What rank 0 writes to npuport-run.json after training (both mmdet drivers); `summary` is timing.close's."""
    from npuport import runtime
    from npuport.runtime import timing

    losses = [row for row in timing.recorder(runner).losses if row is not None]
    return {
        "iters": runner.iter,
        "epochs": runner.epoch,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "fps": summary["fps"],
        "mean_iter_time": summary["mean_iter_time"],
        "warmup_iters": summary["warmup_iters"],
        "world_size": dist.world_size,
        "samples_per_device": samples_per_device,
        "amp": args.amp,
        "device": runtime.device_type(),
        "versions": common.versions(),
    }


def mask_pos_slots(cfg: Any) -> Dict[str, Any]:
    """The mask head's fixed rows per batch and the option that sets them, for the results' padding note."""
    from npuport.runtime import mask_slots

    found = mask_slots.configured(cfg)
    return {"mask_pos_slots": found[1], "mask_pos_slots_option": found[0]} if found else {}


def end_process_group(dist: Any) -> None:
    if dist.distributed:
        leave_process_group()


