"""chronicle export QUEUE --to FILE — messages as Parquet, Arrow or NumPy."""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional, Tuple

import click

from ..tools.export import FORMATS, export
from ..archive.reader import open_view
from .common import command, emit_json, json_option, progress, queue_argument, range_options, type_option


@click.command("export", short_help="Write messages to Parquet, Arrow or .npy for analysis.")
@queue_argument
@click.option(
    "--to", "to", required=True, metavar="FILE",
    help=f"Output file; its suffix picks the format ({', '.join(sorted(FORMATS))}).",
)
@range_options
@type_option
@click.option(
    "--dtype", metavar="SPEC",
    help="Decode payloads with this NumPy structured dtype, e.g. price:f8,qty:i4,side:u1.",
)
@json_option
@command
def export_cmd(
    queue: str, to: str, start: Optional[int], until: Optional[int], types: Tuple[int, ...],
    dtype: Optional[str], as_json: bool,
) -> int:
    """Write seq, timestamp, type id and payload of each message to a file
    for pandas or polars: Parquet or Arrow (needs the 'export' extra:
    pyarrow) or .npy (numpy).

    The payload is raw bytes, or, with --dtype, one column per field.
    """
    bounds = open_view(queue).bounds()
    first = bounds.first_seq if start is None else start
    last = bounds.end_seq - 1 if until is None else min(until, bounds.end_seq - 1)
    with progress(last + 1 - first, "exporting", not as_json) as tick:
        result = export(queue, to, start, until, set(types) or None, dtype, tick)
    if as_json:
        emit_json(asdict(result))
    elif result.messages:
        click.echo(f"exported {result.messages} message(s), seq {result.first_seq}..{result.last_seq}, to {result.to}")
    else:
        click.echo(f"exported 0 messages to {result.to}")
    return 0
