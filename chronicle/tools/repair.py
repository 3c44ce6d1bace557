"""Repairing a damaged queue: cut it back to its last intact record.

Rules, in the order they protect users:

* Refuse while a publisher is alive, and hold the publisher lock throughout,
  so none can start mid-repair.
* Never shrink a segment file: subscribers map segments, and a mapping past
  the end of a shortened file raises SIGBUS. "Truncating" a tail means
  zeroing its bytes in place, which readers see as the live end.
* Back up first: the segment whose tail is zeroed is copied, later segments
  are moved whole, rewritten position files are copied, into a backup
  directory that is named in the report, with ``repair.json`` describing it.
* Sequence numbers stay dense: everything after the first damaged record
  is cut, in that segment and in every later one.
* Reader positions past the new end are moved to it (the publisher will
  reuse those seqs); positions before the first retained seq move to it.
"""
from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import shutil
import struct
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..errors import QueueLockedError
from . import files
from .view import WALK_BAD, WALK_EOS, WALK_FULL, WALK_TAIL, MappedSegment, QueueView, SegmentInfo, Walk

_ZERO_CHUNK = bytes(1 << 16)


@dataclass
class ReaderFix:
    name: str
    path: str
    action: str  # "set" (new position), "clear" (no position) or "move" (file to backup)
    old_seq: Optional[int]
    new_seq: Optional[int]
    reason: str
    hint: Tuple[int, int] = (0, 0)  # (segment, offset) written with a new position


@dataclass
class TailCut:
    segment: str  # file name
    offset: int  # first byte zeroed
    end: int  # one past the last byte zeroed
    seal: bool  # write an end marker at `offset` afterwards
    seq: int  # seq the segment continues with after the cut
    reason: str


@dataclass
class BaseFix:
    segment: str  # file name
    old: int
    new: int


@dataclass
class RepairPlan:
    path: str
    cuts: List[TailCut] = field(default_factory=list)
    base_fixes: List[BaseFix] = field(default_factory=list)
    moved: List[str] = field(default_factory=list)  # segment file names
    readers: List[ReaderFix] = field(default_factory=list)
    damaged_records: int = 0
    intact_records_removed: int = 0
    bytes_removed: int = 0
    end_seq: int = 0  # seq the next append gets, after the repair
    first_seq: int = 0
    actions: List[str] = field(default_factory=list)  # what it does, in words
    backup_dir: Optional[str] = None
    dry_run: bool = False

    @property
    def needed(self) -> bool:
        return bool(self.cuts or self.base_fixes or self.moved or self.readers)

    @property
    def records_removed(self) -> int:
        return self.damaged_records + self.intact_records_removed

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["needed"] = self.needed
        d["records_removed"] = self.records_removed
        return d


