"""`npuport train NAME`: launch the recipe's driver on 1..N devices, then write results.json beside the references."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .. import build
from ..errors import CheckFailed, UsageError
from ..launch.plan import Launch, Topology
from ..launch.plan import build as build_launch
from ..recipe import Recipe
from ..workspace import Workspace, default_root, lock_hash

RUN_FILE = "npuport-run.json"


@dataclass
class TrainOptions:
    topology: Topology = field(default_factory=Topology)
    device: str | None = None
    data: str = "synthetic"
    max_iters: int | None = None
    epochs: int | None = None
    mode: str = "performance"  # performance: iterations for FPS; full: the recipe's epochs, then evaluation
    amp: str | None = None
    work_dir: str | None = None
    seed: int = 0
    workspace: str | None = None
    img_scale: str | None = None
    dry_run: bool = False


@dataclass
class TrainResult:
    launch: Launch
    work_dir: Path
    results: dict | None = None
    table: str = ""


def detect_device() -> str:
    """npu when torch_npu and a device are present, else cuda when available, else cpu."""
    from .. import runtime

    return runtime.device_type()


def check_device(device: str) -> None:
    import importlib.util

    if device == "npu" and importlib.util.find_spec("torch_npu") is None:
        raise UsageError("--device npu: torch_npu is not installed in this environment; install Ascend's torch_npu "
                         "matching your torch and CANN, or choose --device cuda|cpu")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible; choose --device cpu (or npu on an Ascend server)")


def prepare_data(recipe: Recipe, data: str, work_dir: Path, world_size: int) -> Path:
    """`synthetic` generates a small data set in the work dir; a folder must hold the recipe's format."""
    fmt = recipe.train.data_format
    if data == "synthetic":
        out = work_dir / "data"
        if fmt == "cifar10":
            from ..data.cifar10 import synth_cifar10

            synth_cifar10(out, train=5000, test=1000)
        else:
            from ..data.coco import synth_coco

            synth_coco(out, images=max(16, 8 * world_size), size=320)
        return out
    root = Path(data).expanduser().resolve()
    need = {"coco": ["annotations/instances_train2017.json", "train2017"],
            "cifar10": ["cifar-10-batches-py/data_batch_1"]}.get(fmt, [])
    missing = [n for n in need if not (root / n).exists()]
    if not root.is_dir() or missing:
        raise UsageError(f"--data {data}: not a {fmt} data set (missing {', '.join(missing) or 'the folder'}); "
                         f"give its root folder, or --data synthetic, or make one with "
                         f"`npuport data synth --format {fmt} --out DIR`")
    return root


def driver_args(recipe: Recipe, opts: TrainOptions, data_root: Path, work_dir: Path) -> list[str]:
    t = recipe.train
    args = [str(recipe.folder / t.config)] if t.config else []
    args += ["--work-dir", str(work_dir), "--data-root", str(data_root), "--seed", str(opts.seed),
             "--amp", opts.amp or t.amp, "--loss-scale", f"{t.loss_scale:g}",
             "--samples-per-device", str(t.samples_per_device)]
    if opts.max_iters:
        args += ["--max-iters", str(opts.max_iters)]
    elif opts.epochs or opts.mode == "full":
        args += ["--epochs", str(opts.epochs or t.epochs)]
    if opts.mode == "full":
        args.append("--validate")
    if opts.img_scale:
        args += ["--img-scale", opts.img_scale]
    return [*args, *t.args]


