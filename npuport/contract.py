"""The run contract: what `npuport train` and a training driver (npuport/drivers/) agree on.

`npuport train` starts the recipe's driver as ``python -m DRIVER [CONFIG] ARGS --launcher none|pytorch``, ARGS
being DriverArgs.argv() (then the recipe's own and the user's), with DEVICE_ENV and WARMUP_ENV set. Rank 0 of
the driver appends one JSON line per training iteration to WORK_DIR/METRICS_FILE::

    {"iter": 7, "time": 0.41, "samples": 2, "world_size": 8, "loss": 1.93, "cpu": 0.77}

(time: seconds of that iteration; samples: per device; loss: a float or null; cpu: the process's CPU seconds in
the iteration, all its threads, absent for the first: on a shared machine it moves less with the load than time;
and the ROW_KEYS a static step logged beside its losses, e.g. "mask_rows": 18, "mask_positives": 18)
and writes WORK_DIR/RUN_FILE, one JSON object (versions, samples_per_device, accuracy keys such as acc1 or
bbox_mAP), at the end. npuport reads
both into WORK_DIR/RESULTS_FILE. FPS = samples per device x world size / seconds, over the iterations after the
first WARMUP_ENV ones.

Imported by drivers and by the runtime inside training processes: standard library only.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO

METRICS_FILE = "npuport-metrics.jsonl"
RUN_FILE = "npuport-run.json"
RESULTS_FILE = "results.json"
PROFILE_FILE = "npuport-profile.json"
DEVICE_ENV = "NPUPORT_DEVICE"
WARMUP_ENV = "NPUPORT_WARMUP_ITERS"
DEFAULT_WARMUP = 5
LAUNCHERS = ("none", "pytorch")
END_DIR_ENV = "NPUPORT_END_DIR"  # set by the launcher: each rank marks there how far its end (leave) got
# what a static step logs beside its losses, copied into the metrics line: how many of the mask head's fixed rows
# per batch held a positive, and how many positives the batch had (more than the rows: some were left out)
ROW_KEYS = ("mask_rows", "mask_positives")
LEAVE_TIMEOUT = 60.0  # seconds a rank waits, after the final barrier, for every rank to destroy its group


def warmup_iters(environ: Optional[Mapping[str, str]] = None) -> int:
    """The warm-up iterations that FPS leaves out, as `npuport train` set them (default DEFAULT_WARMUP)."""
    value = (os.environ if environ is None else environ).get(WARMUP_ENV, "")
    return int(value) if value.strip() else DEFAULT_WARMUP


def metrics_row(iteration: int, seconds: float, samples: int, world_size: int, loss: Optional[float],
                cpu: Optional[float] = None, rows: Optional[Mapping[str, float]] = None) -> Dict[str, Any]:
    """One line of METRICS_FILE (a non-finite loss is written as NaN/Infinity: the reader fails the run);
    `rows`: the ROW_KEYS logged this iteration."""
    row = {"iter": iteration, "time": seconds, "samples": samples, "world_size": world_size, "loss": loss}
    if cpu is not None:
        row["cpu"] = cpu
    row.update(rows or {})
    return row


def open_metrics(work_dir: str) -> TextIO:
    """WORK_DIR/METRICS_FILE, opened by rank 0 for appending."""
    os.makedirs(work_dir, exist_ok=True)
    return open(os.path.join(work_dir, METRICS_FILE), "a", encoding="utf-8")


def append_metrics(stream: TextIO, iteration: int, seconds: float, samples: int, world_size: int,
                   loss: Optional[float], cpu: Optional[float] = None,
                   rows: Optional[Mapping[str, float]] = None) -> None:
    """One metrics line, flushed: a reader (the progress bar, a killed run's results) sees whole lines."""
    stream.write(json.dumps(metrics_row(iteration, seconds, samples, world_size, loss, cpu, rows)) + "\n")
    stream.flush()


def fps(samples: Sequence[int], seconds: Sequence[float], world_size: int) -> Optional[float]:
    """Samples per second over all devices: samples per device x world size / seconds; None without time."""
    total = math.fsum(seconds)
    return sum(samples) * world_size / total if total > 0 else None


@dataclass
class DriverArgs:
    """The arguments every driver takes from `npuport train`."""

    work_dir: str
    data_root: str
    seed: int = 0
    amp: str = "off"
    loss_scale: float = 32.0
    samples_per_device: int = 1
    max_iters: Optional[int] = None  # a run for FPS; keeps no checkpoint unless keep_checkpoint
    epochs: Optional[int] = None
    keep_checkpoint: bool = False
    validate: bool = False
    img_scale: Optional[str] = None  # WIDTH,HEIGHT (detection drivers)

    def argv(self) -> List[str]:
        args = ["--work-dir", str(self.work_dir), "--data-root", str(self.data_root), "--seed", str(self.seed),
                "--amp", self.amp, "--loss-scale", f"{self.loss_scale:g}",
                "--samples-per-device", str(self.samples_per_device)]
        if self.max_iters:
            args += ["--max-iters", str(self.max_iters)]
            if not self.keep_checkpoint:
                args.append("--no-checkpoint")
        elif self.epochs:
            args += ["--epochs", str(self.epochs)]
        if self.validate:
            args.append("--validate")
        if self.img_scale:
            args += ["--img-scale", self.img_scale]
        return args


def add_driver_arguments(parser: Any, *, amp_levels: Sequence[str], loss_scale: float,
                         samples_per_device: Optional[int] = None, data_root_help: Optional[str] = None) -> None:
    """Declare DriverArgs' options (and --launcher) on a driver's argparse parser; a `data_root_help` makes
    --data-root required."""
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--data-root", required=data_root_help is not None, help=data_root_help)
    parser.add_argument("--launcher", choices=list(LAUNCHERS), default="none")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--max-iters", type=int, help="train N iterations")
    length.add_argument("--epochs", type=int, help="train N epochs")
    parser.add_argument("--amp", choices=list(amp_levels), default="off")
    parser.add_argument("--loss-scale", type=float, default=loss_scale, help="initial loss scale (float16 only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples-per-device", type=int, default=samples_per_device)
    parser.add_argument("--validate", action="store_true", help="measure accuracy on the test split at the end")
    parser.add_argument("--no-checkpoint", action="store_true", help="keep no checkpoint (runs for FPS or a profile)")
