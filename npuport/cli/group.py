"""The `npuport` click group every command module registers on."""

from __future__ import annotations

import click

from .. import __version__

EXIT_DOC = "Exit codes: 0 ok, 1 a check or run failed, 2 usage error."


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}, epilog=EXIT_DOC)
@click.version_option(__version__, prog_name="npuport")
def cli() -> None:
    """Port OpenMMLab-era PyTorch models to Ascend NPUs and run their training recipes."""
