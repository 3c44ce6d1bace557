"""Checking a whole queue: every record's framing, seq and checksum, the
chain of segments, and every reader's position.

A problem is reported with the file and byte offset where it lies, in the
form compilers use (``path:offset: what``), so an operator can open the spot.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import CorruptQueueError
from . import files
from .view import WALK_BAD, WALK_EOS, WALK_FULL, WALK_TAIL, ProgressFn, QueueView, SegmentInfo, Walk


@dataclass(frozen=True)
class Problem:
    path: str
    offset: Optional[int]
    message: str

    def __str__(self) -> str:
        where = self.path if self.offset is None else f"{self.path}:{self.offset}"
        return f"{where}: {self.message}"


@dataclass
class VerifyReport:
    path: str
    problems: List[Problem] = field(default_factory=list)
    segments: int = 0
    records: int = 0
    bytes_checked: int = 0
    readers: int = 0
    first_seq: Optional[int] = None
    end_seq: Optional[int] = None
    publisher_alive: bool = False

    @property
    def clean(self) -> bool:
        return not self.problems

    def add(self, path: str, offset: Optional[int], message: str) -> None:
        self.problems.append(Problem(path, offset, message))


def verify_path(path: str, progress: Optional[ProgressFn] = None) -> VerifyReport:
    """Verify the queue at `path`; an unusable queue.meta is a problem too.
    Raises NotAQueueError when there is no queue at all."""
    try:
        view = QueueView(path)
    except CorruptQueueError as e:
        report = VerifyReport(os.fsdecode(path))
        text, prefix = str(e), f"{e.path}: "
        report.add(e.path, e.offset, text[len(prefix):] if text.startswith(prefix) else text)
        return report
    return verify(view, progress)


def verify(view: QueueView, progress: Optional[ProgressFn] = None) -> VerifyReport:
    report = VerifyReport(view.path)
    # positions first: a reader only commits what was written, so checking
    # them against an end measured later can never flag a live reader
    readers = view.readers()
    alive, _pid = view.writer()
    report.publisher_alive = alive
    segs = view.segments()
    report.segments = len(segs)
    last_activated = max((s.index for s in segs if s.base_seq is not None), default=None)

    prev: Optional[SegmentInfo] = None  # the activated segment before, intact
    prev_walk: Optional[Walk] = None
    chain_ok = True
    for seg in segs:
        if progress:
            progress(seg.file_size)
        report.bytes_checked += seg.file_size
        if seg.state == "bad":
            report.add(seg.path, 0, seg.problem or "invalid segment header")
            chain_ok = False
            continue
        if seg.state == "prepared":
            if last_activated is not None and seg.index < last_activated:
                report.add(seg.path, 56, "segment was never put in use, yet later segments are")
                chain_ok = False
            elif _stale_data(seg):
                report.add(seg.path, files.SEG_HDR_SIZE, "segment prepared ahead holds data (a publisher would reuse it)")
            continue
        base = seg.base_seq
        assert base is not None
        if report.first_seq is None:
            report.first_seq = base
        elif prev is not None and prev_walk is not None and chain_ok:
            _check_link(report, prev, prev_walk, seg, base)
        try:
            with seg.open() as m:
                w = m.walk(files.SEG_HDR_SIZE, base)
                torn_end = m.nonzero_end(w.pos, seg.file_size) if w.end == WALK_TAIL else w.pos
        except (OSError, CorruptQueueError) as e:
            report.add(seg.path, None, f"cannot read: {e}")
            chain_ok = False
            continue
        report.records += w.count
        if w.end == WALK_BAD:
            report.add(seg.path, w.pos, f"{w.why} (seq {w.next_seq})")
        elif w.end == WALK_FULL:
            report.add(seg.path, w.pos, "segment ends without an end marker")
        elif w.end == WALK_TAIL and seg.index == last_activated and not alive and torn_end > w.pos:
            # with a live publisher these bytes are a record being written
            report.add(
                seg.path, w.pos, f"torn tail: {torn_end - w.pos} bytes after the last intact record (seq {w.next_seq - 1})"
            )
        elif w.end == WALK_EOS and seg.index == last_activated:
            report.add(seg.path, w.pos, "segment is sealed but no later segment is in use")
        if w.end in (WALK_BAD, WALK_FULL):
            chain_ok = False
        else:
            chain_ok = True
        prev, prev_walk = seg, w
        report.end_seq = w.next_seq

    first = report.first_seq if report.first_seq is not None else 0
    end = report.end_seq if report.end_seq is not None else 0
    report.readers = len(readers)
    for r in readers:
        if r.problem:
            report.add(r.path, 0, r.problem)
        elif r.position is None and r.torn_slots:
            report.add(r.path, 64, "no valid position slot (both fail their checksum)")
        elif r.position is not None:
            nxt = r.position.next_seq
            if nxt > end:
                report.add(r.path, None, f"reader '{r.name}' is at seq {nxt}, past the end of the queue (next seq {end})")
            elif nxt < first:
                report.add(
                    r.path, None, f"reader '{r.name}' is at seq {nxt}, before the first retained seq {first} (messages lost)"
                )
    return report


def _check_link(report: VerifyReport, prev: SegmentInfo, prev_walk: Walk, seg: SegmentInfo, base: int) -> None:
    """The segment after `prev` must follow it: next index, an end marker
    in prev, and a base seq continuing prev's records."""
    if seg.index != prev.index + 1:
        report.add(seg.path, 0, f"segments {prev.index + 1}..{seg.index - 1} are missing")
    elif prev_walk.end == WALK_TAIL:
        report.add(prev.path, prev_walk.pos, "segment has no end marker, yet the next segment is in use")
    if prev_walk.end in (WALK_EOS, WALK_TAIL) and base != prev_walk.next_seq:
        report.add(seg.path, 56, f"segment starts at seq {base}, expected {prev_walk.next_seq}")


def _stale_data(seg: SegmentInfo) -> bool:
    """A segment made ahead must be zero past its header: a publisher puts it
    in use as it is."""
    try:
        with seg.open() as m:
            return m.nonzero_end(files.SEG_HDR_SIZE, seg.file_size) > files.SEG_HDR_SIZE
    except (OSError, CorruptQueueError):
        return False
