"""Retention: deleting old segments.

A sealed segment may go when every reader has passed it (its committed
next seq is at or after the next segment's first seq). Beyond that, an age
limit and a size limit also delete segments that some reader has not read,
unless ``keep_unread`` is set. Only a prefix of the sealed segments is ever
deleted, oldest first, so the queue never has a hole; the active segment and
any segment prepared ahead are never touched.

A queue with no readers at all has nothing known to be consumed: only the
limits delete there. A reader with no committed position, or with an
unreadable position file, holds everything (it may still start from the
earliest message).

Publishers apply a policy themselves by calling :func:`retain` from their
own loop or a thread (it takes no lock and never touches the append path),
or an operator runs ``chronicle retain QUEUE --follow`` beside them.

A queue with an archive (``chronicle archive``) also keeps each segment until
every archive of it safely holds it (:mod:`chronicle.archive.guard`), unless
``ignore_archive`` is set.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import List, Optional

from .._binding import PathLike
from ..archive.guard import ArchiveGuard
from . import files
from .view import QueueView, ReaderInfo, SegmentInfo


@dataclass(frozen=True)
class RetentionPolicy:
    max_age_s: Optional[float] = None  # delete sealed segments whose messages are all older
    max_bytes: Optional[int] = None  # delete oldest sealed segments while the segment files exceed this
    keep_unread: bool = False  # the limits never delete what a reader has not passed
    ignore_archive: bool = False  # delete without waiting for the queue's archives to hold a segment

    def __post_init__(self) -> None:
        if self.max_age_s is not None and self.max_age_s < 0:
            raise ValueError("max_age_s must be >= 0")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")


@dataclass
class Deletion:
    segment: str
    index: int
    base_seq: int
    end_seq: int  # one past its last seq
    file_size: int
    reason: str
    unread_by: List[str] = field(default_factory=list)


@dataclass
class RetentionResult:
    path: str
    deleted: List[Deletion] = field(default_factory=list)
    kept_because: Optional[str] = None  # why the oldest remaining sealed segment stays
    freed_bytes: int = 0
    first_seq: Optional[int] = None  # first retained seq afterwards
    dry_run: bool = False


def plan_retention(view: QueueView, policy: RetentionPolicy, now_ns: Optional[int] = None) -> RetentionResult:
    """Which segments the policy deletes now; changes nothing."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    result = RetentionResult(view.path)
    segs = view.segments()
    act = view.activated(segs)
    if not act:
        return result
    readers = view.readers()
    blockers = [_blocker(r) for r in readers]
    total = sum(s.file_size for s in segs)
    cutoff = now_ns - int(policy.max_age_s * 1e9) if policy.max_age_s is not None else None
    result.first_seq = act[0].base_seq
    guard = None if policy.ignore_archive else ArchiveGuard.for_queue(view)
    # only the contiguous run of sealed segments from the oldest one qualifies
    for i, seg in enumerate(act[:-1]):
        nxt = act[i + 1]
        if nxt.index != seg.index + 1:
            result.kept_because = f"segment {seg.index + 1} is missing after segment {seg.index}"
            break
        base, end = _base(seg), _base(nxt)
        unread = [r.name for r, b in zip(readers, blockers) if b or (r.next_seq or 0) < end]
        reasons = []
        if readers and not unread:
            reasons.append("read by every reader")
        else:
            if cutoff is not None and _newest_ts(seg, nxt) < cutoff:
                reasons.append("older than the age limit")
            if policy.max_bytes is not None and total > policy.max_bytes:
                reasons.append("over the size limit")
            if reasons and policy.keep_unread and unread:
                result.kept_because = f"segment {seg.index} is unread by {', '.join(unread)} (--keep-unread)"
                break
        if not reasons:
            if not readers:
                result.kept_because = f"segment {seg.index}: the queue has no readers and no limit applies"
            else:
                result.kept_because = f"segment {seg.index} is unread by {', '.join(unread)}"
            break
        held = guard.hold(seg) if guard is not None else None
        if held:
            result.kept_because = held
            break
        result.deleted.append(
            Deletion(seg.name, seg.index, base, end, seg.file_size, " and ".join(reasons), unread if readers else [])
        )
        total -= seg.file_size
        result.freed_bytes += seg.file_size
        result.first_seq = end
    if guard is not None:
        guard.close()
    return result


def _blocker(r: ReaderInfo) -> bool:
    """A reader that holds every segment: unreadable, or nothing committed."""
    return r.problem is not None or r.position is None


def _base(seg: SegmentInfo) -> int:
    base = seg.base_seq
    assert base is not None
    return base


def _newest_ts(seg: SegmentInfo, nxt: SegmentInfo) -> int:
    """An upper bound of the newest timestamp in `seg`: the first record of
    the segment after it (one record read), else seg's own last record."""
    with nxt.open() as m:
        w = m.walk(files.SEG_HDR_SIZE, _base(nxt), 1)
    if w.first_ts is not None:
        return w.first_ts
    with seg.open() as m:
        last = m.walk(files.SEG_HDR_SIZE, _base(seg)).last_ts
    return last if last is not None else 0


def apply_retention(view: QueueView, result: RetentionResult) -> RetentionResult:
    """Delete what `result` planned, oldest first. A segment that became
    active meanwhile (it cannot: activation only moves forward) or that
    someone else deleted is skipped."""
    active = max((s.index for s in view.activated()), default=None)
    done = []
    for d in result.deleted:
        if active is None or d.index >= active:
            break
        try:
            os.unlink(os.path.join(view.path, d.segment))
        except FileNotFoundError:
            continue
        done.append(d)
    result.deleted = done
    result.freed_bytes = sum(d.file_size for d in done)
    return result


def retain(path: PathLike, policy: RetentionPolicy = RetentionPolicy(), dry_run: bool = False) -> RetentionResult:
    """Apply `policy` to the queue at `path` now; returns what was deleted."""
    view = QueueView(path)
    result = plan_retention(view, policy)
    if dry_run:
        result.dry_run = True
        return result
    return apply_retention(view, result)
