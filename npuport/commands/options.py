"""The click options that several commands share, declared once."""

from __future__ import annotations

import click

DEVICES = ("npu", "cuda", "cpu")


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout; logs go to stderr.")(f)


def dry_run_option(f):
    return click.option("--dry-run", is_flag=True, help="Print the plan and the exact commands, change nothing.")(f)


def recipes_option(f):
    return click.option("--recipes", "recipe_dirs", multiple=True, metavar="DIR",
                        help="Also look for recipes in DIR (<name>/recipe.toml); repeatable.")(f)


def fetch_options(f):
    f = click.option("--offline", is_flag=True, help="Use the cache only; say what is missing.")(f)
    f = click.option("--mirror", "mirrors", multiple=True, metavar="FROM=TO",
                     help="Rewrite URL prefixes (like git's insteadOf); repeatable. Also NPUPORT_MIRROR.")(f)
    f = click.option("--source", "sources", multiple=True, metavar="NAME=PATH",
                     help="Use a local tree (or archive) for one source of the recipe; repeatable.")(f)
    return f


def workspace_option(f):
    return click.option("--workspace", metavar="DIR", help="Workspace folder (default: per recipe, or NPUPORT_WORKSPACE/NAME).")(f)


def device_option(help_text: str = "Default: NPUPORT_DEVICE, else npu if torch_npu is installed, else cuda if "
                                   "nvidia-smi lists a GPU, else cpu."):
    return click.option("--device", type=click.Choice(list(DEVICES)), help=help_text)


def overlay_options(f):
    f = click.option("--max-downloads", type=click.IntRange(0), default=6, show_default=True,
                     help="Other published versions fetched to find the one a file was cut from (0: no search).")(f)
    f = click.option("--mirror", "mirrors", multiple=True, metavar="FROM=TO", help="Rewrite URL prefixes; repeatable.")(f)
    f = click.option("--map", "maps", multiple=True, metavar="FILE=UPSTREAM/PATH",
                     help="The upstream path a file of DIR replaces (default: its own path, or by name and content).")(f)
    f = click.option("--onto", required=True, metavar="NAME==VERSION", help="The upstream the overlay goes onto.")(f)
    return click.argument("folder", metavar="DIR", type=click.Path(exists=True, file_okay=False))(f)
