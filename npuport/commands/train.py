"""`npuport train NAME`: launch the recipe's driver on 1..N devices, then write results.json beside the references."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import build, contract
from ..contract import METRICS_FILE, PROFILE_FILE, RESULTS_FILE, RUN_FILE
from ..errors import CheckFailed, UsageError
from ..launch.device import check_device, detect_device
from ..launch.job import LaunchOptions, LaunchPlan
from ..launch.plan import Launch, Topology
from ..recipe import Recipe
from ..workspace import Workspace, default_root, is_stale, lock_hash


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
    launch: LaunchOptions | None = None  # launcher, Slurm, CANN, --env, pinning; its topology wins when given
    skip_checks: bool = False  # skip the pre-launch doctor checks
    extra: list[str] = field(default_factory=list)  # driver arguments after `--`, after the recipe's own
    save_checkpoint: bool = False  # runs of --max-iters (FPS, profiles) keep no checkpoint unless asked
    profile: bool = False  # a census of every training step (npuport.runtime.census) into results.json
    profile_warmup: int = 3
    compile_backend: str | None = None  # profile torch.compile's graph breaks and recompiles instead
    warmup_iters: int | None = None  # FPS warm-up (default: the recipe's)


@dataclass
class TrainResult:
    launch: Launch
    work_dir: Path
    results: dict | None = None
    table: str = ""
    plan: LaunchPlan | None = None


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


def amp_level(recipe: Recipe, opts: TrainOptions, device: str) -> str:
    """The recipe's AMP level on an accelerator. On the CPU autocast means bfloat16, which most CPUs run slower
    than float32, so AMP is off there unless --amp asks for it."""
    if opts.amp:
        return opts.amp
    return "off" if device == "cpu" else recipe.train.amp


def driver_args(recipe: Recipe, opts: TrainOptions, data_root: Path, work_dir: Path, ws: Workspace,
                device: str = "cpu") -> list[str]:
    """The driver's arguments: its config, the run contract's, the recipe's own, then the user's (after `--`)."""
    t = recipe.train
    full = opts.mode == "full"
    run = contract.DriverArgs(str(work_dir), str(data_root), opts.seed, amp_level(recipe, opts, device), t.loss_scale,
                              t.samples_per_device, opts.max_iters, opts.epochs or (t.epochs if full else None),
                              keep_checkpoint=opts.save_checkpoint, validate=full, img_scale=opts.img_scale)
    return [*t.config_files(recipe.folder, ws.src), *run.argv(), *t.args, *opts.extra]


def train(recipe: Recipe, opts: TrainOptions, log=print) -> TrainResult:
    if recipe.train is None:
        raise UsageError(f"recipe {recipe.name} has no [train] table; it cannot be trained")
    if opts.max_iters is not None and opts.max_iters < 1:
        raise UsageError(f"--max-iters {opts.max_iters}: give at least 1")
    if opts.mode == "performance" and not (opts.max_iters or opts.epochs):
        opts.max_iters = 50
    ws = Workspace(Path(opts.workspace) if opts.workspace else default_root(recipe.name))
    # a dry run prints the launch plan of a workspace that may not be set up yet, for a device that may not be here
    lock = ws.read_lock() if opts.dry_run else ws.require(recipe.name)
    if lock is None:
        log(f"npuport: note: workspace {ws.root} is not set up; the plan uses the paths `npuport setup "
            f"{recipe.name}` will create there")
    elif is_stale(recipe, lock):
        log(f"npuport: warning: workspace {ws.root} was set up from another version of recipe {recipe.name} "
            f"(or of npuport); run `npuport setup {recipe.name}` to bring it up to date")
    if not opts.dry_run and not build.env_python(ws).exists():
        raise UsageError(f"workspace {ws.root} has no built environment; run `npuport setup {recipe.name}` again")
    if opts.data != "synthetic" and not Path(opts.data).expanduser().is_dir():
        raise UsageError(f"--data {opts.data}: no such folder; give a data set root or --data synthetic")
    device = opts.device or detect_device()
    if not opts.dry_run:
        check_device(device)
    lopts = opts.launch or LaunchOptions(opts.topology)
    topo = opts.topology = lopts.topology
    topo.check()
    work_dir = Path(opts.work_dir or Path("work_dirs") / recipe.name).resolve()
    warmup = recipe.train.warmup_iters if opts.warmup_iters is None else opts.warmup_iters
    env = {contract.DEVICE_ENV: device, contract.WARMUP_ENV: str(warmup), "PYTHONUNBUFFERED": "1"}
    if opts.profile:
        from ..runtime import profiling

        env[profiling.PROFILE_ENV] = str(work_dir / PROFILE_FILE)
        env[profiling.WARMUP_ENV] = str(opts.profile_warmup)
        if opts.compile_backend:
            env[profiling.COMPILE_ENV] = opts.compile_backend
    recipe_env = {k: str(v) for k, v in recipe.train.npu_env} if device == "npu" else {}
    if not opts.dry_run and not opts.skip_checks:
        pre_launch_checks(device, lopts, recipe_env, work_dir, log)
    if opts.dry_run:  # nothing is written: a synthetic data set would be generated at WORK_DIR/data
        data_root = work_dir / "data" if opts.data == "synthetic" else prepare_data(recipe, opts.data, work_dir, 1)
    else:
        work_dir.mkdir(parents=True, exist_ok=True)
        data_root = prepare_data(recipe, opts.data, work_dir, topo.world_size)
    from ..launch.job import execute, plan

    lp = plan(str(build.env_python(ws)), recipe.train.driver, driver_args(recipe, opts, data_root, work_dir, ws, device), device,
              env, lopts, work_dir, recipe_env, job_name=f"npuport-{recipe.name}", require_cann=not opts.dry_run)
    if opts.dry_run:  # the CLI prints lp.describe(): every node's command, or the Slurm script
        return TrainResult(lp.here, work_dir, plan=lp)
    log(f"+ {lp.here.shell()}")
    rank0_here = lopts.launcher == "slurm" or topo.node_rank == 0 or topo.elastic
    for stale in (METRICS_FILE, RUN_FILE, RESULTS_FILE, PROFILE_FILE) if rank0_here else ():
        (work_dir / stale).unlink(missing_ok=True)
    execute(lp, lopts, work_dir, opts.max_iters, log)
    if not rank0_here or (topo.elastic and not (work_dir / METRICS_FILE).exists()):
        log(f"this node's ranks finished; the node that ran rank 0 writes {work_dir / RESULTS_FILE}")
        return TrainResult(lp.here, work_dir, plan=lp)
    results = collect(recipe, device, topo, work_dir, lock, lp.here, warmup, opts.profile)
    from ..results.table import format_table

    table = format_table(results, list(recipe.references), recipe.train.metric)
    return TrainResult(lp.here, work_dir, results, table, lp)


def pre_launch_checks(device: str, lopts: LaunchOptions, recipe_env: dict, work_dir: Path, log) -> None:
    """The doctor's checks that concern this launch; warnings are logged, failures stop it."""
    from .doctor import BEFORE_SLURM, BEFORE_TRAIN, FAIL, WARN, DoctorOptions, doctor

    env = {**recipe_env, **lopts.env}
    source = {**{k: "recipe" for k in recipe_env}, **{k: "--env" for k in lopts.env}}
    which = BEFORE_SLURM if lopts.launcher == "slurm" else BEFORE_TRAIN
    report = doctor(DoctorOptions(device, lopts.topology, lopts.cann, str(work_dir), env, source), which)
    for c in report.checks:
        if c.status == WARN:
            log(f"npuport: warning: {c.name}: {c.detail}")
    bad = [c for c in report.checks if c.status == FAIL]
    if bad:
        raise CheckFailed("pre-launch checks failed: " + "; ".join(f"{c.name}: {c.detail}" for c in bad)
                          + " (see `npuport doctor`; --skip-checks launches anyway)")


