"""chronicle inspect QUEUE — what a queue holds and who uses it."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import click

from ..tools.view import Bounds, QueueView, SegmentInfo
from .common import command, emit_json, fmt_size, fmt_time, json_option, queue_argument, table
from .readers import reader_rows, reader_table

_SEGMENT_ROWS = 12  # a long segment list shows its first and last ones


@click.command("inspect", short_help="Segments, messages, publisher and readers of a queue.")
@queue_argument
@json_option
@click.option("--all-segments", is_flag=True, help="List every segment, however many.")
@command
def inspect_cmd(queue: str, as_json: bool, all_segments: bool) -> int:
    """Show segments, messages, first and last seq and time, disk use, the
    publisher, and each reader's position and lag."""
    view = QueueView(queue)
    readers = view.readers()  # before the end is measured: lags are never negative
    segs = view.segments()
    bounds = view.bounds(segs)
    alive, pid = view.writer()
    meta = view.read_meta()
    now = time.time_ns()
    seg_rows = _segment_rows(segs, bounds)
    summary: Dict[str, Any] = {
        "path": view.path,
        "queue_id": meta.queue_id.hex(),
        "created_ns": meta.created_ns,
        "segment_size": meta.segment_size,
        "messages": bounds.count,
        "first_seq": bounds.first_seq if bounds.count else None,
        "last_seq": bounds.end_seq - 1 if bounds.count else None,
        "next_seq": bounds.end_seq,
        "first_ts_ns": bounds.first_ts,
        "last_ts_ns": bounds.last_ts,
        "disk_bytes": view.disk_bytes(),
        "publisher": {"alive": alive, "pid": pid, "last_pid": meta.writer_pid or None, "opens": meta.writer_epoch},
        "segments": seg_rows,
        "readers": reader_rows(view, bounds, readers, now),
    }
    if as_json:
        emit_json(summary)
        return 0
    _print(summary, all_segments)
    return 0


def _segment_rows(segs: List[SegmentInfo], bounds: Bounds) -> List[Dict[str, Any]]:
    bases = {s.index: s.base_seq for s in segs if s.base_seq is not None}
    rows = []
    for s in segs:
        base = s.base_seq
        if base is None:
            messages: Optional[int] = None
        elif bounds.active is not None and s.index == bounds.active.index:
            messages = bounds.end_seq - base
        else:
            nxt = bases.get(s.index + 1)
            messages = nxt - base if nxt is not None else None
        used = bounds.tail.pos if bounds.active is not None and bounds.tail and s.index == bounds.active.index else None
        rows.append({
            "index": s.index, "file": s.name, "state": s.state, "base_seq": base, "messages": messages,
            "file_size": s.file_size, "disk_bytes": s.disk_bytes, "used_bytes": used, "problem": s.problem,
        })
    return rows


def _print(s: Dict[str, Any], all_segments: bool) -> None:
    segs = s["segments"]
    counts: Dict[str, int] = {}
    for row in segs:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items()) or "none"
    pub = s["publisher"]
    if pub["alive"]:
        publisher = f"alive (pid {pub['pid']})" if pub["pid"] else "alive"
    else:
        publisher = "not running" + (f" (last pid {pub['last_pid']})" if pub["last_pid"] else "")
    lines = [
        f"queue      {s['path']}",
        f"id         {s['queue_id']}, created {fmt_time(s['created_ns'])}",
        f"segments   {len(segs)} ({states}) of {fmt_size(s['segment_size'] or None)}; disk use {fmt_size(s['disk_bytes'])}",
    ]
    if s["messages"]:
        lines += [
            f"messages   {s['messages']} (seq {s['first_seq']}..{s['last_seq']})",
            f"first      seq {s['first_seq']} at {fmt_time(s['first_ts_ns'])}",
            f"last       seq {s['last_seq']} at {fmt_time(s['last_ts_ns'])}",
        ]
    else:
        lines.append(f"messages   0 (next seq {s['next_seq']})")
    lines.append(f"publisher  {publisher}")
    lines.append(f"readers    {len(s['readers'])}")
    if s["readers"]:
        lines += reader_table(s["readers"], "  ")
    if segs:
        lines.append("segment files")
        shown = segs if all_segments or len(segs) <= _SEGMENT_ROWS else segs[:4] + [None] + segs[-6:]
        rows = []
        for row in shown:
            if row is None:
                rows.append([f"... {len(segs) - 10} more (--all-segments)", "", "", "", "", ""])
                continue
            rows.append([
                row["file"], row["state"],
                "-" if row["base_seq"] is None else str(row["base_seq"]),
                "-" if row["messages"] is None else str(row["messages"]),
                fmt_size(row["used_bytes"]) if row["used_bytes"] is not None else "",
                row["problem"] or "",
            ])
        lines += table(["FILE", "STATE", "FIRST SEQ", "MESSAGES", "USED", ""], rows, "  ")
    click.echo("\n".join(lines))
