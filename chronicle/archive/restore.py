"""Rebuilding a queue directory from an archive.

Each segment is written back with its original number, seqs and timestamps
(the record checksums do not depend on where a record lies, so records can
move): the first restored segment starts at ``--from`` (its ``base_seq``
says so), and the last one ends right after ``--until`` without an end
marker, so it is the queue's active segment — subscribers read the restored
queue as any other, and a publisher that opens it continues at the next seq.
Segments are preallocated to their full size, as the publisher makes them.
The queue is built in a temporary directory beside the target and renamed
into place at the end, so an interrupted restore leaves no half-made queue.
"""
from __future__ import annotations

import os
import secrets
import shutil
import struct
from dataclasses import dataclass
from typing import List, Optional

from ..errors import SegmentRetiredError
from ..tools import files
from ..tools.errors import BadArgumentError
from ..tools.view import ProgressFn
from .manifest import ManifestEntry
from .reader import Archive
from .store import Retry

_META_HEAD = struct.Struct("<IHH16sqI24x")  # magic, version, header_size, queue_id, created_ns, file_mode
_CHUNK = 1 << 20


@dataclass
class RestoreResult:
    url: str
    to: str
    segments: int
    first_seq: int
    last_seq: int
    messages: int


def _dir_mode(file_mode: int) -> int:
    return (file_mode | ((file_mode & 0o444) >> 2)) & 0o777


def restore(
    url: str, to: str, start: Optional[int] = None, until: Optional[int] = None,
    progress: Optional[ProgressFn] = None, retry: Optional[Retry] = None,
) -> RestoreResult:
    """Write the archived messages [start, until] of `url` as a new queue at `to`."""
    archive = Archive(url, retry)
    try:
        return restore_from(archive, to, start, until, progress)
    finally:
        archive.close()


def plan_entries(archive: Archive, start: Optional[int], until: Optional[int]) -> "tuple[int, int, List[ManifestEntry]]":
    """(first, last, entries) that a restore of [start, until] writes."""
    if archive.end_seq <= archive.first_seq:
        raise BadArgumentError(f"{archive.url}: the archive holds no messages")
    first = archive.first_seq if start is None else start
    last = archive.end_seq - 1 if until is None else min(until, archive.end_seq - 1)
    if not archive.first_seq <= first < archive.end_seq:
        raise BadArgumentError(
            f"--from {first} is outside the archive (seqs {archive.first_seq}..{archive.end_seq - 1})"
        )
    if last < first:
        raise BadArgumentError(f"--until {until} is before --from {first}")
    holding = [e for e in archive.entries if e.records and e.first_seq <= last and e.end_seq > first]
    # segments without records between them are restored too: readers step through every number
    entries = [e for e in archive.entries if holding[0].segment <= e.segment <= holding[-1].segment]
    for prev, e in zip(entries, entries[1:]):
        if e.segment != prev.segment + 1 or e.first_seq != prev.end_seq:
            raise SegmentRetiredError(
                f"{archive.url}: seqs {prev.end_seq}..{e.first_seq - 1} (segments {prev.segment + 1}.."
                f"{e.segment - 1}) are not in the archive"
            )
    if entries[0].first_seq > first:
        raise SegmentRetiredError(f"{archive.url}: seq {first} is not in the archive (a segment is missing)")
    return first, last, entries


def restore_from(
    archive: Archive, to: str, start: Optional[int] = None, until: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
) -> RestoreResult:
    """:func:`restore` from an archive already opened."""
    to = os.path.abspath(to)
    if os.path.exists(to) and (not os.path.isdir(to) or os.listdir(to)):
        raise BadArgumentError(f"--to {to}: already exists and is not an empty directory")
    first, last, entries = plan_entries(archive, start, until)
    desc = archive.descriptor
    mode = desc.file_mode or 0o600
    parent, name = os.path.split(to)
    tmp = os.path.join(parent, f".{name}.restore-{os.getpid()}-{secrets.token_hex(4)}")
    os.mkdir(tmp, _dir_mode(mode))
    try:
        _write_meta(tmp, archive.queue_id, desc.queue_created_ns, mode, entries[0].segment_size, len(entries))
        for i, entry in enumerate(entries):
            _write_segment(archive, tmp, entry, first, last, i == len(entries) - 1, mode)
            if progress is not None:
                progress(entry.raw_size)
        _fsync_dir(tmp)
        if os.path.isdir(to):
            os.rmdir(to)  # empty, checked above
        os.rename(tmp, to)
        _fsync_dir(parent or ".")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RestoreResult(archive.url, to, len(entries), first, last, last - first + 1)


def _write_meta(
    folder: str, queue_id: bytes, created_ns: int, mode: int, segment_size: int, seg_epoch: int
) -> None:
    """queue.meta as the core creates it (docs/FORMAT.md), segment size fixed."""
    head = _META_HEAD.pack(files.META_MAGIC, files.FORMAT_VERSION, files.META_SIZE, queue_id, created_ns, mode)
    data = bytearray(files.META_SIZE)
    data[:60] = head
    struct.pack_into("<I", data, 60, files.crc32c(head))
    struct.pack_into("<Q", data, 64, segment_size)
    struct.pack_into("<Q", data, 128, seg_epoch)
    _write_file(os.path.join(folder, files.META_FILE), [bytes(data)], files.META_SIZE, mode)


def _write_segment(
    archive: Archive, folder: str, entry: ManifestEntry, first: int, last: int, is_last: bool, mode: int
) -> None:
    seg = archive.load(entry)  # checked completely before any byte is used
    try:
        lo = max(first, entry.first_seq)
        start = seg.walk(files.SEG_HDR_SIZE, entry.first_seq, lo - entry.first_seq).pos
        if is_last:  # ends after `last`, unsealed: the active segment
            hi = min(last, entry.end_seq - 1)
            end = seg.walk(files.SEG_HDR_SIZE, entry.first_seq, hi + 1 - entry.first_seq).pos
        else:  # keeps its records to the end and its end marker
            end = entry.raw_size
        view = memoryview(seg.mm)
        try:
            header = bytes(view[:56]) + struct.pack("<Q", lo)
            body = view[start:end]
            _write_file(os.path.join(folder, files.seg_name(entry.segment)), [header, body], entry.segment_size, mode)
            body.release()
        finally:
            view.release()
    finally:
        seg.close()


def _write_file(path: str, parts: "list[object]", size: int, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        # preallocated as the publisher does, so a later append cannot hit a full disk
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)
        else:
            os.ftruncate(fd, size)
        off = 0
        for part in parts:
            view = memoryview(part).cast("B")  # type: ignore[arg-type]
            for i in range(0, len(view), _CHUNK):
                piece = view[i : i + _CHUNK]
                while piece:
                    n = os.pwrite(fd, piece, off)
                    piece, off = piece[n:], off + n
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
