"""The command line: thin click commands over plain functions, one module per family (recipes, run, tools).
Heavy modules are imported inside commands so that `npuport --help` stays fast (no torch, no libcst)."""

from __future__ import annotations

import sys

import click

from ..errors import NpuportError
from . import recipes, run, tools  # noqa: F401  (they register their commands on the group)
from .group import EXIT_DOC, cli

__all__ = ["EXIT_DOC", "cli", "main"]


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
