"""Readers of a queue: their lag, and removing one that is gone for good.

A reader's position file holds it in the queue: retention keeps every
segment it has not passed. Removing the file releases them; a subscriber
opened later under that name starts as new (``start=`` applies again).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

from .._binding import ffi, lib
from . import files
from .errors import BadArgumentError
from .repair import reader_lock
from .view import Bounds, QueueView, ReaderInfo


@dataclass(frozen=True)
class Lag:
    messages: Optional[int]  # messages not yet read (None: position unknown or past the end)
    age_ns: Optional[int]  # how long the oldest unread message has waited (0 when caught up)


def reader_lag(view: QueueView, bounds: Bounds, reader: ReaderInfo, now_ns: Optional[int] = None) -> Lag:
    """How far behind a reader is: messages between its committed position
    and the end, and the age of the first of them (like a consumer's time
    lag: now minus the timestamp of the oldest unread message)."""
    if reader.position is None:
        return Lag(None, None)
    nxt = reader.position.next_seq
    if nxt > bounds.end_seq:
        return Lag(None, None)
    start = max(nxt, bounds.first_seq)
    behind = bounds.end_seq - start
    if behind == 0:
        return Lag(0, 0)
    hint = (reader.position.segment, reader.position.offset) if start == nxt else None
    ts = view.timestamp_of(start, hint)
    now = time.time_ns() if now_ns is None else now_ns
    return Lag(behind, max(0, now - ts) if ts is not None else None)


def remove_reader(view: QueueView, name: str) -> Optional[int]:
    """Delete reader `name`'s position file; returns its committed next seq.
    Refuses (QueueLockedError) while a subscriber of that name is open."""
    if "\0" in name or not lib.chron_name_valid(ffi.new("char[]", name.encode("utf-8", "surrogateescape"))):
        raise BadArgumentError(f"invalid reader name {name!r}")
    path = os.path.join(view.path, files.READERS_DIR, name + files.POS_SUFFIX)
    if not os.path.exists(path):
        raise BadArgumentError(f"{view.path}: no reader named {name!r}")
    with reader_lock(path, name) as fd:
        try:
            pf = files.parse_position_file(os.pread(fd, files.POS_FILE_SIZE, 0))
            seq = pf.position.next_seq if pf.position else None
        except ValueError:
            seq = None
        # unlinked while we hold its lock, so no subscriber of that name is
        # using it; one opened later creates a fresh file
        os.unlink(path)
    return seq