def collect(recipe: Recipe, device: str, topo: Topology, work_dir: Path, lock: dict, launch: Launch,
            warmup: int, profiled: bool = False) -> dict:
    from ..results.fps import read_metrics
    from ..results.report import build_results, losses_finite, write_results

    records = read_metrics(work_dir / METRICS_FILE)
    run_file = work_dir / RUN_FILE
    run_info = json.loads(run_file.read_text()) if run_file.exists() else {}
    per_device = run_info.get("samples_per_device") or recipe.train.samples_per_device  # `-- ...` may change it
    results = build_results(recipe.name, device, topo.world_size, per_device, records,
                            warmup, run_info, run_info.get("versions", {}), lock_hash(lock), launch.argv)
    profile_file = work_dir / PROFILE_FILE
    if profiled and profile_file.exists():  # the census summary; the whole report stays in its own file
        census = json.loads(profile_file.read_text())
        results["profile"] = {"file": str(profile_file), "kind": census.get("kind"), "warmup": census.get("warmup"),
                              "measured": census.get("measured") or census.get("after_warmup")}
    write_results(work_dir / RESULTS_FILE, results)
    if not losses_finite(records):
        raise CheckFailed(f"training of {recipe.name} gave a non-finite loss; see {work_dir / RESULTS_FILE}")
    return results
