"""The files of a queue directory, parsed byte by byte as csrc/format.h lays
them out (docs/FORMAT.md). Pure functions over bytes: no file is changed.

Every check here mirrors the core's (chron_meta_check, chron_seg_hdr_check,
chron_pos_best), so the tools judge a file exactly as a publisher or a
subscriber would.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .._binding import ffi, lib

FORMAT_VERSION = 1
META_MAGIC = 0x4D514843  # "CHQM"
SEG_MAGIC = 0x53514843  # "CHQS"
POS_MAGIC = 0x50514843  # "CHQP"
LOCK_MAGIC = 0x4C514843  # "CHQL"

META_FILE = "queue.meta"
LOCK_FILE = "writer.lock"
READERS_DIR = "readers"
SEG_SUFFIX = ".seg"
POS_SUFFIX = ".pos"
SEG_NAME = re.compile(r"^([0-9]{20})\.seg$")

META_SIZE = 4096
SEG_HDR_SIZE = 64
REC_HDR_SIZE = 32
REC_ALIGN = 8
POS_FILE_SIZE = 192
SEQ_UNSET = 2**64 - 1
MIN_SEGMENT_SIZE = int(lib.CHRON_MIN_SEGMENT_SIZE)
MAX_SEGMENT_SIZE = int(lib.CHRON_MAX_SEGMENT_SIZE)
COMMIT_EOS = 0xFFFFFFFF
MAX_BASE_SEQ = 1 << 62  # CHRON_MAX_BASE_SEQ: seqs stay far below INT64_MAX
BASE_OUT_OF_RANGE = "base seq out of range"

# magic, version, header_size, queue_id, created_ns, file_mode, reserved0[6], header_crc
_META_HEAD = struct.Struct("<IHH16sqI24xI")
_META_SEGMENT_SIZE = struct.Struct("<Q")  # at 64
_META_WRITER = struct.Struct("<qQ")  # writer_pid, writer_epoch at 320
# magic, version, header_size, index, segment_size, queue_id, created_ns, reserved, header_crc, base_seq
_SEG_HDR = struct.Struct("<IHHQQ16sqIIQ")
# commit, crc, seq, timestamp_ns, type_id, reserved16, reserved32
REC_HDR = struct.Struct("<IIQqHHI")
# magic, version, header_size, created_ns, pid
_POS_HEAD = struct.Struct("<IHHqq")
# generation, next_seq, segment, offset, committed_ns, reserved, crc
_POS_SLOT = struct.Struct("<QQQQqII")
_POS_SLOT_CRC_LEN = 44
# magic, version, size, pid, since_ns, reserved
LOCK_REC = struct.Struct("<IHHqqQ")

assert _META_HEAD.size == 64 and _SEG_HDR.size == SEG_HDR_SIZE and REC_HDR.size == REC_HDR_SIZE
assert _POS_SLOT.size == 48 and LOCK_REC.size == 32


def crc32c(data: bytes) -> int:
    """CRC32C as the core computes header checksums (chron_crc32c from 0)."""
    return int(lib.chron_crc32c(0, ffi.from_buffer(data), len(data)))


def seg_name(index: int) -> str:
    return f"{index:020d}{SEG_SUFFIX}"


def rec_size(length: int) -> int:
    """Bytes a record with a payload of `length` bytes occupies."""
    return REC_HDR_SIZE + ((length + REC_ALIGN - 1) & ~(REC_ALIGN - 1))


def segment_size_problem(size: int) -> Optional[str]:
    """Why a file of `size` bytes cannot be a segment (the core will not map it)."""
    if size < MIN_SEGMENT_SIZE or size > MAX_SEGMENT_SIZE or size % 4096:
        return f"file size {size} is not a valid segment size"
    return None


@dataclass(frozen=True)
class Meta:
    """The header and shared state of queue.meta."""

    queue_id: bytes
    created_ns: int
    file_mode: int
    segment_size: int  # 0 until the first publisher fixed it
    writer_pid: int  # of the last publisher (informational)
    writer_epoch: int  # publisher opens so far


class MetaError(ValueError):
    """queue.meta does not hold a valid header; `unknown_version` tells why."""

    def __init__(self, message: str, unknown_version: bool = False) -> None:
        super().__init__(message)
        self.unknown_version = unknown_version


def parse_meta(data: bytes) -> Meta:
    """Parse queue.meta; raises MetaError with the core's wording."""
    if len(data) < META_SIZE:
        raise MetaError(f"file is {len(data)} bytes, shorter than the {META_SIZE}-byte meta header")
    magic, version, header_size, queue_id, created_ns, file_mode, header_crc = _META_HEAD.unpack_from(data)
    if magic != META_MAGIC:
        raise MetaError("bad magic (not a Chronicle queue.meta)")
    if version != FORMAT_VERSION:
        raise MetaError(f"unknown format version {version}", unknown_version=True)
    if header_size != META_SIZE:
        raise MetaError("bad header size")
    if crc32c(data[:60]) != header_crc:
        raise MetaError("meta header checksum mismatch")
    (segment_size,) = _META_SEGMENT_SIZE.unpack_from(data, 64)
    if segment_size and segment_size_problem(segment_size):
        raise MetaError("segment size out of range")
    writer_pid, writer_epoch = _META_WRITER.unpack_from(data, 320)
    return Meta(queue_id, created_ns, file_mode, segment_size, writer_pid, writer_epoch)


