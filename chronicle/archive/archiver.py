"""Archiving sealed segments: each one compressed with zstd, streamed into
the store, read back and checked, then recorded in the manifest.

A segment is sealed once the publisher wrote its end-of-segment marker; the
active segment (the highest one in use) is never archived. Compression
streams from the read-only mapping in 1 MiB pieces into the store's writer,
which holds at most one S3 part, so memory stays bounded whatever the segment
size. Running again is idempotent: a segment whose manifest entry is there,
whose object has the recorded size and whose seq range matches the local
segment is skipped; one whose object is missing or cut short is written
again; leftovers of interrupted runs are removed first.

One archiver at a time per queue: it holds ``archiver.lock`` in the queue
directory (flock, released by the kernel if the process dies).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..errors import CorruptQueueError, QueueLockedError
from ..tools import files
from ..tools.errors import BadArgumentError
from ..tools.view import WALK_EOS, WALK_TAIL, ProgressFn, QueueView, SegmentInfo, Walk
from .guard import link_archive, normalize_url, remove_link_leftovers
from .manifest import (
    DESCRIPTOR_KEY, MANIFEST_PREFIX, Descriptor, ManifestEntry, entry_key, object_key, segment_of_entry_key,
)
from .segment import CHUNK, sealed_extent, zstd_module
from .store import Retry, Store, open_store

LOCK_FILE = "archiver.lock"
DEFAULT_LEVEL = 3
Note = Callable[[str], None]


@dataclass
class SegmentReport:
    """One segment archived by this run."""

    segment: int
    first_seq: int
    last_seq: Optional[int]
    raw_size: int
    compressed_size: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.raw_size / self.compressed_size if self.compressed_size else 0.0


@dataclass
class PassResult:
    archived: List[SegmentReport] = field(default_factory=list)
    already: int = 0  # sealed segments found archived and intact
    rewritten: List[int] = field(default_factory=list)  # found archived incompletely, written again
    pending: List[int] = field(default_factory=list)  # in use before the active one, not sealed yet


@dataclass
class _Todo:
    seg: SegmentInfo
    walk: Walk

    @property
    def raw_size(self) -> int:
        return self.walk.pos + files.REC_HDR_SIZE


class Archiver:
    """Archives the sealed segments of the queue at `queue` into `url` (a
    directory, made if absent, or s3://BUCKET/PREFIX)."""

    def __init__(
        self,
        queue: str,
        url: str,
        level: int = DEFAULT_LEVEL,
        retry: Optional[Retry] = None,
        part_size: Optional[int] = None,
        note: Optional[Note] = None,
    ) -> None:
        zstd_module("archiving")  # fail early, naming the extra
        if not 1 <= level <= 22:
            raise BadArgumentError(f"--level {level}: zstd levels are 1..22")
        self.view = QueueView(queue)
        self.level = level
        self.note: Note = note or (lambda _msg: None)
        self.url = normalize_url(url)
        self._check_target(self.url)
        self._lock_fd = _lock(self.view)
        self.store: Optional[Store] = None
        try:
            mode = self.view.meta.file_mode or 0o600
            self.store = open_store(self.url, retry=retry, create=True, file_mode=mode, part_size=part_size)
            self._claim(self.store)
            remove_link_leftovers(self.view.path)
            link_archive(self.view.path, self.url, mode)
            cleaned = self.store.cleanup()
            if cleaned:
                self.note(f"removed {cleaned} leftover(s) of an interrupted run")
            self.known = self._load_manifest(self.store)
        except BaseException:
            self.close()
            raise
        self.done: Set[int] = set()  # checked or written by this process
        self._gap_noted = False

    # ---- setup -----------------------------------------------------------

    def _check_target(self, url: str) -> None:
        if url.startswith("s3://"):
            return
        queue = os.path.realpath(self.view.path)
        target = os.path.realpath(url)
        if target == queue or target.startswith(queue + os.sep):
            raise BadArgumentError(f"--to {url}: the archive cannot be inside the queue directory")
        if os.path.isdir(target) and os.listdir(target) and not os.path.exists(os.path.join(target, DESCRIPTOR_KEY)):
            raise BadArgumentError(f"--to {url}: the directory is neither empty nor a Chronicle archive")

    def _claim(self, store: Store) -> None:
        """Write the archive's descriptor, or check that it names this queue."""
        meta = self.view.meta
        data = store.get_bytes(DESCRIPTOR_KEY)
        if data is None:
            desc = Descriptor(meta.queue_id.hex(), meta.segment_size, meta.created_ns, meta.file_mode or 0o600)
            store.put_bytes(DESCRIPTOR_KEY, desc.to_json())
            return
        desc = Descriptor.from_json(data, store.where(DESCRIPTOR_KEY))
        if desc.queue_id != meta.queue_id.hex():
            raise BadArgumentError(
                f"{store.where(DESCRIPTOR_KEY)}: the archive belongs to another queue "
                f"(queue id {desc.queue_id}, this queue is {meta.queue_id.hex()})"
            )

    def _load_manifest(self, store: Store) -> Dict[int, ManifestEntry]:
        known: Dict[int, ManifestEntry] = {}
        for key in store.list_keys(MANIFEST_PREFIX):
            index = segment_of_entry_key(key)
            if index is None:
                continue
            data = store.get_bytes(key)
            if data is None:
                continue
            try:
                known[index] = ManifestEntry.from_json(data, store.where(key), index)
            except CorruptQueueError as e:
                self.note(f"{e}; segment {index} will be archived again")
        return known

    # ---- one pass ----------------------------------------------------------

    def plan(self, result: Optional[PassResult] = None) -> Tuple[List[_Todo], PassResult]:
        """Which sealed segments need archiving now."""
        result = result if result is not None else PassResult()
        act = self.view.activated()
        todo: List[_Todo] = []
        for seg in act[:-1]:  # never the active segment
            if seg.index in self.done:
                continue
            base = seg.base_seq
            assert base is not None
            try:
                with seg.open() as m:
                    w = sealed_extent(m, base)
            except FileNotFoundError:
                continue  # deleted by retention meanwhile
            if w.end == WALK_TAIL:
                result.pending.append(seg.index)  # activated after it, marker not yet written
                continue
            if w.end != WALK_EOS:
                bad = w.why or "segment ends without an end marker"
                raise CorruptQueueError(f"{seg.path}:{w.pos}: {bad} (seq {w.next_seq}); not archived",
                                        path=seg.path, offset=w.pos)
            entry = self.known.get(seg.index)
            if entry is not None:
                why = self._mismatch(entry, base, w)
                if why is None:
                    self.done.add(seg.index)
                    result.already += 1
                    continue
                self.note(f"segment {seg.index}: {why}; archiving it again")
                result.rewritten.append(seg.index)
            todo.append(_Todo(seg, w))
        self._note_gap(act)
        return todo, result

    def _mismatch(self, entry: ManifestEntry, base: int, w: Walk) -> Optional[str]:
        if entry.first_seq != base or entry.records != w.count or entry.raw_size != w.pos + files.REC_HDR_SIZE:
            return "the archived copy describes other records"
        assert self.store is not None
        size = self.store.size(entry.object)
        if size is None:
            return "the archived object is missing"
        if size != entry.compressed_size:
            return f"the archived object has {size} bytes, the manifest says {entry.compressed_size}"
        return None

    def _note_gap(self, act: List[SegmentInfo]) -> None:
        if self._gap_noted or not act or not self.known:
            return
        self._gap_noted = True
        last = max(self.known)
        if act[0].index > last + 1:
            self.note(f"segments {last + 1}..{act[0].index - 1} were deleted from the queue before being archived")

    def archive(
        self, todo: List[_Todo], result: PassResult, progress: Optional[ProgressFn] = None,
        stop: Optional[Callable[[], bool]] = None, on_segment: Optional[Callable[[SegmentReport], None]] = None,
    ) -> PassResult:
        for item in todo:
            if stop is not None and stop():
                break
            try:
                done = self._archive_one(item, progress)
            except FileNotFoundError as e:
                if e.filename == item.seg.path:
                    continue  # deleted meanwhile: only --ignore-archive retention does that
                raise
            result.archived.append(done)
            if on_segment is not None:
                on_segment(done)
        return result

    def run_pass(
        self, progress: Optional[ProgressFn] = None, stop: Optional[Callable[[], bool]] = None,
        on_segment: Optional[Callable[[SegmentReport], None]] = None,
    ) -> PassResult:
        todo, result = self.plan()
        return self.archive(todo, result, progress, stop, on_segment)

    def _archive_one(self, item: _Todo, progress: Optional[ProgressFn]) -> SegmentReport:
        assert self.store is not None
        zstd = zstd_module("archiving")
        seg, raw_size = item.seg, item.raw_size
        base = seg.base_seq
        assert base is not None
        key = object_key(seg.index)
        started = time.monotonic()
        raw_sha = hashlib.sha256()
        with seg.open() as m, self.store.create(key) as out:
            view = memoryview(m.mm)
            try:
                cctx = zstd.ZstdCompressor(level=self.level, write_checksum=True)
                with cctx.stream_writer(out, size=raw_size, closefd=False) as zw:
                    for off in range(0, raw_size, CHUNK):
                        piece = view[off : min(off + CHUNK, raw_size)]
                        raw_sha.update(piece)
                        zw.write(piece)
                        piece.release()
                        if progress is not None:
                            progress(min(CHUNK, raw_size - off))
            finally:
                view.release()
            out.commit()
            size, checksum = out.size, out.checksum
        self._read_back(key, size, checksum)
        w = item.walk
        entry = ManifestEntry(
            segment=seg.index, object=key, first_seq=base, last_seq=w.next_seq - 1 if w.count else None,
            records=w.count, first_timestamp_ns=w.first_ts, last_timestamp_ns=w.last_ts, raw_size=raw_size,
            segment_size=seg.file_size, compressed_size=size, checksum=checksum,
            raw_checksum="sha256:" + raw_sha.hexdigest(), compression="zstd", level=self.level,
            archived_ns=time.time_ns(),
        )
        self.store.put_bytes(entry_key(seg.index), entry.to_json())  # only now does the archive claim it
        self.known[seg.index] = entry
        self.done.add(seg.index)
        return SegmentReport(seg.index, base, entry.last_seq, raw_size, size, time.monotonic() - started)

    def _read_back(self, key: str, size: int, checksum: str) -> None:
        """Check the stored object byte for byte before the manifest names it."""
        assert self.store is not None

        def digest(stream: Any) -> Tuple[int, str]:
            sha, n = hashlib.sha256(), 0
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    return n, "sha256:" + sha.hexdigest()
                sha.update(chunk)
                n += len(chunk)

        got = self.store.read(key, digest)
        if got != (size, checksum):
            raise CorruptQueueError(
                f"{self.store.where(key)}: reads back as {got[0]} bytes with {got[1]}, "
                f"but {size} bytes with {checksum} were written; not recorded in the manifest",
                path=self.store.where(key),
            )

    # ---- following a live publisher -------------------------------------

    def seg_epoch(self) -> int:
        """queue.meta's count of segment activations: it changes at every roll."""
        with open(self.view.meta_path, "rb") as f:
            return int.from_bytes(os.pread(f.fileno(), 8, 128), "little")

    def wait_for_roll(self, epoch: int, timeout: float, stop: Callable[[], bool], poll: float = 0.1) -> None:
        """Sleep until the publisher activates a segment, `timeout` passes or
        `stop` says so. Polled: the publisher never has to wake us."""
        deadline = time.monotonic() + timeout
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            if self.seg_epoch() != epoch:
                return

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> "Archiver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(view: QueueView) -> int:
    path = os.path.join(view.path, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), view.meta.file_mode or 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            pid = int(holder) if holder.isdigit() else None
            raise QueueLockedError(
                f"{view.path}: another archiver{f' (pid {pid})' if pid else ''} is archiving this queue",
                pid=pid, path=path,
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
