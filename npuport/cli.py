"""The command line: thin click commands over plain functions. Heavy modules are imported inside commands so
that `npuport --help` stays fast (no torch, no libcst)."""

from __future__ import annotations

import sys

import click

from . import __version__, output
from .commands.data import FORMATS
from .commands.options import (device_option, dry_run_option, fetch_options, json_option, overlay_options,
                               recipes_option, workspace_option)
from .errors import NpuportError
from .launch.options import launch_options, topology_options
from .output import emit_json, log

EXIT_DOC = "Exit codes: 0 ok, 1 a check or run failed, 2 usage error."


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}, epilog=EXIT_DOC)
@click.version_option(__version__, prog_name="npuport")
def cli() -> None:
    """Port OpenMMLab-era PyTorch models to Ascend NPUs and run their training recipes."""


@cli.command("list")
@json_option
@recipes_option
def list_cmd(as_json: bool, recipe_dirs) -> None:
    """Recipes, their sources and supported versions."""
    from . import recipe
    from .commands import catalog

    recipes = [recipe.load(n, recipe_dirs) for n in recipe.all_names(recipe_dirs)]
    if as_json:
        emit_json({"recipes": [catalog.recipe_summary(r) for r in recipes]})
    else:
        click.echo(catalog.format_list(recipes))


@cli.command("show")
@click.argument("name")
@json_option
@recipes_option
def show_cmd(name: str, as_json: bool, recipe_dirs) -> None:
    """One recipe: pins, steps with their rationale, reference results."""
    from . import recipe
    from .commands import catalog

    r = recipe.load(name, recipe_dirs)
    if as_json:
        emit_json(catalog.recipe_detail(r))
    else:
        click.echo(catalog.format_show(r))


@cli.command("setup")
@click.argument("name")
@click.option("--mmcv", "mmcv_version", metavar="VER", help="The mmcv version to build on (see `npuport show NAME`).")
@workspace_option
@device_option("Device the workspace targets (default: detect).")
@fetch_options
@click.option("--force", is_flag=True, help="Replace hand edits in the workspace.")
@click.option("--amp", type=click.Choice(["apex", "native"]),
              help="apex: install NVIDIA apex (pinned git commit, patched, Python-only); default: the recipe's.")
@dry_run_option
@json_option
@recipes_option
def setup_cmd(name, mmcv_version, workspace, device, offline, mirrors, sources, force, amp, dry_run, as_json,
              recipe_dirs):
    """Fetch, verify, patch, build and install NAME into a workspace."""
    from . import recipe
    from .commands.setup import setup

    r = recipe.load(name, recipe_dirs)
    res = setup(r, versions={"mmcv": mmcv_version}, workspace=workspace, source_pairs=sources, mirror_pairs=mirrors,
                offline=offline, dry_run=dry_run, force=force, amp=amp, device=device, log=log)
    if as_json:
        emit_json(res.to_json())
    else:
        click.echo(output.setup_text(res))


@cli.command("verify-patches")
@click.argument("names", nargs=-1)
@fetch_options
@click.option("--skip-unreachable", is_flag=True, help="An unreachable upstream is reported but is not a failure.")
@click.option("--record", is_flag=True, help="Record the steps' base and result hashes into the recipes (developers).")
@click.option("--mmcv", "mmcv_version", metavar="VER", help="Only this pinned mmcv version (default: every one).")
@json_option
@recipes_option
def verify_cmd(names, offline, mirrors, sources, skip_unreachable, record, mmcv_version, as_json, recipe_dirs):
    """Prove every step of every recipe applies, exactly and idempotently, to every pinned version."""
    from . import recipe
    from .commands.verify import offering, verify

    recipes = [recipe.load(n, recipe_dirs) for n in (list(names) or recipe.all_names(recipe_dirs))]
    if mmcv_version and not names:
        recipes = offering(recipes, "mmcv", mmcv_version)
    report = verify(recipes, source_pairs=sources, mirror_pairs=mirrors, offline=offline,
                    skip_unreachable=skip_unreachable, record=record, versions={"mmcv": mmcv_version})
    if as_json:
        emit_json({"ok": report.ok, "recipes": [v.to_json() for v in report.versions]})
    else:
        click.echo(output.verify_table(report))
        click.echo(report.summary(), err=True)
    sys.exit(0 if report.ok else 1)


