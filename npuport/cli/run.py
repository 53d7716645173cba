"""Commands that run a recipe's model: train, profile, doctor, eval."""

from __future__ import annotations

import sys

import click

from .. import output
from ..commands.options import device_option, dry_run_option, json_option, recipes_option, workspace_option
from ..launch.options import launch_options, topology_options
from ..output import emit_json, log
from .group import cli


@cli.command("train")
@click.argument("name")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED, metavar="[-- DRIVER_ARGS...]")
@launch_options
@device_option()
@click.option("--data", default="synthetic", show_default=True, help="Data set root, or `synthetic` to generate one.")
@click.option("--max-iters", type=int, help="Train N iterations (default 50 in performance mode).")
@click.option("--epochs", type=int, help="Train N epochs.")
@click.option("--warmup-iters", type=click.IntRange(min=0), metavar="N",
              help="Iterations left out of FPS (default: the recipe's warm-up).")
@click.option("--mode", type=click.Choice(["performance", "full"]), default="performance", show_default=True,
              help="performance: iterations for FPS; full: the recipe's epochs, then evaluation.")
@click.option("--amp", type=click.Choice(["O1", "off"]), help="Mixed precision (default: the recipe's).")
@click.option("--img-scale", metavar="W,H", help="Resize every image to W,H (small-image CPU runs).")
@click.option("--work-dir", metavar="DIR", help="Logs, checkpoints and results.json (default work_dirs/NAME).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--skip-checks", is_flag=True, help="Launch without the pre-launch checks of `npuport doctor`.")
@click.option("--save-checkpoint", is_flag=True,
              help="With --max-iters, keep the final checkpoint (runs of --epochs always keep theirs).")
@click.option("--profile", "profile_", is_flag=True,
              help="Count every step's data-dependent ops, syncs, int64 ops and new signatures (see `npuport profile`); "
                   "the summary goes into results.json.")
@workspace_option
@dry_run_option
@json_option
@recipes_option
def train_cmd(name, extra, device, data, max_iters, epochs, warmup_iters, mode, amp, img_scale, work_dir, seed, skip_checks,
              save_checkpoint, profile_, workspace, dry_run, as_json, recipe_dirs, **launch_kw):
    """Train NAME on 1..N devices and report FPS, loss and accuracy beside the reference numbers.

    Arguments after `--` go to the recipe's training driver, after the recipe's own (e.g. a smaller model for a
    CPU run: `npuport train genet -- --depth 10 --width 2`)."""
    from .. import recipe
    from ..commands.train import TrainOptions, train
    from ..launch.options import launch_from

    if max_iters and epochs:
        raise click.UsageError("give --max-iters or --epochs, not both")
    lopts = launch_from(launch_kw)
    opts = TrainOptions(lopts.topology, device, data, max_iters, epochs, mode, amp, work_dir, seed, workspace,
                        img_scale, dry_run, lopts, skip_checks, list(extra), save_checkpoint=save_checkpoint,
                        profile=profile_, warmup_iters=warmup_iters)
    res = train(recipe.load(name, recipe_dirs), opts, log=log)
    if as_json:
        emit_json(output.train_json(res))
    elif (text := output.train_text(res, dry_run)) is not None:
        click.echo(text)


@cli.command("profile")
@click.argument("name")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED, metavar="[-- DRIVER_ARGS...]")
@click.option("--iters", type=int, default=20, show_default=True, help="Training iterations to run.")
@click.option("--warmup", type=int, default=3, show_default=True, help="Iterations before the census counts sites.")
@device_option()
@click.option("--data", default="synthetic", show_default=True, help="Data set root, or `synthetic` to generate one.")
@click.option("--img-scale", metavar="W,H", help="Resize every image to W,H (a fixed size: static shapes need one).")
@click.option("--compile", "compile_", is_flag=True,
              help="Count torch.compile's graph breaks and recompiles (dynamic=False) instead of the op census.")