def plan_repair(view: QueueView) -> RepairPlan:
    """What a repair of the queue would change; changes nothing."""
    plan = RepairPlan(view.path)
    segs = [_with_true_base(plan, s) if s.problem == files.BASE_OUT_OF_RANGE else s for s in view.segments()]
    activated = [s.index for s in segs if s.base_seq is not None]
    prev: Optional[SegmentInfo] = None  # last kept activated segment
    prev_walk: Optional[Walk] = None
    bases: Dict[str, int] = {}  # first seq of each kept segment in use, as repaired
    cut_done = False

    def cut_after_prev(reason: str) -> None:
        # the damage starts right after prev's records: reopen prev there
        nonlocal cut_done
        cut_done = True
        if prev is not None and prev_walk is not None:
            _add_cut(plan, prev, prev_walk, seal=False, reason=reason)

    for seg in segs:
        if cut_done:
            # clean prepared segments hold nothing: leave them for reuse
            if seg.state != "prepared" or _holds_data(seg):
                _add_move(plan, seg, "after the cut")
            continue
        later_in_use = any(i > seg.index for i in activated)
        if seg.state == "bad":
            if prev is None:
                _add_move(plan, seg, f"unreadable head segment: {seg.problem}")
                continue
            cut_after_prev(f"the next segment is unreadable: {seg.problem}")
            _add_move(plan, seg, f"unreadable: {seg.problem}")
            continue
        if seg.state == "prepared":
            if _holds_data(seg):
                _add_move(plan, seg, "prepared ahead, yet holds data")
            elif later_in_use and prev is None:
                _add_move(plan, seg, "never put in use, yet later segments are")
            elif later_in_use:
                cut_after_prev(f"segment {seg.index} was never put in use, yet later segments are")
            continue
        base = seg.base_seq
        assert base is not None
        header_base = base
        true_base = _true_base(seg, base, prev_walk.next_seq if prev is not None and prev_walk is not None else None)
        base = header_base if true_base is None else true_base
        if prev is not None and prev_walk is not None:
            linked = seg.index == prev.index + 1 and base == prev_walk.next_seq
            if not linked:
                cut_after_prev(f"segment {seg.index} does not continue segment {prev.index}")
                _add_move(plan, seg, "does not continue the chain")
                continue
            if prev_walk.end == WALK_TAIL:  # a crash between activating this one and sealing prev
                _add_cut(plan, prev, prev_walk, seal=True, reason="end marker missing before the next segment")
        if true_base is not None:
            _add_base_fix(plan, seg, header_base, true_base)
        bases[seg.name] = base
        with seg.open() as m:
            w = m.walk(files.SEG_HDR_SIZE, base)
            if w.end in (WALK_BAD, WALK_FULL):
                cut_done = True
                plan.damaged_records += 1
                plan.intact_records_removed += _intact_after(m, w)
                _add_cut(plan, seg, w, seal=False, reason=w.why or "segment ends without an end marker", mapped=m)
                plan.end_seq = w.next_seq
                prev, prev_walk = seg, w
                continue
        prev, prev_walk = seg, w
        plan.end_seq = w.next_seq

    if not cut_done and prev is not None and prev_walk is not None:
        if prev_walk.end == WALK_EOS:
            _add_cut(plan, prev, prev_walk, seal=False, reason="sealed, but no later segment is in use")
        elif prev_walk.end == WALK_TAIL:
            with prev.open() as m:
                if m.nonzero_end(prev_walk.pos, prev.file_size) > prev_walk.pos:
                    _add_cut(plan, prev, prev_walk, seal=False, reason="torn tail after the last intact record", mapped=m)
    if prev is None:
        # nothing intact is left: the next publisher starts the queue afresh,
        # from segment 0 (a clean one made ahead can stay for it)
        for seg in segs:
            fresh_start = seg.state == "prepared" and seg.index == 0 and not _holds_data(seg)
            if seg.name not in plan.moved and not fresh_start:
                _add_move(plan, seg, "no intact segment is left")
        plan.end_seq = 0
    for bf in [f for f in plan.base_fixes if f.segment in plan.moved]:  # moved whole: left as it was
        plan.base_fixes.remove(bf)
        plan.actions = [a for a in plan.actions if not a.startswith(f"{bf.segment}: set its first seq")]
    kept = [s for s in segs if s.name in bases and s.name not in plan.moved]
    plan.first_seq = bases[kept[0].name] if kept else plan.end_seq
    end_hint = (prev.index, prev_walk.pos) if prev is not None and prev_walk is not None else (0, 0)
    if plan.cuts and not plan.cuts[-1].seal:
        end_hint = (_index_of(plan.cuts[-1].segment), plan.cuts[-1].offset)
    first_hint = (kept[0].index, files.SEG_HDR_SIZE) if kept else (0, 0)
    _plan_readers(view, plan, end_hint, first_hint)
    return plan


