"""Throughput from the per-iteration metrics that training writes (the format: npuport.contract)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from npuport import contract
from npuport.contract import METRICS_FILE  # noqa: F401  (read_metrics' file, for its callers)
from npuport.errors import NpuportError


@dataclass(frozen=True)
class FpsResult:
    """FPS over the timed iterations (those after warm-up) that actually ran."""

    fps: float
    iters_timed: int
    seconds: float  # wall time of the timed iterations
    samples_per_device: int  # samples one device processed in the timed iterations
    world_size: int


def parse_record(line: str, where: str) -> dict:
    """One metrics line, checked; `where` names file and line for the error message."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise NpuportError(f"{where}: not a JSON object ({exc.msg}): the metrics file is damaged") from None
    ok = (isinstance(rec, dict)
          and all(isinstance(rec.get(k), int) and not isinstance(rec.get(k), bool)
                  for k in ("iter", "samples", "world_size"))
          and isinstance(rec.get("time"), (int, float)) and not isinstance(rec.get("time"), bool)
          and (rec.get("loss") is None or isinstance(rec.get("loss"), (int, float))))
    if not ok or rec["time"] < 0 or rec["samples"] < 0 or rec["world_size"] < 1:
        raise NpuportError(f"{where}: expected {{iter, time >= 0, samples >= 0, world_size >= 1, loss}}, "
                           f"got {line.strip()[:200]}")
    return rec


def read_metrics(path: Path) -> list[dict]:
    """Every record in a metrics file; a last line cut short (the writer was killed) is left out."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NpuportError(f"no metrics file at {path}: training wrote none (did it start? see its log)") from None
    lines = text.split("\n")
    if lines and lines[-1].strip():
        lines = lines[:-1]  # no newline yet: an unfinished record
    return [parse_record(line, f"{path}:{n}") for n, line in enumerate(lines, 1) if line.strip()]


def compute_fps(records: list[dict], warmup_iters: int) -> FpsResult:
    """contract.fps over the records after the first `warmup_iters`."""
    if warmup_iters < 0:
        raise NpuportError(f"warm-up iterations must be 0 or more, got {warmup_iters}")
    if not records:
        raise NpuportError("no iteration metrics were recorded: the run stopped before its first iteration; "
                           "check the training log")
    if len(records) <= warmup_iters:
        raise NpuportError(
            f"only {len(records)} iterations ran, but {warmup_iters} are warm-up and at least one must be timed: "
            f"run more iterations (--max-iters {warmup_iters + 10} or more) or fewer warm-up iterations (--warmup-iters)")
    timed = records[warmup_iters:]
    sizes = {r["world_size"] for r in timed}
    if len(sizes) != 1:
        raise NpuportError(f"the world size changed during the run ({sorted(sizes)}): FPS is not defined")
    world = sizes.pop()
    fps = contract.fps([r["samples"] for r in timed], [r["time"] for r in timed], world)
    if fps is None:
        raise NpuportError(f"the {len(timed)} timed iterations took no measurable time: "
                           "the metrics writer records no iteration times")
    return FpsResult(fps, len(timed), math.fsum(r["time"] for r in timed), sum(r["samples"] for r in timed), world)
