"""chronicle tail QUEUE — print messages, and follow new ones."""
from __future__ import annotations

import json
import sys
from typing import Callable, Optional, Tuple

import click

from ..archive.reader import open_view
from ..tools.errors import BadArgumentError
from ..tools.view import MappedSegment, RecInfo, check_range
from .common import (
    command, fmt_time, queue_argument, range_options, stdout_is_terminal, terminal_width, type_option,
)

DEFAULT_LAST = 10
_FOLLOW_WAIT_S = 1.0


@click.command("tail", short_help="Print messages; --follow for new ones.")
@queue_argument
@click.option("-f", "--follow", is_flag=True, help="Keep printing new messages until Ctrl-C.")
@range_options
@click.option("-n", "--last", type=click.IntRange(min=0), metavar="N", help=f"Start N messages before the end (default {DEFAULT_LAST}).")
@type_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "hex", "json", "raw"]), default="text", show_default=True,
    help="text: one line each; hex: a dump; json: one object per line; raw: payload bytes only.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@command
def tail_cmd(
    queue: str, follow: bool, start: Optional[int], until: Optional[int], last: Optional[int],
    types: Tuple[int, ...], fmt: str, as_json: bool,
) -> int:
    """Print messages: by default the last 10; --from SEQ starts there.

    With --follow, waits for new messages as a subscriber does (without
    registering a reader) and stops on Ctrl-C, exiting 0.
    """
    if start is not None and last is not None:
        raise BadArgumentError("--from and --last are exclusive")
    if as_json:
        fmt = "json"
    view = open_view(queue)  # a queue directory or an archive
    bounds = view.bounds()
    if start is None:
        n = DEFAULT_LAST if last is None else last
        start = max(bounds.first_seq, bounds.end_seq - n)
    check_range(bounds, start, until)
    show = _formatter(fmt)
    wanted = set(types)
    try:
        with view.cursor(start) as cur:
            while True:
                for rec, seg in cur.records(until):
                    if not wanted or rec.type_id in wanted:
                        show(rec, seg)
                _flush(fmt)
                if not follow or (until is not None and cur.next_seq > until):
                    return 0
                cur.wait(_FOLLOW_WAIT_S)
    except KeyboardInterrupt:
        if follow:  # the normal way to stop following
            _flush(fmt)
            return 0
        raise


def _flush(fmt: str) -> None:
    (sys.stdout.buffer if fmt == "raw" else sys.stdout).flush()


Show = Callable[[RecInfo, MappedSegment], None]


def _formatter(fmt: str) -> Show:
    if fmt == "raw":
        out = sys.stdout.buffer

        def raw(rec: RecInfo, seg: MappedSegment) -> None:
            out.write(seg.payload(rec))

        return raw
    write = sys.stdout.write
    if fmt == "json":

        def as_json(rec: RecInfo, seg: MappedSegment) -> None:
            write(json.dumps({
                "seq": rec.seq, "timestamp_ns": rec.timestamp_ns, "time": fmt_time(rec.timestamp_ns, 9),
                "type_id": rec.type_id, "length": rec.length, "payload_hex": seg.payload(rec).hex(),
            }) + "\n")

        return as_json
    if fmt == "hex":

        def as_hex(rec: RecInfo, seg: MappedSegment) -> None:
            write(_head(rec) + "\n" + hexdump(seg.payload(rec)))

        return as_hex
    width: Optional[int] = terminal_width() if stdout_is_terminal() else None

    def as_text(rec: RecInfo, seg: MappedSegment) -> None:
        line = f"{_head(rec)}  {printable(seg.payload(rec))}"
        if width is not None and len(line) > width:  # one line per message on a terminal
            line = line[: max(width - 1, 0)] + "…"
        write(line + "\n")

    return as_text


def _head(rec: RecInfo) -> str:
    return f"{rec.seq}  {fmt_time(rec.timestamp_ns, 9)}  type={rec.type_id}  {rec.length} B"


def printable(data: bytes) -> str:
    """Payload as text: printable ASCII as is, everything else escaped."""
    return data.decode("latin-1").encode("unicode_escape").decode("ascii")


def hexdump(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"  {off:08x}  {hexes:<47}  |{text}|\n")
    return "".join(lines)