def _true_base(seg: SegmentInfo, base: int, expected: Optional[int]) -> Optional[int]:
    """The right first seq of a segment whose header has a damaged one (a bit
    flip in base_seq, which the header checksum does not cover), or None when
    the header's is right or nothing better is known. The records decide: the
    seq the segment before ends at, or the first record's own seq, when the
    first record validates with it; an empty segment follows the one before."""
    with seg.open() as m:
        first = m.walk(files.SEG_HDR_SIZE, base, 1)
        if first.count == 1:
            return None  # the header agrees with its first record
        if first.end != WALK_BAD:  # no record yet: only the chain can tell
            return expected if expected is not None and expected != base else None
        own_seq = struct.unpack_from("<Q", m.mm, files.SEG_HDR_SIZE + 8)[0]
        for candidate in (expected, own_seq):
            if candidate is not None and candidate != base and m.walk(files.SEG_HDR_SIZE, candidate, 1).count == 1:
                return int(candidate)
    return None


def _with_true_base(plan: RepairPlan, seg: SegmentInfo) -> SegmentInfo:
    """A segment whose base seq is out of range, usable again when its first
    record tells the right one (then recorded as a fix)."""
    assert seg.header is not None
    with seg.open() as m:
        own = struct.unpack_from("<Q", m.mm, files.SEG_HDR_SIZE + 8)[0]
        if own > files.MAX_BASE_SEQ or m.walk(files.SEG_HDR_SIZE, own, 1).count != 1:
            return seg
    _add_base_fix(plan, seg, seg.header.base_seq, own)
    return dataclasses.replace(seg, header=dataclasses.replace(seg.header, base_seq=own), problem=None, state="sealed")


def _add_base_fix(plan: RepairPlan, seg: SegmentInfo, old: int, new: int) -> None:
    plan.base_fixes.append(BaseFix(seg.name, old, new))
    plan.actions.append(f"{seg.name}: set its first seq to {new} (the header says {old}; its records say {new})")


def _align(offset: int) -> int:
    return (offset + files.REC_ALIGN - 1) & ~(files.REC_ALIGN - 1)


def _holds_data(seg: SegmentInfo) -> bool:
    with seg.open() as m:
        return m.nonzero_end(files.SEG_HDR_SIZE, seg.file_size) > files.SEG_HDR_SIZE


def _index_of(name: str) -> int:
    return int(name[: -len(files.SEG_SUFFIX)])


def _add_cut(
    plan: RepairPlan, seg: SegmentInfo, w: Walk, seal: bool, reason: str, mapped: Optional[MappedSegment] = None
) -> None:
    if mapped is None:
        with seg.open() as m:
            end = m.nonzero_end(w.pos, seg.file_size)
    else:
        end = mapped.nonzero_end(w.pos, seg.file_size)
    end = min(_align(end), seg.file_size)  # whole 8-byte record units, as records are laid out
    plan.cuts.append(TailCut(seg.name, w.pos, end, seal, w.next_seq, reason))
    plan.bytes_removed += end - w.pos
    if seal:
        plan.actions.append(f"{seg.name}: write the missing end marker at offset {w.pos} ({reason})")
        return
    what = f"zero {end - w.pos} bytes from offset {w.pos}" if end > w.pos else f"keep the end at offset {w.pos}"
    plan.actions.append(f"{seg.name}: {what}, after seq {w.next_seq - 1} ({reason})")


def _add_move(plan: RepairPlan, seg: SegmentInfo, reason: str) -> None:
    records = used = 0
    if seg.base_seq is not None:
        try:
            with seg.open() as m:
                records = m.walk(files.SEG_HDR_SIZE, seg.base_seq).count
                used = min(_align(m.nonzero_end(files.SEG_HDR_SIZE, seg.file_size)), seg.file_size) - files.SEG_HDR_SIZE
        except OSError:
            pass
    plan.moved.append(seg.name)
    plan.intact_records_removed += records
    plan.bytes_removed += used
    plan.actions.append(f"{seg.name}: move to the backup ({reason}; {records} intact records)")