@cli.command("pin")
@click.argument("name")
@click.option("--mmcv", "mmcv_version", metavar="VER", required=True, help="The mmcv version to bring in.")
@click.option("--check-only", is_flag=True, help="Report per step (ok / drift / fails); record nothing.")
@click.option("--mirror", "mirrors", multiple=True, metavar="FROM=TO", help="Rewrite URL prefixes; repeatable.")
@json_option
@recipes_option
def pin_cmd(name, mmcv_version, check_only, mirrors, as_json, recipe_dirs):
    """Run every step of NAME on mmcv VER; when all hold, record VER's sha256 and hashes in the recipe."""
    from . import recipe
    from .commands.pin import format_pin, pin

    res = pin(recipe.load(name, recipe_dirs), "mmcv", mmcv_version, mirror_pairs=mirrors, check_only=check_only, log=log)
    emit_json(res.to_json()) if as_json else click.echo(format_pin(res))
    sys.exit(0 if res.ok else 1)


@cli.command("diff")
@click.argument("name")
@click.option("--mmcv", "mmcv_version", metavar="VER")
@fetch_options
@recipes_option
def diff_cmd(name, mmcv_version, offline, mirrors, sources, recipe_dirs):
    """The whole patch set of NAME as one unified diff against the pristine upstream."""
    from . import recipe
    from .commands.diff import patch_set_diff
    from .commands.inputs import fetch_all
    from .recipe.resolve import resolve

    r = recipe.load(name, recipe_dirs)
    inputs = fetch_all(r, resolve(r, {"mmcv": mmcv_version}), source_pairs=sources, mirror_pairs=mirrors, offline=offline)
    click.echo(patch_set_diff(r, inputs), nl=False)


@cli.command("revert")
@click.argument("name")
@workspace_option
@click.option("--offline", is_flag=True)
@click.option("--mirror", "mirrors", multiple=True, metavar="FROM=TO")
@recipes_option
def revert_cmd(name, workspace, offline, mirrors, recipe_dirs):
    """Put the pristine upstream tree back in NAME's workspace."""
    from . import recipe
    from .commands.revert import revert

    res = revert(recipe.load(name, recipe_dirs), workspace=workspace, mirror_pairs=mirrors, offline=offline)
    click.echo(f"{res.recipe}: workspace {res.workspace} holds the pristine sources (lock {res.lock_hash[:12]})")


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
    from . import recipe
    from .commands.train import TrainOptions, train
    from .launch.options import launch_from

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
    from . import recipe
    from .commands.profile import ProfileOptions, check, format_report, profile

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
    from . import recipe
    from .commands.doctor import DoctorOptions, doctor
    from .launch.device import detect_device
    from .launch.npu_env import parse_overrides
    from .launch.options import topology_from

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
    from . import recipe
    from .commands.evaluate import evaluate

    metrics = evaluate(recipe.load(name, recipe_dirs), checkpoint, data=data, workspace=workspace, device=device,
                       img_scale=img_scale, score_thr=score_thr, extra=list(extra), log=log)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(output.eval_text(metrics))


@cli.command("scan")
@click.argument("path", type=click.Path(exists=True))
@click.option("--select", multiple=True, metavar="IDS", help="Rule IDs, families (NPU3) or comma lists; default all.")
@json_option
def scan_cmd(path, select, as_json):
    """Report the NPU porting sites in any tree (exit 1 when there are some, like black --check)."""
    from pathlib import Path

    from .commands.scan import scan

    report = scan(Path(path), list(select) or None)
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(report.format_text())
    sys.exit(1 if report.found else 0)


