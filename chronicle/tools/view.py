"""A read-only view of a queue directory: its segments, records, reader
positions and publisher, as the tools need them.

Nothing here writes to the queue or takes a lock a publisher or subscriber
could trip over: segments are mapped read-only, the publisher's liveness comes
from chron_writer_alive and readers' from /proc/locks. Records are walked by
the core's own parser (chron_walk in csrc/inspect.c), never by Python per byte.
"""
from __future__ import annotations

import mmap
import os
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Tuple

from .._binding import PathLike, encode_path, ffi, lib, raise_error
from ..errors import CorruptQueueError, SegmentRetiredError, SeqRangeError
from . import files
from .errors import BadArgumentError, NotAQueueError

WALK_TAIL = int(lib.CHRON_WALK_TAIL)
WALK_EOS = int(lib.CHRON_WALK_EOS)
WALK_BAD = int(lib.CHRON_WALK_BAD)
WALK_FULL = int(lib.CHRON_WALK_FULL)
WALK_LIMIT = int(lib.CHRON_WALK_LIMIT)
NO_LIMIT = 2**64 - 1

_REC_INFO = struct.Struct("<QqQII")  # chron_rec_info_t: seq, timestamp_ns, offset, len, type_id
# the same layout for numpy.frombuffer
REC_INFO_DTYPE = [("seq", "<u8"), ("timestamp_ns", "<i8"), ("offset", "<u8"), ("length", "<u4"), ("type_id", "<u4")]
_WAIT_SLICE_S = 0.05  # return to Python this often while waiting, for Ctrl-C


class RecInfo(NamedTuple):
    """Where one valid record lies in its segment."""

    seq: int
    timestamp_ns: int
    offset: int  # of the record header
    length: int  # of the payload
    type_id: int


def unpack_records(raw: bytes) -> List[RecInfo]:
    """Packed chron_rec_info_t entries (from a raw walk) as RecInfo tuples."""
    return [RecInfo(*t) for t in _REC_INFO.iter_unpack(raw)]


@dataclass(frozen=True)
class Walk:
    """Result of walking records: where and why it stopped."""

    pos: int
    next_seq: int
    count: int
    first_ts: Optional[int]
    last_ts: Optional[int]
    end: int  # WALK_*
    why: str


