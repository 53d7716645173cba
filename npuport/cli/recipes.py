"""Commands on recipes: list, show, setup, verify-patches, pin, diff, revert."""

from __future__ import annotations

import sys

import click

from .. import output
from ..commands.options import (device_option, dry_run_option, fetch_options, json_option, recipes_option,
                                workspace_option)
from ..output import emit_json, log
from .group import cli


@cli.command("list")
@json_option
@recipes_option
def list_cmd(as_json: bool, recipe_dirs) -> None:
    """Recipes, their sources and supported versions."""
    from .. import recipe
    from ..commands import catalog

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
    from .. import recipe
    from ..commands import catalog

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
    from .. import recipe
    from ..commands.setup import setup

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
    from .. import recipe
    from ..commands.verify import offering, verify

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
    from .. import recipe
    from ..commands.pin import format_pin, pin

    res = pin(recipe.load(name, recipe_dirs), "mmcv", mmcv_version, mirror_pairs=mirrors, check_only=check_only, log=log)
    emit_json(res.to_json()) if as_json else click.echo(format_pin(res, tuple(recipe_dirs or ())))
    sys.exit(0 if res.ok else 1)


@cli.command("diff")
@click.argument("name")
@click.option("--mmcv", "mmcv_version", metavar="VER")
@fetch_options
@recipes_option
def diff_cmd(name, mmcv_version, offline, mirrors, sources, recipe_dirs):
    """The whole patch set of NAME as one unified diff against the pristine upstream."""
    from .. import recipe
    from ..commands.diff import patch_set_diff
    from ..commands.inputs import fetch_all
    from ..recipe.resolve import resolve

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
    from .. import recipe
    from ..commands.revert import revert

    res = revert(recipe.load(name, recipe_dirs), workspace=workspace, mirror_pairs=mirrors, offline=offline)
    click.echo(f"{res.recipe}: workspace {res.workspace} holds the pristine sources (lock {res.lock_hash[:12]})")
