"""Segments going into and coming out of the archive.

:func:`sealed_extent` tells whether a queue segment is sealed and how many of
its bytes to archive; :func:`load_segment` brings an archived segment back
into memory and checks it completely — the object's checksum, the zstd frame
(which carries its own checksum), the raw bytes' checksum, the segment header
and every record's framing, seq and CRC32C through the core's parser — before
anything in it is used. A segment that fails any check raises
:class:`~chronicle.errors.CorruptQueueError` naming the object.
"""
from __future__ import annotations

import hashlib
import mmap
from typing import Any, Optional

from .._binding import ffi
from ..errors import CorruptQueueError
from ..tools import files
from ..tools.errors import require
from ..tools.view import WALK_EOS, MappedSegment, Walk
from .manifest import ManifestEntry
from .store import Store

CHUNK = 1 << 20
# the core's parser wants room for a record and an end marker after the header
_MIN_BUFFER = files.SEG_HDR_SIZE + 2 * files.REC_HDR_SIZE


def zstd_module(feature: str) -> Any:
    return require("zstandard", feature, "archive")


def sealed_extent(seg: MappedSegment, base_seq: int) -> Walk:
    """Walk a segment's records; a sealed segment ends at WALK_EOS and its
    archived bytes are [0, pos + 32): header, records and the marker."""
    return seg.walk(files.SEG_HDR_SIZE, base_seq)


class ArchivedSegment(MappedSegment):
    """A segment whose bytes were restored from the archive into an anonymous
    mapping: the tools' walk and payload calls work on it unchanged."""

    def __init__(self, entry: ManifestEntry, name: str, mm: mmap.mmap, size: int) -> None:
        self.entry = entry
        self.path = name
        self.mm = mm
        self.size = size
        self._buf = ffi.from_buffer(mm)

    def payload_view(self, offset: int, length: int) -> memoryview:
        """A read-only zero-copy view of a payload; it keeps the memory alive."""
        start = offset + files.REC_HDR_SIZE
        return memoryview(self.mm)[start : start + length].toreadonly()

    def close(self) -> None:
        if self._buf is not None:
            ffi.release(self._buf)
            self._buf = None
            try:
                self.mm.close()
            except BufferError:
                pass  # payloads handed out still use it: freed with the last one


class _HashingReader:
    """Passes reads through, hashing and counting what went by."""

    def __init__(self, src: Any) -> None:
        self.src = src
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.sha.update(data)
        self.size += len(data)
        return bytes(data)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def load_segment(store: Store, entry: ManifestEntry, queue_id: Optional[bytes]) -> ArchivedSegment:
    """Fetch, decompress and check the archived segment of `entry`."""
    zstd = zstd_module("reading an archive")
    name = store.where(entry.object)
    size = max(entry.raw_size, _MIN_BUFFER)

    def corrupt(why: str, offset: Optional[int] = None) -> CorruptQueueError:
        where = name if offset is None else f"{name}:{offset}"
        return CorruptQueueError(f"{where}: {why}", path=name, offset=offset)

    def fetch(stream: Any) -> mmap.mmap:
        src = _HashingReader(stream)
        mm = mmap.mmap(-1, size)
        ok = False
        try:
            got, zerr = 0, None
            view = memoryview(mm)
            try:
                with zstd.ZstdDecompressor().stream_reader(src, read_size=CHUNK, closefd=False) as zr:
                    while got < entry.raw_size:
                        n = zr.readinto(view[got : entry.raw_size])
                        if n == 0:
                            break
                        got += n
                    extra = zr.read(1)
            except zstd.ZstdError as e:
                zerr, extra = e, b""
            finally:
                view.release()
            src.drain()
            if src.size != entry.compressed_size or "sha256:" + src.sha.hexdigest() != entry.checksum:
                raise corrupt(
                    f"object checksum mismatch ({src.size} bytes; the manifest says {entry.compressed_size} "
                    f"bytes with {entry.checksum})"
                )
            if zerr is not None:
                raise corrupt(f"cannot decompress: {zerr}")
            if got != entry.raw_size or extra:
                raise corrupt(f"decompresses to {'more than ' if extra else ''}{got} bytes, expected {entry.raw_size}")
            ok = True
            return mm
        finally:
            if not ok:
                mm.close()

    mm = store.read(entry.object, fetch)
    seg = ArchivedSegment(entry, name, mm, size)
    try:
        _check(seg, entry, queue_id, corrupt)
    except BaseException:
        seg.close()
        raise
    return seg


def _check(seg: ArchivedSegment, entry: ManifestEntry, queue_id: Optional[bytes], corrupt: Any) -> None:
    raw = memoryview(seg.mm)[: entry.raw_size]
    try:
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    finally:
        raw.release()
    if digest != entry.raw_checksum:
        raise corrupt("raw segment checksum mismatch")
    head = bytes(seg.mm[: files.SEG_HDR_SIZE])
    header, problem = files.parse_segment_header(head, entry.segment_size, entry.segment, queue_id)
    if header is None:
        raise corrupt(problem or "invalid segment header", 0)
    if header.base_seq != entry.first_seq:
        raise corrupt(f"segment starts at seq {header.base_seq}, the manifest says {entry.first_seq}", 56)
    w = seg.walk(files.SEG_HDR_SIZE, entry.first_seq)
    if w.end != WALK_EOS:
        why = w.why if w.why else "records do not end with an end-of-segment marker"
        raise corrupt(f"{why} (seq {w.next_seq})", w.pos)
    if w.count != entry.records or w.pos + files.REC_HDR_SIZE != entry.raw_size:
        raise corrupt(f"holds {w.count} records ending at {w.pos}; the manifest says {entry.records}", w.pos)
    if (w.first_ts, w.last_ts) != (entry.first_timestamp_ns, entry.last_timestamp_ns):
        raise corrupt("record timestamps differ from the manifest")
