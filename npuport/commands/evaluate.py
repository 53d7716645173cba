"""`npuport eval NAME --checkpoint F`: accuracy alone (COCO bbox/segm mAP with pycocotools for mmdet recipes)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .. import build
from ..errors import CheckFailed, UsageError
from ..recipe import Recipe
from ..workspace import Workspace, default_root

EVAL_DRIVERS = {"npuport.drivers.mmdet_train": "npuport.drivers.mmdet_eval",
                "npuport.drivers.mmdet1_train": "npuport.drivers.mmdet1_eval"}


def evaluate(recipe: Recipe, checkpoint: str, *, data: str | None = None, workspace: str | None = None,
             device: str | None = None, img_scale: str | None = None, score_thr: float | None = None,
             extra: list[str] | None = None, log=print) -> dict:
    if recipe.train is None or recipe.train.driver not in EVAL_DRIVERS:
        raise UsageError(f"recipe {recipe.name} has no evaluation entry; its driver reports accuracy after training "
                         "(npuport train NAME --mode full)")
    if not Path(checkpoint).is_file():
        raise UsageError(f"--checkpoint {checkpoint}: no such file; give a .pth written by `npuport train {recipe.name}`")
    if data is None or not Path(data).is_dir():
        raise UsageError(f"--data {data}: no such folder; give the COCO-format data set root the model is evaluated on")
    ws = Workspace(Path(workspace) if workspace else default_root(recipe.name))
    ws.require(recipe.name)
    config, *overrides = recipe.train.config_files(recipe.folder, ws.src)
    argv = [str(build.env_python(ws)), "-m", EVAL_DRIVERS[recipe.train.driver], config, os.path.abspath(checkpoint),
            *overrides, "--data-root", os.path.abspath(data)]
    if img_scale:
        argv += ["--img-scale", img_scale]
    if score_thr is not None:
        argv += ["--score-thr", str(score_thr)]
    argv += list(extra or ())
    env = {**os.environ, **({"NPUPORT_DEVICE": device} if device else {})}
    log(f"+ {' '.join(argv)}")
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckFailed(f"evaluation of {checkpoint} failed (exit {proc.returncode}): {tail}")
    return json.loads(proc.stdout)