@click.option("--backend", default="aot_eager", show_default=True, help="The torch.compile backend for --compile.")
@click.option("--plot", metavar="FILE", help="Where to draw the per-iteration PNG (default WORK_DIR/npuport-profile.png).")
@click.option("--work-dir", metavar="DIR", help="Default work_dirs/NAME-profile.")
@click.option("--seed", type=int, default=0, show_default=True)
@workspace_option
@json_option
@recipes_option
def profile_cmd(name, extra, iters, warmup, device, data, img_scale, compile_, backend, plot, work_dir, seed, workspace,
                as_json, recipe_dirs):
    """Census of NAME's training step: data-dependent shapes, host syncs, int64 ops and new kernel signatures
    per iteration, each ranked by source line (what keeps a step from being static on an NPU)."""
    from .. import recipe
    from ..commands.profile import ProfileOptions, check, format_report, profile

    opts = ProfileOptions(iters, warmup, device, data, img_scale, work_dir, workspace, seed,
                          backend if compile_ else None, plot, list(extra))
    check(opts)  # before the recipe is loaded: bad numbers are usage errors whatever the recipe
    res = profile(recipe.load(name, recipe_dirs), opts, log=log)
    log(format_report(res))
    if as_json:
        emit_json(res.to_json())


@cli.command("doctor")
@topology_options
@click.option("--recipe", "recipe_name", metavar="NAME", help="Check with this recipe's NPU variables.")
@device_option()
@click.option("--cann", metavar="PATH", help="CANN toolkit (default ASCEND_TOOLKIT_HOME, then the standard path).")
@click.option("--env", "env_pairs", multiple=True, metavar="NAME=VALUE", help="As for train; repeatable.")
@click.option("--work-dir", metavar="DIR", default=".", show_default=True, help="Where the run writes (disk check).")
@json_option
@recipes_option
def doctor_cmd(recipe_name, device, cann, env_pairs, work_dir, as_json, recipe_dirs, **topo_kw):
    """Check this machine before a launch: versions, CANN, devices, master, HCCL timeout, disk, pip index."""
    from .. import recipe
    from ..commands.doctor import DoctorOptions, doctor
    from ..launch.device import detect_device
    from ..launch.npu_env import parse_overrides
    from ..launch.options import topology_from

    device = device or detect_device()
    recipe_env = {}
    if recipe_name:
        r = recipe.load(recipe_name, recipe_dirs)
        recipe_env = {k: str(v) for k, v in r.train.npu_env} if r.train and device == "npu" else {}
    overrides = parse_overrides(env_pairs)
    source = {**{k: "recipe" for k in recipe_env}, **{k: "--env" for k in overrides}}
    report = doctor(DoctorOptions(device, topology_from(topo_kw), cann, work_dir, {**recipe_env, **overrides}, source))
    if as_json:
        emit_json({"device": device, **report.to_json()})
    else:
        click.echo(report.format_table())
        click.echo("all checks passed" if report.ok else "some checks failed", err=True)
    sys.exit(0 if report.ok else 1)


@cli.command("eval")
@click.argument("name")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED, metavar="[-- DRIVER_ARGS...]")
@click.option("--checkpoint", required=True, metavar="FILE", help="A checkpoint written by `npuport train`.")
@click.option("--data", required=True, metavar="DIR", help="The data set root (COCO layout) to evaluate on.")
@device_option("Default: as the evaluation process finds it: NPUPORT_DEVICE, else npu, cuda or cpu, the first present.")
@click.option("--img-scale", metavar="W,H", help="The image scale the model was trained with.")
@click.option("--score-thr", type=float, help="Score threshold (low values for barely trained models).")
@workspace_option
@json_option
@recipes_option
def eval_cmd(name, extra, checkpoint, data, device, img_scale, score_thr, workspace, as_json, recipe_dirs):
    """Accuracy alone: COCO bbox and segm mAP of a checkpoint, with pycocotools.

    Arguments after `--` go to the recipe's evaluation driver: the config changes training had
    (`-- --cfg-options model.bbox_head.stacked_convs=2`)."""
    from .. import recipe
    from ..commands.evaluate import evaluate

    metrics = evaluate(recipe.load(name, recipe_dirs), checkpoint, data=data, workspace=workspace, device=device,
                       img_scale=img_scale, score_thr=score_thr, extra=list(extra), log=log)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(output.eval_text(metrics))
