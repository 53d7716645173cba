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
    data.update({
        "versions": dict(versions),
        "lock_hash": lock_hash,
        "command": list(command),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return finite_or_none(data)


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