@dataclass(frozen=True)
class SegmentHeader:
    index: int
    segment_size: int
    queue_id: bytes
    created_ns: int
    base_seq: int  # SEQ_UNSET while prepared ahead and not in use


def parse_segment_header(
    data: bytes, file_size: int, index: int, queue_id: Optional[bytes]
) -> Tuple[Optional[SegmentHeader], Optional[str]]:
    """The header of segment `index` (a file of `file_size` bytes), or why it
    is invalid. `data` holds at least the file's first 64 bytes. A base seq
    out of range is reported with the header, which is otherwise valid."""
    problem = segment_size_problem(file_size)
    if problem:
        return None, problem
    if len(data) < SEG_HDR_SIZE:
        return None, "file shorter than the segment header"
    magic, version, header_size, idx, size, qid, created_ns, _res, crc, base = _SEG_HDR.unpack_from(data)
    if magic != SEG_MAGIC:
        return None, "bad magic (not a Chronicle segment)"
    if version != FORMAT_VERSION:
        return None, f"unknown format version {version}"
    if header_size != SEG_HDR_SIZE:
        return None, "bad header size"
    if crc32c(data[:52]) != crc:
        return None, "segment header checksum mismatch"
    if size != file_size:
        return None, "file size differs from the header's segment size"
    if queue_id is not None and qid != queue_id:
        return None, "segment belongs to another queue"
    if idx != index:
        return None, "segment index differs from its file name"
    header = SegmentHeader(idx, size, qid, created_ns, base)
    if base != SEQ_UNSET and base > MAX_BASE_SEQ:
        return header, BASE_OUT_OF_RANGE  # the rest of the header is sound
    return header, None


@dataclass(frozen=True)
class Position:
    """The newest valid slot of a reader's position file."""

    generation: int
    next_seq: int
    segment: int
    offset: int
    committed_ns: int


@dataclass(frozen=True)
class PositionFile:
    created_ns: int
    pid: int  # of the last process that opened the reader
    position: Optional[Position]  # None: nothing committed yet
    torn_slots: int  # slots written at least once whose checksum fails


def parse_position_file(data: bytes) -> PositionFile:
    """Parse readers/<name>.pos; raises ValueError naming what is wrong."""
    if len(data) < POS_FILE_SIZE:
        raise ValueError(f"position file is {len(data)} bytes, expected {POS_FILE_SIZE}")
    magic, version, header_size, created_ns, pid = _POS_HEAD.unpack_from(data)
    if magic != POS_MAGIC:
        raise ValueError("bad magic (not a Chronicle position file)")
    if version != FORMAT_VERSION:
        raise ValueError(f"unknown format version {version}")
    if header_size != POS_FILE_SIZE:
        raise ValueError("bad header size")
    best: Optional[Position] = None
    torn = 0
    for off in (64, 128):
        gen, nxt, seg, pos, committed, _res, crc = _POS_SLOT.unpack_from(data, off)
        if gen == 0:
            continue
        if crc32c(data[off : off + _POS_SLOT_CRC_LEN]) != crc:
            torn += 1
            continue
        if best is None or gen > best.generation:
            best = Position(gen, nxt, seg, pos, committed)
    return PositionFile(created_ns, pid, best, torn)


def position_slot(generation: int, next_seq: int, segment: int, offset: int, committed_ns: int) -> bytes:
    """One checksummed 64-byte position slot, as chron_pos_commit writes it."""
    head = _POS_SLOT.pack(generation, next_seq, segment, offset, committed_ns, 0, 0)[:_POS_SLOT_CRC_LEN]
    return head + struct.pack("<I", crc32c(head)) + bytes(16)


def list_segment_files(path: str) -> List[Tuple[int, str]]:
    """(index, file name) of each segment file in the queue, ascending."""
    found = []
    for name in os.listdir(path):
        m = SEG_NAME.match(name)
        if m:
            found.append((int(m.group(1)), name))
    found.sort()
    return found


def flock_holders() -> Optional[Dict[Tuple[int, int, int], int]]:
    """{(major, minor, inode): pid} of the flock locks held on this host, from
    /proc/locks (Linux); None where that is not available. Reading it takes no
    lock, so asking never disturbs a process that opens a queue meanwhile."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    held: Dict[Tuple[int, int, int], int] = {}
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":  # "->" marks a blocked waiter
            continue
        try:
            pid = int(parts[4])
            major, minor, inode = parts[5].split(":")
            held[(int(major, 16), int(minor, 16), int(inode))] = pid
        except ValueError:
            continue
    return held
