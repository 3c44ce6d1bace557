"""What the demo processes share: command-line options, log lines and a
clean stop on Ctrl-C or SIGTERM."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import enum
from types import FrameType
from typing import Callable, List, Optional, Type

#: Segment size of the demo's queues: small, because segments are
#: preallocated on disk (the library default is 128 MiB).
DEFAULT_SEGMENT_SIZE = 1 << 20
DEFAULT_FEED = "demo"


def add_bus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bus-root", default="./demo_bus", help="root directory of the bus (default: ./demo_bus)")
    parser.add_argument(
        "--segment-size",
        type=int,
        default=DEFAULT_SEGMENT_SIZE,
        help="segment size of queues this process creates (default: 1 MiB)",
    )


class StopFlag:
    """Set by SIGINT or SIGTERM; the main loop checks it between short waits,
    so every ``with`` block unwinds normally and the process exits 0."""

    def __init__(self) -> None:
        self.stopped = False
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.stopped = True

    def set(self) -> None:
        self.stopped = True

    def __bool__(self) -> bool:
        return self.stopped


class Log:
    """Writes log lines to stdout, one flush per line. If the reader of
    stdout went away (a closed pipe), stops the process instead of failing."""

    def __init__(self, stop: StopFlag) -> None:
        self._stop = stop
        self._broken = False

    def __call__(self, line: str) -> None:
        if self._broken:
            return
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            self._broken = True
            self._stop.set()
            # later writes, and the interpreter's final flush, go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def fail(prog: str, error: BaseException) -> int:
    """Report a fatal error on stderr; the exit status to return."""
    print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    return 1


def enum_name(kind: Type[enum.IntEnum], value: int) -> str:
    """The name of an enum value for a log line, or the number if unknown."""
    try:
        return kind(value).name
    except ValueError:
        return str(value)


def run_main(
    prog: Callable[[argparse.Namespace], str],
    parse_args: Callable[[Optional[List[str]]], argparse.Namespace],
    run: "Callable[[argparse.Namespace, StopFlag, Log], None]",
    argv: Optional[List[str]],
) -> int:
    """Parse, run until stopped, and turn a fatal error into one line and exit 1."""
    from chronicle import ChronicleError

    args = parse_args(argv)
    stop = StopFlag()
    try:
        run(args, stop, Log(stop))
    except (ChronicleError, OSError, ValueError) as e:
        return fail(prog(args), e)
    return 0