def _intact_after(m: MappedSegment, w: Walk) -> int:
    """Intact records after a damaged one in the same segment, where the
    damaged record's length still frames the next (a flipped bit in its
    payload, seq or checksum); 0 when its length itself is garbage."""
    if w.pos + files.REC_HDR_SIZE > m.size:
        return 0
    commit = struct.unpack_from("<I", m.mm, w.pos)[0]
    if not commit & 0x80000000 or commit == files.COMMIT_EOS:
        return 0
    nxt = w.pos + files.rec_size(commit & 0x7FFFFFFF)
    if nxt > m.size - files.REC_HDR_SIZE:
        return 0
    return m.walk(nxt, w.next_seq + 1).count


def _plan_readers(view: QueueView, plan: RepairPlan, end_hint: Tuple[int, int], first_hint: Tuple[int, int]) -> None:
    for r in view.readers():
        if r.problem:
            plan.readers.append(ReaderFix(r.name, r.path, "move", None, None, r.problem))
        elif r.position is None and r.torn_slots:
            plan.readers.append(ReaderFix(r.name, r.path, "clear", None, None, "no valid position slot"))
        elif r.position is not None:
            nxt = r.position.next_seq
            if nxt > plan.end_seq:
                plan.readers.append(ReaderFix(r.name, r.path, "set", nxt, plan.end_seq, "past the end", end_hint))
            elif nxt < plan.first_seq:
                plan.readers.append(
                    ReaderFix(r.name, r.path, "set", nxt, plan.first_seq, "before the first retained seq", first_hint)
                )
    for f in plan.readers:
        if f.action == "set":
            plan.actions.append(f"reader {f.name}: move its position from seq {f.old_seq} to {f.new_seq} ({f.reason})")
        elif f.action == "clear":
            plan.actions.append(f"reader {f.name}: clear its position ({f.reason}); it restarts as new")
        else:
            plan.actions.append(f"reader {f.name}: move its position file to the backup ({f.reason})")


# ---- applying ------------------------------------------------------------


@contextmanager
def publisher_lock(view: QueueView) -> Iterator[None]:
    """Hold the publisher lock, as a publisher would; QueueLockedError if one is alive."""
    path = os.path.join(view.path, files.LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), view.meta.file_mode & 0o777 or 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _lock_pid(fd)
            raise QueueLockedError(
                f"{view.path}: a publisher is alive (pid {pid}); stop it before repairing", pid=pid, path=view.path
            ) from None
        os.pwrite(fd, files.LOCK_REC.pack(files.LOCK_MAGIC, 1, 32, os.getpid(), time.time_ns(), 0), 0)
        yield
    finally:
        os.close(fd)


def _lock_pid(fd: int) -> Optional[int]:
    data = os.pread(fd, files.LOCK_REC.size, 0)
    if len(data) == files.LOCK_REC.size:
        magic, _v, _s, pid, _since, _r = files.LOCK_REC.unpack(data)
        if magic == files.LOCK_MAGIC and pid > 0:
            return int(pid)
    return None


