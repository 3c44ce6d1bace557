"""What every command shares: exit codes, error lines, options, output
formatting (times, sizes, tables, JSON) and progress bars."""
from __future__ import annotations

import datetime as _dt
import functools
import json
import re
import shutil
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, TypeVar

import click

from ..archive.store import ArchiveStoreError
from ..errors import ChronicleError, CorruptQueueError, QueueLockedError, SegmentRetiredError, SeqRangeError
from ..tools.errors import BadArgumentError, MissingExtraError, NotAQueueError
from ..tools.view import ProgressFn

# Exit codes scripts can rely on (docs/TOOLS.md).
EXIT_OK = 0
EXIT_PROBLEMS = 1  # the queue is damaged: verify found problems, a read hit a corrupt record
EXIT_USAGE = 2  # bad arguments, or arguments that do not fit the queue
EXIT_UNAVAILABLE = 3  # no such queue, or it cannot be read (permissions, I/O)
EXIT_REFUSED = 4  # a live publisher or reader holds what the command must change
EXIT_MISSING_EXTRA = 5  # an optional dependency is not installed
EXIT_INTERNAL = 70  # a bug: please report it (CHRONICLE_DEBUG=1 shows the traceback)
EXIT_INTERRUPTED = 130  # Ctrl-C

F = TypeVar("F", bound=Callable[..., Any])


class PipeClosed(Exception):
    """The reader of our stdout went away (``chronicle tail q | head``)."""


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, MissingExtraError):
        return EXIT_MISSING_EXTRA
    if isinstance(exc, (NotAQueueError, ArchiveStoreError)):  # ArchiveStoreError: S3 refused or unreachable
        return EXIT_UNAVAILABLE
    if isinstance(exc, QueueLockedError):
        return EXIT_REFUSED
    if isinstance(exc, (BadArgumentError, SeqRangeError)):
        return EXIT_USAGE
    if isinstance(exc, (CorruptQueueError, SegmentRetiredError, ChronicleError)):
        return EXIT_PROBLEMS
    if isinstance(exc, OSError):
        return EXIT_UNAVAILABLE
    return EXIT_INTERNAL


def error_text(exc: BaseException) -> str:
    """One line describing `exc` for an operator."""
    if isinstance(exc, OSError) and not isinstance(exc, ChronicleError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the message held


def command(f: F) -> F:
    """Turn a closed stdout into PipeClosed for every command body."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except BrokenPipeError:
            raise PipeClosed() from None

    return wrapper  # type: ignore[return-value]


# ---- options shared by the commands ---------------------------------------

queue_argument = click.argument("queue", metavar="QUEUE", type=click.Path(file_okay=True, dir_okay=True))


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


def range_options(f: F) -> F:
    f = click.option("--until", "until", type=click.IntRange(min=0), metavar="SEQ", help="Last seq (inclusive).")(f)
    return click.option("--from", "start", type=click.IntRange(min=0), metavar="SEQ", help="First seq.")(f)


def type_option(f: F) -> F:
    return click.option(
        "--type", "types", type=click.IntRange(0, 65535), multiple=True, metavar="N",
        help="Only messages of this type id (repeat for several).",
    )(f)


# ---- output --------------------------------------------------------------


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False))


def fmt_time(ns: Optional[int], precision: int = 3) -> str:
    """UTC ISO-8601 with `precision` digits of the second (up to 9)."""
    if ns is None:
        return "-"
    secs, frac = divmod(ns, 10**9)
    stamp = _dt.datetime.fromtimestamp(secs, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if precision <= 0:
        return stamp + "Z"
    return f"{stamp}.{frac:09d}"[: len(stamp) + 1 + precision] + "Z"


def fmt_size(n: Optional[int]) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} PiB"


def fmt_duration(ns: Optional[int]) -> str:
    if ns is None:
        return "-"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f}ms"
    s = ns / 1e9
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> List[str]:
    """Left-aligned columns, two spaces apart; rows may be shorter than the headers."""
    ncols = max([len(headers), *(len(r) for r in rows)])
    grid = [list(r) + [""] * (ncols - len(r)) for r in [list(headers), *rows]]
    widths = [max(len(row[i]) for row in grid) for i in range(ncols)]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in grid]


def terminal_width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(total: int, label: str, enabled: bool) -> Iterator[Optional[ProgressFn]]:
    """A progress bar on stderr, only when stdout and stderr are terminals
    (never in pipes, files or --json output)."""
    if not enabled or total <= 0 or not stdout_is_terminal() or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True) as bar:
        yield bar.update


# ---- parsing sizes and ages ---------------------------------------------

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_AGE_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|w|d|h|m|s)", re.IGNORECASE)
_AGE_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_size(ctx: Optional[click.Context], param: Optional[click.Parameter], value: Optional[str]) -> Optional[int]:
    """A byte count: 10G, 512M, 1.5GiB, 4096 (K, M, G, T, P are powers of 1024)."""
    if value is None:
        return None
    m = _SIZE.match(value)
    if not m:
        raise click.BadParameter(f"{value!r} is not a size such as 10G, 512M or 4096", ctx, param)
    power = "kmgtp".find(m.group(2).lower()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * 1024**power)


def parse_age(ctx: Optional[click.Context], param: Optional[click.Parameter], value: Optional[str]) -> Optional[float]:
    """A duration in seconds: 7d, 12h, 30m, 45s, 500ms, 1d12h, 2w (a bare number is seconds)."""
    if value is None:
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _AGE_PART.findall(text)
    if not parts or _AGE_PART.sub("", text).strip():
        raise click.BadParameter(f"{value!r} is not an age such as 7d, 12h, 30m or 1d12h", ctx, param)
    return sum(float(n) * _AGE_UNITS[u.lower()] for n, u in parts)
