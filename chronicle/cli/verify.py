"""chronicle verify QUEUE — check every record, the segment chain and the
reader positions; exit 1 with each problem's file and offset."""
from __future__ import annotations

import os

import click

from ..archive.store import is_archive
from ..tools import verify as verifier
from ..tools.files import list_segment_files
from .archive import verify_archive_cmd
from .common import EXIT_OK, EXIT_PROBLEMS, command, emit_json, fmt_size, json_option, progress, queue_argument


@click.command("verify", short_help="Check every record, the segment chain and reader positions.")
@queue_argument
@json_option
@command
def verify_cmd(queue: str, as_json: bool) -> int:
    """Check every record's framing, seq and checksum, that each segment
    continues the one before, and that reader positions lie in the queue.

    Prints one line per problem, as FILE:OFFSET: what is wrong, and exits 1
    if there is any (0 when the queue is clean).

    Given an archive (its directory or s3://BUCKET/PREFIX), checks every
    archived object against its manifest entry and names each bad one.
    """
    if is_archive(queue):
        return verify_archive_cmd(queue, as_json)
    total = _segment_bytes(queue)
    with progress(total, "verifying", not as_json) as tick:
        report = verifier.verify_path(queue, tick)
    if as_json:
        emit_json({
            "path": report.path,
            "clean": report.clean,
            "problems": [{"file": p.path, "offset": p.offset, "problem": p.message} for p in report.problems],
            "segments": report.segments,
            "records": report.records,
            "readers": report.readers,
            "first_seq": report.first_seq,
            "next_seq": report.end_seq,
            "publisher_alive": report.publisher_alive,
        })
    else:
        for p in report.problems:
            click.echo(str(p))
        verdict = "clean" if report.clean else f"{len(report.problems)} problem(s)"
        click.echo(
            f"{report.path}: {report.records} records in {report.segments} segment file(s) "
            f"({fmt_size(report.bytes_checked)}), {report.readers} reader(s): {verdict}"
        )
    return EXIT_OK if report.clean else EXIT_PROBLEMS


def _segment_bytes(queue: str) -> int:
    try:
        return sum(os.path.getsize(os.path.join(queue, n)) for _i, n in list_segment_files(queue))
    except OSError:
        return 0  # the verify itself reports a missing or unreadable queue
