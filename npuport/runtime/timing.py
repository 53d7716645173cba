"""Per-iteration timing and throughput, called from mmcv's IterTimerHook.after_iter.

npuport's rewriter adds ``npuport.runtime.timing.record(runner)`` at the end of
``IterTimerHook.after_iter``. Each call appends one line (rank 0 only) to ``<work_dir>/npuport-metrics.jsonl``
(the run contract, npuport.contract) and, once the warm-up iterations are done, logs
``npuport-fps iter=N fps=F`` every NPUPORT_FPS_EVERY iterations.

The cost per call is two clock reads (wall and process CPU time), a few attribute reads and one buffered line;
the device is synchronized only when NPUPORT_TIMING_SYNC=1.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, TextIO

from npuport import contract
from npuport.contract import METRICS_FILE  # noqa: F401  (where record() writes)

FPS_TAG = "npuport-fps"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _world_size() -> int:
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def _rank() -> int:
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


@dataclass
class Recorder:
    """Timing state of one training run (kept on the runner as ``runner.npuport_timing``)."""

    warmup: int = 5
    every: int = 10
    sync: bool = False
    world_size: int = 1
    rank: int = 0
    times: List[float] = field(default_factory=list)
    samples: List[int] = field(default_factory=list)
    losses: List[Optional[float]] = field(default_factory=list)
    last_iter: Optional[int] = None
    last_clock: Optional[float] = None
    last_cpu: Optional[float] = None
    stream: Optional[TextIO] = None

    @property
    def measured_iters(self) -> int:
        return max(len(self.times) - self.warmup, 0)

    def fps(self) -> Optional[float]:
        """Samples per second over all devices, warm-up excluded; None before any measured iteration."""
        return contract.fps(self.samples[self.warmup :], self.times[self.warmup :], self.world_size)

    def summary(self) -> Dict[str, Any]:
        times = self.times[self.warmup :]
        return {
            "fps": self.fps(),
            "iters": len(self.times),
            "warmup_iters": min(self.warmup, len(self.times)),
            "mean_iter_time": sum(times) / len(times) if times else None,
            "world_size": self.world_size,
        }


def recorder(runner: Any) -> Recorder:
    """The Recorder of `runner`, created on first use from the environment."""
    rec = getattr(runner, "npuport_timing", None)
    if rec is None:
        rec = Recorder(
            warmup=contract.warmup_iters(),
            every=max(_env_int("NPUPORT_FPS_EVERY", 10), 1),
            sync=os.environ.get("NPUPORT_TIMING_SYNC", "0") == "1",
            world_size=_world_size(),
            rank=_rank(),
        )
        runner.npuport_timing = rec
    return rec


def _iter_time(runner: Any, rec: Recorder, now: float) -> Optional[float]:
    """This iteration's time: IterTimerHook's fresh 'time' entry, else our own clock."""
    history = getattr(getattr(runner, "log_buffer", None), "val_history", None)
    if history is not None and history.get("time"):
        return float(history["time"][-1])
    if rec.last_clock is None:
        return None
    return now - rec.last_clock


def _samples(outputs: Any) -> int:
    if isinstance(outputs, dict) and "num_samples" in outputs:
        return int(outputs["num_samples"])
    return 0


def _loss(outputs: Any) -> Optional[float]:
    # mmdet's train_step already turned the loss into a float in log_vars: no device sync here
    if not isinstance(outputs, dict):
        return None
    value = (outputs.get("log_vars") or {}).get("loss")
    return float(value) if isinstance(value, (int, float)) else None


def _rows(outputs: Any) -> Dict[str, float]:
    """The contract's ROW_KEYS that a static step logged this iteration (already floats in log_vars)."""
    log_vars = (outputs.get("log_vars") or {}) if isinstance(outputs, dict) else {}
    return {k: float(log_vars[k]) for k in contract.ROW_KEYS if isinstance(log_vars.get(k), (int, float))}


def record(runner: Any) -> Optional[float]:
    """Record the train iteration that just ended; return its time in seconds (None if unknown).

    A second call for the same iteration (runner.iter) and calls outside training are ignored.
    """
    if getattr(runner, "mode", "train") != "train":
        return None
    rec = recorder(runner)
    current = getattr(runner, "iter", None)
    if current is not None and current == rec.last_iter:
        return None
    rec.last_iter = current
    if rec.sync:
        from npuport import runtime

        runtime.synchronize()
    now, cpu_now = time.perf_counter(), time.process_time()
    elapsed = _iter_time(runner, rec, now)
    cpu = None if rec.last_cpu is None else cpu_now - rec.last_cpu
    rec.last_clock, rec.last_cpu = now, cpu_now
    if elapsed is None:
        return None
    outputs = getattr(runner, "outputs", None)
    samples = _samples(outputs)
    loss = _loss(outputs)
    rec.times.append(elapsed)
    rec.samples.append(samples)
    rec.losses.append(loss)
    if rec.rank != 0:
        return elapsed
    iteration = int(current if current is not None else len(rec.times) - 1) + 1
    _write(runner, rec, iteration, elapsed, samples, loss, cpu, _rows(outputs))
    if rec.measured_iters and rec.measured_iters % rec.every == 0:
        _log(runner, f"{FPS_TAG} iter={iteration} fps={rec.fps():.3f} world_size={rec.world_size}")
    return elapsed


def _write(runner: Any, rec: Recorder, iteration: int, seconds: float, samples: int, loss: Optional[float],
           cpu: Optional[float], rows: Dict[str, float]) -> None:
    if rec.stream is None:
        work_dir = getattr(runner, "work_dir", None)
        if not work_dir:
            return
        rec.stream = contract.open_metrics(work_dir)
    contract.append_metrics(rec.stream, iteration, seconds, samples, rec.world_size, loss, cpu, rows)


def _log(runner: Any, line: str) -> None:
    logger = getattr(runner, "logger", None)
    if logger is not None:
        logger.info(line)
    else:
        print(line, file=sys.stderr)


def close(runner: Any) -> Dict[str, Any]:
    """Log the final FPS line, close the metrics file and return the summary."""
    rec = recorder(runner)
    if rec.rank == 0 and rec.fps() is not None:
        iteration = int(getattr(runner, "iter", len(rec.times)))
        _log(runner, f"{FPS_TAG} iter={iteration} fps={rec.fps():.3f} world_size={rec.world_size} final=1")
    if rec.stream is not None:
        rec.stream.close()
        rec.stream = None
    return rec.summary()