@cli.command("port")
@click.argument("path", type=click.Path(exists=True))
@click.option("--select", multiple=True, metavar="IDS", help="Rule IDs, families (NPU1) or comma lists; default all fixable.")
@click.option("--diff", "mode", flag_value="diff", default=True, help="Print a unified diff, write nothing (default).")
@click.option("--write", "mode", flag_value="write", help="Rewrite the files in place (atomically, one by one).")
def port_cmd(path, select, mode):
    """Apply the fixable rewriters to any tree."""
    from pathlib import Path

    from .commands.scan import port

    report = port(Path(path), list(select) or None, write=mode == "write")
    if mode == "diff":
        click.echo(report.diff, nl=False)
        click.echo(output.port_diff_summary(report), err=True)
    else:
        click.echo(report.format_text())


@cli.group("overlay")
def overlay_group() -> None:
    """Hand-made ports' whole-file overlays: audit them, import them as recipe steps, shrink them to diffs."""


@overlay_group.command("audit")
@overlay_options
@json_option
def overlay_audit_cmd(folder, onto, maps, mirrors, max_downloads, as_json):
    """Say what each file of DIR is: no-op, misplaced, cut from another version, or a real change (exit 1 unless
    every file is a real change)."""
    from .overlay import audit

    report = audit(folder, onto, maps, mirror_pairs=mirrors, max_downloads=max_downloads)
    if as_json:
        emit_json(report.to_json())
    else:
        click.echo(report.format_text())
    sys.exit(0 if report.ok else 1)


@overlay_group.command("import")
@overlay_options
@click.option("--out", metavar="RECIPE_DIR", help="Recipe folder to add the step to, or to create (default: recipes/<DIR name>).")
@click.option("--id", "step_id", metavar="ID", help="The step's id (default: overlay-<DIR name>).")
@click.option("--why", metavar="TEXT", help="The step's one-line rationale.")
@click.option("--partial", is_flag=True, help="Import the real changes only; leave out (and list) every other file.")
@json_option
def overlay_import_cmd(folder, onto, maps, mirrors, max_downloads, out, step_id, why, partial, as_json):
    """Audit DIR, then write its real changes as an `overlay` step with its recorded base hashes (exit 1, writing
    nothing, when a file is misplaced or cut from another version, unless --partial)."""
    from .overlay import import_overlay

    res = import_overlay(folder, onto, maps, out=out, step_id=step_id or "", why=why or "", partial=partial,
                         mirror_pairs=mirrors, max_downloads=max_downloads)
    if as_json:
        emit_json(res.to_json())
    else:
        click.echo(res.report.format_text())
        click.echo(res.detail, err=not res.written)
    sys.exit(0 if res.written else 1)


@overlay_group.command("to-patch")
@overlay_options
@click.option("--out", metavar="FILE", help="Write the diff to FILE (a `diff` step's patch) instead of stdout.")
@json_option
def overlay_to_patch_cmd(folder, onto, maps, mirrors, max_downloads, out, as_json):
    """Turn DIR's real changes into the rewriters that make them and a minimal zero-fuzz diff of the rest
    (exit 1 when no file is a real change)."""
    from .commands.overlay import to_patch_file

    res = to_patch_file(folder, onto, maps, mirror_pairs=mirrors, max_downloads=max_downloads, out=out)
    if as_json:
        emit_json(res.to_json())
    else:
        for note in output.to_patch_notes(res):
            log(note)
        if not out:
            click.echo(res.diff, nl=False)
    sys.exit(0 if res.patches else 1)


@cli.group("data")
def data_group() -> None:
    """Small generated data sets in the real on-disk formats."""


@data_group.command("synth")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder to write (replaced whole if npuport made it).")
@click.option("--images", type=click.IntRange(1), help="COCO: training images (default 16); CIFAR-10: training images (default 5000).")
@click.option("--size", type=click.IntRange(32, 4096), default=320, show_default=True, help="COCO: image side in pixels.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def synth_cmd(fmt, out, images, size, seed, as_json):
    """Write a small deterministic data set: COCO instances (boxes + polygons) or CIFAR-10 python batches."""
    from .commands.data import synth

    report = synth(fmt, out, images, size, seed)
    if as_json:
        emit_json(report.to_json())
    else:
        click.echo(output.synth_text(fmt, report, seed))


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("npuport: aborted", err=True)
        sys.exit(130)
    except NpuportError as exc:
        click.echo(f"npuport: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("npuport: interrupted; nothing half-written was swapped in", err=True)
        sys.exit(130)
