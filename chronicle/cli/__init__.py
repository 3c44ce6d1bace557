"""The ``chronicle`` command (also ``python -m chronicle``): operator tools
for queue directories. One module per command; docs/TOOLS.md describes
them, their output and their exit codes.
"""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

import click

from .. import __version__
from .archive import archive_cmd
from .bridge import bridge_cmd
from .common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PipeClosed, error_text, exit_code_for
from .export import export_cmd
from .inspect import inspect_cmd
from .readers import readers_cmd
from .repair import repair_cmd
from .restore import restore_cmd
from .retain import retain_cmd
from .stats import stats_cmd
from .tail import tail_cmd
from .verify import verify_cmd

__all__ = ["cli", "main", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="chronicle")
def cli() -> None:
    """Inspect, read, check, repair and prune Chronicle queues.

    Every command takes the queue directory as QUEUE, prints JSON with
    --json, and exits 0 on success (see docs/TOOLS.md for every exit code).
    """


for _cmd in (
    inspect_cmd, tail_cmd, readers_cmd, verify_cmd, repair_cmd, retain_cmd, export_cmd, stats_cmd, archive_cmd,
    restore_cmd, bridge_cmd,
):
    cli.add_command(_cmd)


def _error(where: str, message: str) -> None:
    try:
        click.echo(f"{where}: error: {message}", err=True)
    except (BrokenPipeError, OSError):
        pass


def _command_path(argv: Sequence[str]) -> str:
    """'chronicle' or 'chronicle <command>', for error lines."""
    for arg in argv:
        if not arg.startswith("-"):
            return f"chronicle {arg}" if arg in cli.commands else "chronicle"
    return "chronicle"


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:  # no command: the overview, as a usage error (as click 8.2+ treats it)
        click.echo(cli.get_help(click.Context(cli, info_name="chronicle")))
        return EXIT_USAGE
    where = _command_path(args)
    try:
        rv = cli.main(args=args, prog_name="chronicle", standalone_mode=False)
    except click.UsageError as e:
        ctx_path = e.ctx.command_path if e.ctx is not None else where
        _error(ctx_path, f"{e.format_message()} (see '{ctx_path} --help')")
        return EXIT_USAGE
    except click.ClickException as e:
        _error(where, e.format_message())
        return e.exit_code
    except (click.Abort, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    except PipeClosed:
        _silence_stdout()
        return EXIT_OK
    except Exception as e:  # every failure is one line, never a traceback
        if os.environ.get("CHRONICLE_DEBUG"):
            raise
        code = exit_code_for(e)
        message = error_text(e)
        if code == EXIT_INTERNAL:
            message = f"internal error ({type(e).__name__}: {message}); set CHRONICLE_DEBUG=1 for the traceback"
        _error(where, message)
        return code
    return rv if isinstance(rv, int) else EXIT_OK


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console-script entry point."""
    sys.exit(run(argv))
