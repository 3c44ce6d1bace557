"""chronicle readers QUEUE — list readers with their lag, or remove one."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import click

from ..tools.readers import reader_lag, remove_reader
from ..tools.view import Bounds, QueueView, ReaderInfo
from .common import command, emit_json, fmt_duration, fmt_time, json_option, queue_argument, table


@click.command("readers", short_help="List readers and their lag; remove one.")
@queue_argument
@click.option(
    "--remove", "remove", multiple=True, metavar="NAME",
    help="Delete this reader's position (repeatable); refused while it is open.",
)
@json_option
@command
def readers_cmd(queue: str, remove: Tuple[str, ...], as_json: bool) -> int:
    """List the queue's readers: committed position, lag in messages and
    time, last commit, and whether a process has the reader open.

    With --remove NAME, delete that reader's position file, so retention no
    longer keeps messages for it.
    """
    view = QueueView(queue)
    if remove:
        removed = []
        for name in remove:
            seq = remove_reader(view, name)
            removed.append({"name": name, "next_seq": seq})
            if not as_json:
                at = f" (it was at seq {seq})" if seq is not None else ""
                click.echo(f"removed reader {name}{at}")
        if as_json:
            emit_json({"removed": removed})
        return 0
    readers = view.readers()  # before the end is measured: lags are never negative
    bounds = view.bounds()
    rows = reader_rows(view, bounds, readers)
    if as_json:
        emit_json({"path": view.path, "next_seq": bounds.end_seq, "readers": rows})
    elif rows:
        click.echo("\n".join(reader_table(rows)))
    else:
        click.echo(f"{view.path}: no readers")
    return 0


def reader_rows(
    view: QueueView, bounds: Bounds, readers: List[ReaderInfo], now_ns: Optional[int] = None
) -> List[Dict[str, Any]]:
    """One JSON-ready dict per reader, with its lag."""
    now = time.time_ns() if now_ns is None else now_ns
    rows = []
    for r in readers:
        lag = reader_lag(view, bounds, r, now)
        rows.append({
            "name": r.name,
            "next_seq": r.next_seq,
            "lag_messages": lag.messages,
            "lag_ns": lag.age_ns,
            "committed_ns": r.position.committed_ns if r.position else None,
            "open": (r.live_pid is not None) if r.liveness_known else None,
            "pid": r.live_pid if r.live_pid is not None else r.last_pid,
            "problem": r.problem,
        })
    return rows


def reader_table(rows: List[Dict[str, Any]], indent: str = "") -> List[str]:
    def state(r: Dict[str, Any]) -> str:
        if r["open"]:
            return "open" + (f" pid {r['pid']}" if r["pid"] else "")
        return "closed" if r["open"] is False else "?"

    return table(
        ["NAME", "NEXT SEQ", "LAG", "LAG TIME", "COMMITTED", "STATE", ""],
        [
            [
                r["name"],
                "-" if r["next_seq"] is None else str(r["next_seq"]),
                "-" if r["lag_messages"] is None else str(r["lag_messages"]),
                fmt_duration(r["lag_ns"]),
                fmt_time(r["committed_ns"]),
                state(r),
                f"problem: {r['problem']}" if r["problem"] else "",
            ]
            for r in rows
        ],
        indent,
    )