def train(recipe: Recipe, opts: TrainOptions, log=print) -> TrainResult:
    if recipe.train is None:
        raise UsageError(f"recipe {recipe.name} has no [train] table; it cannot be trained")
    if opts.max_iters is not None and opts.max_iters < 1:
        raise UsageError(f"--max-iters {opts.max_iters}: give at least 1")
    if opts.mode == "performance" and not (opts.max_iters or opts.epochs):
        opts.max_iters = 50
    ws = Workspace(Path(opts.workspace) if opts.workspace else default_root(recipe.name))
    lock = ws.require(recipe.name)
    if not build.env_python(ws).exists():
        raise UsageError(f"workspace {ws.root} has no built environment; run `npuport setup {recipe.name}` again")
    if opts.data != "synthetic" and not Path(opts.data).expanduser().is_dir():
        raise UsageError(f"--data {opts.data}: no such folder; give a data set root or --data synthetic")
    device = opts.device or detect_device()
    check_device(device)
    topo = opts.topology
    topo.check()
    work_dir = Path(opts.work_dir or Path("work_dirs") / recipe.name).resolve()
    env = {"NPUPORT_DEVICE": device, "NPUPORT_WARMUP_ITERS": str(recipe.train.warmup_iters), "PYTHONUNBUFFERED": "1"}
    if device == "npu":
        env.update(dict(recipe.train.npu_env))
    data_root = Path(opts.data) if opts.dry_run and opts.data == "synthetic" else None
    if data_root is None:
        work_dir.mkdir(parents=True, exist_ok=True)
        data_root = prepare_data(recipe, opts.data, work_dir, topo.world_size)
    launch = build_launch(str(build.env_python(ws)), recipe.train.driver,
                          driver_args(recipe, opts, data_root, work_dir), topo, env)
    log(f"+ {launch.shell()}")
    if opts.dry_run:
        return TrainResult(launch, work_dir)
    for stale in ("npuport-metrics.jsonl", RUN_FILE, "results.json"):
        (work_dir / stale).unlink(missing_ok=True)
    run_and_follow(launch, work_dir, opts.max_iters)
    results = collect(recipe, device, topo, work_dir, lock, launch)
    from ..results.table import format_table

    table = format_table(results, list(recipe.references), recipe.train.metric)
    return TrainResult(launch, work_dir, results, table)


def run_and_follow(launch: Launch, work_dir: Path, total_iters: int | None) -> None:
    """Run the launch with a progress bar fed from the metrics file; per-rank logs go to WORK_DIR/logs."""
    from ..results.fps import METRICS_FILE
    from ..results.progress import follow

    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = list(launch.argv)
    if "torch.distributed.run" in argv:  # torchrun writes each rank's stdout/stderr under logs/
        at = argv.index("torch.distributed.run") + 1
        argv[at:at] = [f"--log-dir={logs}", "--redirects=3"]
    stop = threading.Event()
    bar = threading.Thread(target=follow, args=(work_dir / METRICS_FILE, total_iters or 0, stop), daemon=True)
    bar.start()
    with open(logs / "launcher.log", "w") as out:
        proc = subprocess.run(argv, env={**os.environ, **launch.env}, stdout=out, stderr=subprocess.STDOUT)
    stop.set()
    bar.join(timeout=5)
    if proc.returncode != 0:
        raise CheckFailed(f"training failed (exit {proc.returncode}): {last_error(logs)}; logs in {logs}")


def last_error(logs: Path) -> str:
    """The last line that looks like an error in the rank logs, for the one-line message."""
    best = ""
    for f in sorted(logs.rglob("*.log")):
        for line in f.read_text(errors="replace").splitlines():
            if "Error" in line or "error:" in line:
                best = line.strip()
    return best[:300] or "no error line in the logs"


def collect(recipe: Recipe, device: str, topo: Topology, work_dir: Path, lock: dict, launch: Launch) -> dict:
    from ..results.fps import METRICS_FILE, read_metrics
    from ..results.report import build_results, losses_finite, write_results

    records = read_metrics(work_dir / METRICS_FILE)
    run_file = work_dir / RUN_FILE
    run_info = json.loads(run_file.read_text()) if run_file.exists() else {}
    results = build_results(recipe.name, device, topo.world_size, recipe.train.samples_per_device, records,
                            recipe.train.warmup_iters, run_info, run_info.get("versions", {}), lock_hash(lock),
                            launch.argv)
    write_results(work_dir / "results.json", results)
    if not losses_finite(records):
        raise CheckFailed(f"training of {recipe.name} gave a non-finite loss; see {work_dir / 'results.json'}")
    return results
