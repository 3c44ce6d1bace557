"""chronicle repair QUEUE — cut a torn or corrupt tail back to the last
intact record, after a backup."""
from __future__ import annotations

from typing import Optional

import click

from ..tools.repair import repair
from .common import command, emit_json, fmt_size, json_option, queue_argument


@click.command("repair", short_help="Cut a torn or corrupt tail back to the last intact record.")
@queue_argument
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@click.option(
    "--backup-dir", type=click.Path(file_okay=False), metavar="DIR",
    help="Where to keep the originals (default: QUEUE.repair-<time> beside the queue).",
)
@json_option
@command
def repair_cmd(queue: str, dry_run: bool, backup_dir: Optional[str], as_json: bool) -> int:
    """Cut the queue back to its last intact record.

    Refused while a publisher is alive. Segment files are never shortened:
    the damaged tail is zeroed in place after the segment is copied to the
    backup directory, later segments are moved there, and reader positions
    past the new end are moved to it. Says exactly how many records and
    bytes were removed.
    """
    plan = repair(queue, dry_run=dry_run, backup_dir=backup_dir)
    if as_json:
        emit_json(plan.to_json())
        return 0
    if not plan.needed:
        click.echo(f"{plan.path}: nothing to repair (next seq {plan.end_seq})")
        return 0
    verb = "would" if dry_run else "did"
    for action in plan.actions:
        click.echo(f"{verb}: {action}")
    removed = (
        f"{plan.records_removed} record(s) ({plan.damaged_records} damaged, {plan.intact_records_removed} intact) "
        f"and {plan.bytes_removed} bytes ({fmt_size(plan.bytes_removed)})"
    )
    if dry_run:
        click.echo(f"would remove {removed}; the queue would continue at seq {plan.end_seq}")
    else:
        click.echo(f"removed {removed}; the queue continues at seq {plan.end_seq}")
        click.echo(f"backup: {plan.backup_dir}")
    return 0
