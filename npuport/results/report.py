"""results.json: what one training run measured, with everything needed to reproduce it."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from npuport import atomic
from npuport.errors import NpuportError
from npuport.results.fps import compute_fps

ACCURACY_KEYS = ("bbox_mAP", "segm_mAP", "acc1", "acc5")
SCHEMA = 1


def losses_finite(records: list[dict]) -> bool:
    """False when any recorded loss is NaN or infinite (iterations without a loss are ignored)."""
    return all(math.isfinite(r["loss"]) for r in records if r.get("loss") is not None)


def finite_or_none(value: object) -> object:
    """JSON has no NaN: non-finite floats become null (losses_finite tells that they were not finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def build_results(recipe_name: str, device: str, world_size: int, samples_per_device: int,
                  records: list[dict], warmup_iters: int, run_info: dict, versions: dict,
                  lock_hash: str, command: list[str]) -> dict:
    """The content of results.json; raises NpuportError when too few iterations ran to time any."""
    fps = compute_fps(records, warmup_iters)
    losses = [r["loss"] for r in records if r.get("loss") is not None]
    data = {
        "schema": SCHEMA,
        "recipe": recipe_name,
        "device": device,
        "world_size": world_size,
        "samples_per_device": samples_per_device,
        "iters": len(records),
        "warmup_iters": warmup_iters,
        "iters_timed": fps.iters_timed,
        "seconds_timed": fps.seconds,
        "fps": fps.fps,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "losses_finite": losses_finite(records),
    }
    data.update({k: run_info[k] for k in ACCURACY_KEYS if run_info.get(k) is not None})
    if (rows := mask_rows(records, run_info)) is not None:
        data["mask_rows"] = rows
    data.update({
        "versions": dict(versions),
        "lock_hash": lock_hash,
        "command": list(command),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return finite_or_none(data)


def mask_rows(records: list[dict], run_info: dict) -> dict | None:
    """How a static mask head's fixed rows per batch were used, or None when none were logged: `max` and `mean`
    rows that held a positive, `over`: the batches with more positives than rows (in a distributed run mmdet
    averages each logged value over the ranks, so these are the ranks' means)."""
    logged = [r for r in records if isinstance(r.get("mask_rows"), (int, float))]
    if not logged:
        return None
    used = [r["mask_rows"] for r in logged]
    positives = [r["mask_positives"] for r in logged if isinstance(r.get("mask_positives"), (int, float))]
    return {
        "slots": run_info.get("mask_pos_slots"),
        "option": run_info.get("mask_pos_slots_option"),
        "iters": len(logged),
        "max": max(used),
        "mean": math.fsum(used) / len(used),
        "positives_max": max(positives, default=None),
        "over": sum(1 for r in logged if r.get("mask_positives", 0) > r["mask_rows"]),
    }


def mask_rows_note(rows: dict) -> str:
    """One line on the mask rows for the train output: positives left out, or how much of the rows was padding."""
    slots, option = rows.get("slots"), rows.get("option") or "mask_pos_slots"
    its = f"its {slots}" if slots else "its"
    how = f"`npuport train ... -- --cfg-options {option}=N`"
    if rows["over"]:
        return (f"mask head: {rows['over']} of {rows['iters']} batches had more positives than {its} rows (up to "
                f"{rows['positives_max']:g}), and the mask loss left the rest out: raise {option} ({how})")
    line = f"mask head: at most {rows['max']:g} of {its} rows per batch held a positive (mean {rows['mean']:.1f})"
    if slots and rows["max"] <= slots / 2:
        line += (f"; the rest is padding that costs as much as a real row: a smaller {option} fits this data "
                 f"({how}; a batch with more positives than rows leaves the rest out of the mask loss)")
    return line


def write_results(path: Path, data: dict) -> Path:
    """Write `data` as JSON to `path`, whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, finite_or_none(data), sort_keys=False, allow_nan=False, fsync=True)
    return path


def read_results(path: Path) -> dict:
    """A results.json written by write_results."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise NpuportError(f"no results at {path}: run `npuport train` first") from None
    except json.JSONDecodeError as exc:
        raise NpuportError(f"{path} is not valid JSON ({exc.msg}): delete it and train again") from None