@contextmanager
def reader_lock(path: str, name: str) -> Iterator[int]:
    """Hold a reader's lock (an fd of its position file); QueueLockedError if it is open."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            head = os.pread(fd, 24, 0)
            pid = struct.unpack_from("<q", head, 16)[0] if len(head) == 24 else -1
            raise QueueLockedError(
                f"reader '{name}' is open in another process (pid {pid}); close it first",
                pid=pid if pid > 0 else None,
                path=path,
            ) from None
        yield fd
    finally:
        os.close(fd)


def default_backup_dir(queue_path: str) -> str:
    """<parent>/<queue>.repair-<UTC time>, beside the queue (same file system,
    so moving segments is a rename), made unique with a counter."""
    parent, name = os.path.split(os.path.abspath(queue_path))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = os.path.join(parent, f"{name}.repair-{stamp}")
    candidate, n = base, 1
    while os.path.exists(candidate):
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def repair(path: str, dry_run: bool = False, backup_dir: Optional[str] = None) -> RepairPlan:
    """Repair the queue at `path` (or only plan it). Raises QueueLockedError
    while a publisher, or a reader whose position must change, is alive."""
    view = QueueView(path)
    if dry_run:
        alive, pid = view.writer()
        if alive:
            raise QueueLockedError(
                f"{view.path}: a publisher is alive (pid {pid}); stop it before repairing", pid=pid, path=view.path
            )
        plan = plan_repair(view)
        plan.dry_run = True
        return plan
    with publisher_lock(view):
        plan = plan_repair(view)
        if not plan.needed:
            return plan
        with ExitStack() as stack:
            fds = {f.name: stack.enter_context(reader_lock(f.path, f.name)) for f in plan.readers}
            plan.backup_dir = os.path.abspath(backup_dir) if backup_dir else default_backup_dir(view.path)
            _apply(view, plan, fds)
    return plan


def _apply(view: QueueView, plan: RepairPlan, reader_fds: Dict[str, int]) -> None:
    backup = plan.backup_dir
    assert backup is not None
    os.makedirs(backup, mode=0o700, exist_ok=True)
    for name in {c.segment for c in plan.cuts} | {f.segment for f in plan.base_fixes}:
        shutil.copyfile(os.path.join(view.path, name), os.path.join(backup, name))
    for bf in plan.base_fixes:
        _write_base(os.path.join(view.path, bf.segment), bf.new)
    # highest first: an interrupted repair leaves a prefix of the segments
    for name in sorted(plan.moved, reverse=True):
        _move(os.path.join(view.path, name), os.path.join(backup, name))
    for cut in plan.cuts:
        _zero_tail(os.path.join(view.path, cut.segment), cut)
    if plan.readers:
        os.makedirs(os.path.join(backup, files.READERS_DIR), mode=0o700, exist_ok=True)
    for fix in plan.readers:
        saved = os.path.join(backup, files.READERS_DIR, os.path.basename(fix.path))
        if fix.action == "move":
            _move(fix.path, saved)
            continue
        shutil.copyfile(fix.path, saved)
        _rewrite_position(reader_fds[fix.name], fix)
    _fsync_dir(view.path)
    with open(os.path.join(backup, "repair.json"), "w", encoding="utf-8") as f:
        json.dump(plan.to_json(), f, indent=2)
        f.write("\n")


def _move(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        shutil.copyfile(src, dst)  # another file system: copy, then remove
        os.unlink(src)


def _write_base(path: str, base: int) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    try:
        os.pwrite(fd, struct.pack("<Q", base), 56)
        os.fsync(fd)
    finally:
        os.close(fd)


def _zero_tail(path: str, cut: TailCut) -> None:
    """Zero [offset, end) in place (never shrinking the file), then write
    the end marker if the cut seals the segment."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    try:
        pos = cut.offset
        while pos < cut.end:
            n = min(len(_ZERO_CHUNK), cut.end - pos)
            os.pwrite(fd, _ZERO_CHUNK[:n], pos)
            pos += n
        if cut.seal:
            os.pwrite(fd, struct.pack("<I", files.COMMIT_EOS), cut.offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite_position(fd: int, fix: ReaderFix) -> None:
    data = os.pread(fd, files.POS_FILE_SIZE, 0)
    if fix.action == "clear":
        os.pwrite(fd, bytes(128), 64)
    else:
        pf = files.parse_position_file(data)
        gen = (pf.position.generation if pf.position else 0) + 1
        assert fix.new_seq is not None
        slot = files.position_slot(gen, fix.new_seq, fix.hint[0], fix.hint[1], time.time_ns())
        os.pwrite(fd, slot, 64 + 64 * (gen & 1))  # the older slot, as a commit does
    os.fsync(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
