"""chronicle archive QUEUE --to DIR|s3://BUCKET/PREFIX — compress sealed
segments with zstd into an archive; --follow keeps doing it beside a live
publisher. Also the archive side of ``chronicle verify``."""
from __future__ import annotations

import json
import signal
import time
from types import FrameType
from typing import Any, Dict, List, Optional

import click

from ..archive.archiver import DEFAULT_LEVEL, Archiver, PassResult, SegmentReport
from ..archive.guard import normalize_url, unlink_archive
from ..archive.store import Retry, StopRequested
from ..archive.verify import ArchiveVerifier
from ..tools.view import QueueView
from .common import (
    EXIT_OK, EXIT_PROBLEMS, command, emit_json, fmt_size, json_option, progress, queue_argument,
)

_PENDING_POLL_S = 0.05  # a roll's end marker follows its activation within microseconds


@click.command("archive", short_help="Compress sealed segments with zstd into a directory or S3.")
@queue_argument
@click.option("--to", "to", required=True, metavar="DIR|s3://BUCKET/PREFIX", help="The archive: a directory (made if absent) or an S3 prefix.")
@click.option("--level", type=click.IntRange(1, 22), default=DEFAULT_LEVEL, show_default=True, help="zstd compression level.")
@click.option("--follow", is_flag=True, help="Keep archiving each segment as it seals, until SIGTERM or Ctrl-C.")
@click.option("--every", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS", help="With --follow: the longest pause between passes.")
@click.option("--retry-for", type=click.FloatRange(min=0), default=300.0, show_default=True, metavar="SECONDS", help="Give up on an S3 operation still failing after this long (--follow never gives up).")
@click.option("--detach", is_flag=True, help="Forget this archive: retention stops waiting for it. Archives nothing.")
@json_option
@command
def archive_cmd(
    queue: str, to: str, level: int, follow: bool, every: float, retry_for: float, detach: bool, as_json: bool,
) -> int:
    """Compress each sealed segment of QUEUE with zstd into an archive, with
    a manifest entry (seq and time range, sizes, sha256) written only once the
    object is stored and read back intact.

    Never archives the active segment. Running it again archives only what is
    missing and finishes what an interrupted run left. While a queue has an
    archive, retention deletes only segments the archive safely holds.
    S3 settings (endpoint, region, credentials) come from the standard AWS
    environment and config files, e.g. AWS_ENDPOINT_URL.
    """
    if detach:
        view = QueueView(queue)
        url = normalize_url(to)
        known = unlink_archive(view.path, url, view.meta.file_mode or 0o600)
        click.echo(f"{view.path}: {'no longer' if known else 'was not'} archived to {url}")
        return EXIT_OK
    stop = _StopFlag()

    def report(message: str) -> None:
        click.echo(f"chronicle archive: {message}", err=True)

    retry = Retry(give_up_after=None if follow else retry_for, report=report, stop=stop if follow else None)
    started = time.monotonic()
    total = PassResult()
    url = normalize_url(to)
    # a sidecar stops cleanly on SIGTERM or Ctrl-C, even while it starts or waits to retry
    old = {s: signal.signal(s, stop.handler) for s in (signal.SIGTERM, signal.SIGINT)} if follow else {}
    try:
        with Archiver(queue, to, level=level, retry=retry, note=report) as archiver:
            if follow:
                _follow(archiver, stop, every, as_json, total, report)
            else:
                todo, total = archiver.plan(total)
                raw = sum(t.raw_size for t in todo)
                with progress(raw, "archiving", not as_json) as tick:
                    show = None if as_json or tick is not None else _line(as_json)
                    archiver.archive(todo, total, tick, on_segment=show)
    except StopRequested:
        pass
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    summary = _summary(queue, url, level, total, time.monotonic() - started)
    if as_json:
        click.echo(json.dumps(summary)) if follow else emit_json(summary)
    else:
        done = (
            f"archived {len(total.archived)} segment(s), {fmt_size(summary['raw_bytes'])} -> "
            f"{fmt_size(summary['compressed_bytes'])} ({summary['ratio']:.1f}x)"
            if total.archived else "nothing new to archive"
        )
        click.echo(
            f"{url}: {done}; {total.already} already archived"
            + (f"; {len(total.rewritten)} found incomplete and written again" if total.rewritten else "")
        )
    return EXIT_OK


class _StopFlag:
    """Set by the first SIGTERM or Ctrl-C; a second one interrupts at once."""

    def __init__(self) -> None:
        self.set = False

    def __call__(self) -> bool:
        return self.set

    def handler(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True


def _follow(
    archiver: Archiver, stop: _StopFlag, every: float, as_json: bool, total: PassResult, report: Any
) -> None:
    """Archive each segment as it seals until `stop`; adds to `total`."""
    show = _line(as_json)
    report(f"archiving {archiver.view.path} to {archiver.url} as segments seal (SIGTERM or Ctrl-C stops)")
    pending_wait = _PENDING_POLL_S
    while not stop():
        epoch = archiver.seg_epoch()
        total.pending = []
        todo, _ = archiver.plan(total)
        archiver.archive(todo, total, stop=stop, on_segment=show)
        if total.pending:  # a segment between activation and its end marker
            archiver.wait_for_roll(epoch, pending_wait, stop)
            pending_wait = min(pending_wait * 2, every)
        else:
            pending_wait = _PENDING_POLL_S
            archiver.wait_for_roll(epoch, every, stop)


def _line(as_json: bool) -> Any:
    def show(r: SegmentReport) -> None:
        if as_json:
            click.echo(json.dumps({"segment": r.segment, "first_seq": r.first_seq, "last_seq": r.last_seq,
                                   "raw_size": r.raw_size, "compressed_size": r.compressed_size}))
            return
        seqs = f"seq {r.first_seq}..{r.last_seq}" if r.last_seq is not None else "no records"
        click.echo(
            f"archived segment {r.segment}: {seqs}, {fmt_size(r.raw_size)} -> {fmt_size(r.compressed_size)} "
            f"({r.ratio:.1f}x) in {r.seconds * 1000:.0f} ms"
        )

    return show


def _summary(queue: str, url: str, level: int, total: PassResult, seconds: float) -> Dict[str, Any]:
    raw = sum(a.raw_size for a in total.archived)
    comp = sum(a.compressed_size for a in total.archived)
    return {
        "queue": queue,
        "archive": url,
        "level": level,
        "archived": [
            {"segment": a.segment, "first_seq": a.first_seq, "last_seq": a.last_seq, "raw_size": a.raw_size,
             "compressed_size": a.compressed_size}
            for a in total.archived
        ],
        "already_archived": total.already,
        "written_again": total.rewritten,
        "not_sealed_yet": total.pending,
        "raw_bytes": raw,
        "compressed_bytes": comp,
        "ratio": raw / comp if comp else 0.0,
        "seconds": round(seconds, 3),
    }


def verify_archive_cmd(target: str, as_json: bool) -> int:
    """``chronicle verify`` given an archive: every object against its manifest entry."""
    verifier = ArchiveVerifier(target)
    try:
        with progress(verifier.total_bytes, "verifying", not as_json) as tick:
            report = verifier.run(tick)
    finally:
        verifier.close()
    if as_json:
        emit_json({
            "path": report.url,
            "archive": True,
            "clean": report.clean,
            "problems": [{"object": p.name, "problem": p.message} for p in report.problems],
            "objects": report.objects,
            "records": report.records,
            "first_seq": report.first_seq,
            "next_seq": report.end_seq,
            "raw_bytes": report.raw_bytes,
            "compressed_bytes": report.compressed_bytes,
            "orphans": report.orphans,
        })
    else:
        for p in report.problems:
            click.echo(str(p))
        if report.orphans:
            names: List[str] = report.orphans
            click.echo(f"note: {len(names)} object(s) not in the manifest, left by an interrupted run "
                       f"(the next archive run replaces them): {', '.join(names)}")
        seqs = f", seq {report.first_seq}..{report.end_seq - 1}" if report.first_seq is not None and report.end_seq else ""
        verdict = "clean" if report.clean else f"{len(report.problems)} problem(s)"
        click.echo(
            f"{report.url}: {report.objects} archived segment(s), {report.records} records{seqs} "
            f"({fmt_size(report.raw_bytes)} raw, {fmt_size(report.compressed_bytes)} stored): {verdict}"
        )
    return EXIT_OK if report.clean else EXIT_PROBLEMS
