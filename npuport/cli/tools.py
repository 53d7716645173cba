"""Tools for any tree and any port: scan, port, overlay, data."""

from __future__ import annotations

import sys

import click

from .. import output
from ..data import FORMATS
from ..commands.options import json_option, overlay_options
from ..output import emit_json, log
from .group import cli


@cli.command("scan")
@click.argument("path", type=click.Path(exists=True))
@click.option("--select", multiple=True, metavar="IDS", help="Rule IDs, families (NPU3) or comma lists; default all.")
@json_option
def scan_cmd(path, select, as_json):
    """Report the NPU porting sites in any tree (exit 1 when there are some, like black --check)."""
    from pathlib import Path

    from ..commands.scan import scan

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

    from ..commands.scan import port

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
    from ..overlay import audit

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
    from ..overlay import import_overlay

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
    from ..commands.overlay import to_patch_file

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
@click.option("--objects", metavar="MIN-MAX", help="COCO: shapes per image, e.g. 8-14 for COCO's density (default 2-5).")
@json_option
def synth_cmd(fmt, out, images, size, seed, objects, as_json):
    """Write a small deterministic data set: COCO instances (boxes + polygons) or CIFAR-10 python batches."""
    from ..data import synth

    report = synth(fmt, out, images, size, seed, objects)
    if as_json:
        emit_json(report.to_json())
    else:
        click.echo(output.synth_text(fmt, report, seed))
