"""chronicle restore ARCHIVE --to QUEUE — rebuild a queue from an archive."""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import click

from ..archive.reader import Archive
from ..archive.restore import plan_entries, restore_from
from .common import EXIT_OK, command, emit_json, json_option, progress, range_options


@click.command("restore", short_help="Rebuild a queue directory from an archive.")
@click.argument("archive", metavar="ARCHIVE")
@click.option("--to", "to", required=True, metavar="QUEUE", help="The queue directory to create (absent or empty).")
@range_options
@json_option
@command
def restore_cmd(archive: str, to: str, start: Optional[int], until: Optional[int], as_json: bool) -> int:
    """Rebuild a queue directory from ARCHIVE (a directory or
    s3://BUCKET/PREFIX) with the original seqs and timestamps, optionally
    only --from SEQ through --until SEQ.

    Every archived segment is checked before it is written. Subscribers read
    the result like any queue, and a publisher opened on it continues after
    the last restored seq.
    """
    arch = Archive(archive)
    try:
        _first, _last, entries = plan_entries(arch, start, until)
        with progress(sum(e.raw_size for e in entries), "restoring", not as_json) as tick:
            result = restore_from(arch, to, start, until, tick)
    finally:
        arch.close()
    if as_json:
        emit_json(asdict(result))
    else:
        click.echo(
            f"restored {result.messages} message(s), seq {result.first_seq}..{result.last_seq}, "
            f"in {result.segments} segment(s) from {result.url} to {result.to}"
        )
    return EXIT_OK
