"""chronicle retain QUEUE — delete sealed segments that are no longer needed."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from typing import Optional

import click

from ..tools.retention import RetentionPolicy, RetentionResult, apply_retention, plan_retention
from ..tools.view import QueueView
from .common import command, emit_json, fmt_size, json_option, parse_age, parse_size, queue_argument

_EPOCH_POLL_S = 0.5  # how often --follow looks for a segment roll


@click.command("retain", short_help="Delete sealed segments that are no longer needed.")
@queue_argument
@click.option("--max-age", callback=parse_age, metavar="AGE", help="Also delete segments whose messages are all older (7d, 12h, 30m).")
@click.option("--max-bytes", callback=parse_size, metavar="SIZE", help="Also delete the oldest segments while the segment files exceed this (10G, 512M).")
@click.option("--keep-unread", is_flag=True, help="The limits never delete what a reader has not read.")
@click.option("--ignore-archive", is_flag=True, help="Delete segments even if the queue's archive does not hold them yet.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.option("--follow", is_flag=True, help="Keep applying the policy: at every segment roll and every --every seconds.")
@click.option("--every", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS", help="With --follow: the longest pause between passes.")
@json_option
@command
def retain_cmd(
    queue: str, max_age: Optional[float], max_bytes: Optional[int], keep_unread: bool, ignore_archive: bool,
    dry_run: bool, follow: bool, every: float, as_json: bool,
) -> int:
    """Delete sealed segments every reader has passed and, past --max-age
    or --max-bytes, older ones too (unless --keep-unread).

    Never deletes the active segment or one prepared ahead, and only ever
    the oldest ones, so the queue has no holes. A queue with no readers
    loses segments only to the limits. While the queue has an archive
    (chronicle archive), a segment goes only once the archive holds it.
    """
    policy = RetentionPolicy(max_age, max_bytes, keep_unread, ignore_archive)
    view = QueueView(queue)
    if not follow:
        _report(_pass(view, policy, dry_run), as_json)
        return 0
    try:
        while True:
            result = _pass(view, policy, dry_run)
            if result.deleted:
                _report(result, as_json, one_line=True)
            _wait_for_roll(view, every)
    except KeyboardInterrupt:
        return 0


def _pass(view: QueueView, policy: RetentionPolicy, dry_run: bool) -> RetentionResult:
    result = plan_retention(view, policy)
    if dry_run:
        result.dry_run = True
        return result
    return apply_retention(view, result)


def _wait_for_roll(view: QueueView, every: float) -> None:
    """Sleep until the publisher activates a segment (seg_epoch in queue.meta
    changes) or `every` seconds pass. Polled: a retention pass is no hurry,
    and a waiting reader would make the publisher wake it on every append."""
    deadline = time.monotonic() + every
    start = _seg_epoch(view)
    while time.monotonic() < deadline:
        time.sleep(min(_EPOCH_POLL_S, max(0.0, deadline - time.monotonic())))
        if _seg_epoch(view) != start:
            return


def _seg_epoch(view: QueueView) -> int:
    with open(view.meta_path, "rb") as f:
        return int.from_bytes(os.pread(f.fileno(), 8, 128), "little")


def _report(result: RetentionResult, as_json: bool, one_line: bool = False) -> None:
    if as_json:  # with --follow: one JSON object per line and pass
        click.echo(json.dumps(asdict(result))) if one_line else emit_json(asdict(result))
        return
    verb = "would delete" if result.dry_run else "deleted"
    for d in result.deleted:
        unread = f"; unread by {', '.join(d.unread_by)}" if d.unread_by else ""
        click.echo(f"{verb} {d.segment} (seq {d.base_seq}..{d.end_seq - 1}, {fmt_size(d.file_size)}): {d.reason}{unread}")
    click.echo(
        f"{result.path}: {verb} {len(result.deleted)} segment(s), {fmt_size(result.freed_bytes)}"
        + (f"; first retained seq {result.first_seq}" if result.first_seq is not None else "")
    )
    if result.kept_because:
        click.echo(f"kept: {result.kept_because}")