class MappedSegment:
    """A read-only mapping of one segment file."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(fd).st_size
            problem = files.segment_size_problem(size)
            if problem:  # mapping past the end of a short file would SIGBUS
                raise CorruptQueueError(f"{path}: {problem}", path=path, offset=0)
            self.mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)  # the mapping keeps its own reference
        self.size = size
        self._buf: Any = ffi.from_buffer(self.mm)

    def walk(self, pos: int, seq: int, max_records: int = NO_LIMIT) -> Walk:
        out = ffi.new("chron_walk_t *")
        lib.chron_walk(self._buf, self.size, pos, seq, max_records, ffi.NULL, out)
        return _walk(out)

    def walk_raw(self, pos: int, seq: int, max_records: int) -> Tuple[Walk, bytes]:
        """Walk, returning the records found as packed chron_rec_info_t."""
        recs = ffi.new("chron_rec_info_t[]", max_records)
        out = ffi.new("chron_walk_t *")
        n = int(lib.chron_walk(self._buf, self.size, pos, seq, max_records, recs, out))
        return _walk(out), ffi.buffer(recs, n * _REC_INFO.size)[:]

    def walk_records(self, pos: int, seq: int, max_records: int) -> Tuple[Walk, List[RecInfo]]:
        """Walk, returning the records found."""
        w, raw = self.walk_raw(pos, seq, max_records)
        return w, unpack_records(raw)

    def payload(self, rec: RecInfo) -> bytes:
        start = rec.offset + files.REC_HDR_SIZE
        return self.mm[start : start + rec.length]

    def nonzero_end(self, start: int, end: int) -> int:
        """Offset just past the last nonzero byte of [start, end), or start."""
        return int(lib.chron_nonzero_end(self._buf, start, min(end, self.size)))

    def word(self, pos: int) -> Any:
        """A pointer to the commit word at `pos`, for chron_tail_wait."""
        return ffi.cast("char *", self._buf) + pos

    def close(self) -> None:
        if self._buf is not None:
            ffi.release(self._buf)
            self._buf = None
            self.mm.close()

    def __enter__(self) -> "MappedSegment":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _walk(out: Any) -> Walk:
    count = int(out.count)
    return Walk(
        pos=int(out.pos),
        next_seq=int(out.next_seq),
        count=count,
        first_ts=int(out.first_ts) if count else None,
        last_ts=int(out.last_ts) if count else None,
        end=int(out.end),
        why=ffi.string(out.why).decode() if out.why != ffi.NULL else "",
    )


@dataclass(frozen=True)
class SegmentInfo:
    index: int
    name: str
    path: str
    file_size: int
    disk_bytes: int  # allocated on disk
    header: Optional[files.SegmentHeader]  # also set when only its base seq is out of range
    problem: Optional[str]  # why the header is invalid
    state: str  # "active", "sealed", "prepared" (made ahead, unused) or "bad"

    @property
    def base_seq(self) -> Optional[int]:
        """First seq, once the publisher activated the segment."""
        if self.header is None or self.problem or self.header.base_seq == files.SEQ_UNSET:
            return None
        return self.header.base_seq

    def open(self) -> MappedSegment:
        return MappedSegment(self.path)


@dataclass(frozen=True)
class Bounds:
    """What the queue holds now."""

    first_seq: int  # first retained seq (== end_seq when empty)
    end_seq: int  # seq the next append gets
    first_ts: Optional[int]
    last_ts: Optional[int]
    active: Optional[SegmentInfo]  # the highest activated segment
    tail: Optional[Walk]  # the walk of the active segment to its end

    @property
    def count(self) -> int:
        return self.end_seq - self.first_seq


@dataclass(frozen=True)
class ReaderInfo:
    name: str
    path: str
    problem: Optional[str]  # why the position file is unreadable
    position: Optional[files.Position]  # None: nothing committed
    torn_slots: int
    last_pid: Optional[int]  # pid of the last process that opened it
    live_pid: Optional[int]  # pid holding it open now (None: closed, or unknown)
    liveness_known: bool

    @property
    def next_seq(self) -> Optional[int]:
        return self.position.next_seq if self.position else None


class QueueView:
    """Read-only access to the queue at `path`; raises NotAQueueError if there
    is none, CorruptQueueError if its queue.meta is unusable."""

    def __init__(self, path: PathLike) -> None:
        self.path = os.fsdecode(os.fspath(path))
        try:
            self._raw = encode_path(path)
        except ValueError as e:  # empty, or a NUL byte
            raise BadArgumentError(f"{self.path!r}: {e}") from None
        if not os.path.exists(self.path):
            raise NotAQueueError(f"{self.path}: no such queue (the directory does not exist)")
        if not os.path.isdir(self.path):
            raise NotAQueueError(f"{self.path}: not a queue (not a directory)")
        self.meta_path = os.path.join(self.path, files.META_FILE)
        if not os.path.exists(self.meta_path):
            raise NotAQueueError(f"{self.path}: not a Chronicle queue (no {files.META_FILE})")
        self.meta = self.read_meta()

    def read_meta(self) -> files.Meta:
        with open(self.meta_path, "rb") as f:
            data = f.read(files.META_SIZE)
        try:
            return files.parse_meta(data)
        except files.MetaError as e:
            raise CorruptQueueError(f"{self.meta_path}: {e}", path=self.meta_path, offset=0) from None

    # ---- segments --------------------------------------------------------

    def segments(self) -> List[SegmentInfo]:
        """Every segment file, ascending, each with its state."""
        raw = []
        for index, name in files.list_segment_files(self.path):
            path = os.path.join(self.path, name)
            try:
                with open(path, "rb") as f:
                    st = os.fstat(f.fileno())
                    head = f.read(files.SEG_HDR_SIZE)
            except FileNotFoundError:
                continue  # retired while we listed
            header, problem = files.parse_segment_header(head, st.st_size, index, self.meta.queue_id)
            raw.append((index, name, path, st, header, problem))
        activated = [r[0] for r in raw if r[4] is not None and r[5] is None and r[4].base_seq != files.SEQ_UNSET]
        active = activated[-1] if activated else None
        out = []
        for index, name, path, st, header, problem in raw:
            if header is None or problem:
                state = "bad"
            elif header.base_seq == files.SEQ_UNSET:
                state = "prepared"
            else:
                state = "active" if index == active else "sealed"
            blocks = getattr(st, "st_blocks", None)
            disk = blocks * 512 if blocks is not None else st.st_size
            out.append(SegmentInfo(index, name, path, st.st_size, disk, header, problem, state))
        return out

    def activated(self, segs: Optional[List[SegmentInfo]] = None) -> List[SegmentInfo]:
        """The segments in use (sealed and active), ascending."""
        return [s for s in (self.segments() if segs is None else segs) if s.base_seq is not None]

    def bounds(self, segs: Optional[List[SegmentInfo]] = None) -> Bounds:
        act = self.activated(segs)
        if not act:
            return Bounds(0, 0, None, None, None, None)
        first, last = act[0], act[-1]
        with last.open() as m:
            tail = m.walk(files.SEG_HDR_SIZE, _base(last))
        with first.open() as m:
            first_ts = m.walk(files.SEG_HDR_SIZE, _base(first), 1).first_ts
        last_ts = tail.last_ts
        for s in reversed(act[:-1]):  # the active segment may have no record yet
            if last_ts is not None:
                break
            with s.open() as m:
                last_ts = m.walk(files.SEG_HDR_SIZE, _base(s)).last_ts
        return Bounds(_base(first), tail.next_seq, first_ts, last_ts, last, tail)

    def locate(self, seq: int, segs: Optional[List[SegmentInfo]] = None) -> Tuple[SegmentInfo, int]:
        """The segment and offset of the record `seq` (or of the end, for the
        seq the next append gets). Raises SeqRangeError outside."""
        act = self.activated(segs)
        if not act:
            raise SeqRangeError(f"{self.path}: seq {seq} is beyond the end of an empty queue")
        if seq < _base(act[0]):
            raise SeqRangeError(f"seq {seq} is before the first retained seq {_base(act[0])}")
        seg = [s for s in act if _base(s) <= seq][-1]
        with seg.open() as m:
            w = m.walk(files.SEG_HDR_SIZE, _base(seg), seq - _base(seg))
        if w.next_seq == seq:
            return seg, w.pos
        if w.end == WALK_BAD:
            raise CorruptQueueError(f"{seg.path}:{w.pos}: {w.why}", path=seg.path, offset=w.pos)
        raise SeqRangeError(f"seq {seq} is beyond the end of the queue (next is {w.next_seq})")

    def timestamp_of(self, seq: int, hint: Optional[Tuple[int, int]] = None) -> Optional[int]:
        """Timestamp of record `seq` (None if it is not in the queue), trying
        the (segment, offset) hint of a position file first."""
        if hint is not None:
            path = os.path.join(self.path, files.seg_name(hint[0]))
            try:
                with MappedSegment(path) as m:
                    w = m.walk(hint[1], seq, 1) if hint[1] % files.REC_ALIGN == 0 else None
                if w is not None and w.count == 1:
                    return w.first_ts
            except (OSError, CorruptQueueError):
                pass
        try:
            seg, pos = self.locate(seq)
        except (SeqRangeError, CorruptQueueError):
            return None
        with seg.open() as m:
            return m.walk(pos, seq, 1).first_ts

    # ---- publisher and readers ---------------------------------------------

    def writer(self) -> Tuple[bool, Optional[int]]:
        """(alive, pid) of the publisher."""
        pid = ffi.new("int64_t *")
        rc = lib.chron_writer_alive(self._raw, pid)
        if rc < 0:
            raise_error(rc)
        return bool(rc), (int(pid[0]) if rc and pid[0] > 0 else None)

    def readers(self) -> List[ReaderInfo]:
        rdir = os.path.join(self.path, files.READERS_DIR)
        try:
            names = sorted(n for n in os.listdir(rdir) if n.endswith(files.POS_SUFFIX))
        except FileNotFoundError:
            return []
        holders = files.flock_holders()
        out = []
        for fname in names:
            name = fname[: -len(files.POS_SUFFIX)]
            path = os.path.join(rdir, fname)
            try:
                with open(path, "rb") as f:
                    st = os.fstat(f.fileno())
                    data = f.read(files.POS_FILE_SIZE)
            except FileNotFoundError:
                continue
            live = None
            if holders is not None:
                live = holders.get((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
            try:
                pf = files.parse_position_file(data)
            except ValueError as e:
                out.append(ReaderInfo(name, path, str(e), None, 0, None, live, holders is not None))
                continue
            out.append(
                ReaderInfo(
                    name, path, None, pf.position, pf.torn_slots, pf.pid if pf.pid > 0 else None,
                    live, holders is not None,
                )
            )
        return out

    def disk_bytes(self) -> int:
        """Bytes allocated on disk by every file of the queue."""
        total = 0
        for root, _dirs, names in os.walk(self.path):
            for n in names:
                try:
                    st = os.lstat(os.path.join(root, n))
                except FileNotFoundError:
                    continue
                blocks = getattr(st, "st_blocks", None)
                total += blocks * 512 if blocks is not None else st.st_size
        return total

    def cursor(self, seq: int) -> "Cursor":
        return Cursor(self, seq)


def _base(seg: SegmentInfo) -> int:
    base = seg.base_seq
    assert base is not None
    return base


class Cursor:
    """Reads records in order from a seq, segment to segment, read-only: the
    tools' anonymous reader (no name, no position file, no lock).

    :meth:`read` returns the records available now, all from one segment;
    :meth:`wait` sleeps as a subscriber does until more may be there.
    """

    def __init__(self, view: QueueView, seq: int) -> None:
        self.view = view
        self.next_seq = seq
        self.seg: Optional[MappedSegment] = None
        self.index = -1
        self.pos = 0
        self._meta_mm: Optional[mmap.mmap] = None
        self._meta_buf: Any = None
        self._meta_tried = False
        self._attach()

    def _attach(self) -> bool:
        """Find the segment holding next_seq (a queue may have none yet)."""
        segs = self.view.segments()
        if not self.view.activated(segs):
            if self.next_seq != 0:
                raise SeqRangeError(f"seq {self.next_seq} is beyond the end of an empty queue")
            return False
        seg, pos = self.view.locate(self.next_seq, segs)
        self._use(seg.open(), seg.index, pos)
        return True

    def _use(self, m: MappedSegment, index: int, pos: int) -> None:
        if self.seg is not None:
            self.seg.close()
        self.seg, self.index, self.pos = m, index, pos

    def read(self, max_n: int = 4096) -> Tuple[Optional[MappedSegment], List[RecInfo]]:
        """(segment, records) available now, at most max_n, all from one
        segment; no records at the live end. Raises CorruptQueueError at a
        damaged record."""
        seg, raw = self.read_raw(max_n)
        return seg, unpack_records(raw)

    def read_raw(self, max_n: int = 65536) -> Tuple[Optional[MappedSegment], bytes]:
        """Like :meth:`read`, as packed chron_rec_info_t entries (REC_INFO_DTYPE
        in NumPy terms): the bulk path of export and stats."""
        if self.seg is None and not self._attach():
            return None, b""
        while True:
            assert self.seg is not None
            w, raw = self.seg.walk_raw(self.pos, self.next_seq, max_n)
            if raw:
                self.pos, self.next_seq = w.pos, w.next_seq
                return self.seg, raw
            if w.end == WALK_EOS:
                if not self._advance():
                    return self.seg, b""
                continue
            if w.end == WALK_BAD:
                raise CorruptQueueError(
                    f"{self.seg.path}:{w.pos}: {w.why} (seq {w.next_seq})", path=self.seg.path, offset=w.pos
                )
            if w.end == WALK_FULL:
                raise CorruptQueueError(
                    f"{self.seg.path}:{w.pos}: segment ends without an end marker",
                    path=self.seg.path,
                    offset=w.pos,
                )
            return self.seg, b""

    def _advance(self) -> bool:
        """Past an end marker: move to the next segment once it is in use."""
        nxt = self.index + 1
        path = os.path.join(self.view.path, files.seg_name(nxt))
        try:
            m = MappedSegment(path)
        except FileNotFoundError:
            if any(s.index > nxt for s in self.view.segments()):
                raise SegmentRetiredError(f"{path}: segment after a sealed one is missing") from None
            return False  # the publisher died between sealing and the next append
        head = bytes(m.mm[: files.SEG_HDR_SIZE])
        header, problem = files.parse_segment_header(head, m.size, nxt, self.view.meta.queue_id)
        if problem or header is None:
            m.close()
            raise CorruptQueueError(f"{path}: {problem}", path=path, offset=0)
        if header.base_seq == files.SEQ_UNSET:
            m.close()
            return False
        if header.base_seq != self.next_seq:
            m.close()
            raise CorruptQueueError(
                f"{path}:56: segment starts at seq {header.base_seq}, expected {self.next_seq}",
                path=path,
                offset=56,
            )
        self._use(m, nxt, files.SEG_HDR_SIZE)
        return True

    def records(self, until: Optional[int] = None) -> Iterator[Tuple[RecInfo, MappedSegment]]:
        """Every record available now, up to seq `until` (inclusive)."""
        return iter_records(self, until)

    def wait(self, timeout: float) -> bool:
        """Sleep until more may be readable or `timeout` seconds pass; True if
        woken. Uses the subscribers' futex where queue.meta is writable, and
        polls otherwise. Ctrl-C interrupts within one slice."""
        deadline = time.monotonic() + timeout
        meta = self._meta()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if meta is None:
                time.sleep(min(left, _WAIT_SLICE_S))
                if self._ready():
                    return True
                continue
            word = self.seg.word(self.pos) if self.seg is not None else ffi.NULL
            rc = lib.chron_tail_wait(meta, word, int(min(left, _WAIT_SLICE_S) * 1e9))
            if rc == 1:
                return True

    def _ready(self) -> bool:
        if self.seg is None:
            return bool(self.view.activated())
        return self.seg.walk(self.pos, self.next_seq, 1).end != WALK_TAIL

    def _meta(self) -> Any:
        if not self._meta_tried:
            self._meta_tried = True
            try:
                fd = os.open(self.view.meta_path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                return None  # read-only access: poll instead
            try:
                self._meta_mm = mmap.mmap(fd, files.META_SIZE, access=mmap.ACCESS_WRITE)
            finally:
                os.close(fd)
            self._meta_buf = ffi.from_buffer(self._meta_mm)
        return self._meta_buf

    def close(self) -> None:
        if self.seg is not None:
            self.seg.close()
            self.seg = None
        if self._meta_buf is not None:
            ffi.release(self._meta_buf)
            self._meta_buf = None
        if self._meta_mm is not None:
            self._meta_mm.close()
            self._meta_mm = None

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ProgressFn = Callable[[int], None]


def iter_records(cursor: Any, until: Optional[int]) -> Iterator[Tuple[RecInfo, MappedSegment]]:
    """The records a cursor (a queue's or an archive's) reads from its
    next_seq, batch by batch, up to seq `until` (inclusive)."""
    while until is None or cursor.next_seq <= until:
        seg, recs = cursor.read()
        if not recs:
            return
        assert seg is not None
        for r in recs:
            if until is not None and r.seq > until:
                return
            yield r, seg


def check_range(bounds: Bounds, start: int, until: Optional[int]) -> None:
    """Validate a --from/--until range against what the queue holds."""
    if start < bounds.first_seq:
        raise BadArgumentError(f"--from {start} is before the first retained seq {bounds.first_seq}")
    if start > bounds.end_seq:
        raise BadArgumentError(f"--from {start} is beyond the end of the queue (next seq is {bounds.end_seq})")
    if until is not None and until < start:
        raise BadArgumentError(f"--until {until} is before --from {start}")
