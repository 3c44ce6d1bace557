"""Helpers for the crash, corruption, stress and property tests.

- deterministic payloads derived from the seq, so a process that only knows
  a seq can check a message's exact bytes;
- an independent reader of the on-disk framing (segment header, record
  headers, end-of-segment markers), written from docs/FORMAT.md and not from
  the C core, used to find record boundaries and to check density;
- child publishers and subscribers that report progress one line at a time.

The tests at the bottom check the framing reader against the C reader.
"""
from __future__ import annotations

import os
import select
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from chronicle import Queue

TESTS_DIR = str(Path(__file__).resolve().parent)

SEG_MAGIC = 0x53514843
SEG_HDR = 64
REC_HDR = 32
COMMIT_MSG = 0x80000000
COMMIT_EOS = 0xFFFFFFFF
SEQ_UNSET = 2**64 - 1
SMALL_SEGMENT = 64 * 1024


def payload_for(seq: int, max_len: int = 1500) -> bytes:
    """The payload of message `seq`: length and content depend on seq only."""
    n = ((seq * 2654435761) >> 5) % max_len
    word = ((seq + 1) * 0x9E3779B97F4A7C15 % 2**64).to_bytes(8, "little")
    return (word * (n // 8 + 1))[:n]


def type_for(seq: int) -> int:
    return (seq * 40503) % 65536


def rec_size(length: int) -> int:
    return REC_HDR + ((length + 7) & ~7)


@dataclass
class Record:
    offset: int
    seq: int
    timestamp_ns: int
    type_id: int
    payload: bytes
    commit: int
    reserved: Tuple[int, int]


@dataclass
class Segment:
    path: Path
    index: int
    size: int
    base_seq: int
    records: List[Record] = field(default_factory=list)
    end: str = "empty"  # "empty", "eos", "bad" or "full": why the walk stopped
    end_offset: int = SEG_HDR


def parse_segment(path: Path) -> Segment:
    """Walk a segment's records by the documented framing (no checksums)."""
    data = path.read_bytes()
    magic, _version, hdr_size, index, size = struct.unpack_from("<IHHQQ", data, 0)
    assert magic == SEG_MAGIC and hdr_size == SEG_HDR, f"{path}: not a segment"
    (base_seq,) = struct.unpack_from("<Q", data, 56)
    seg = Segment(path, index, size, base_seq)
    pos, seq = SEG_HDR, base_seq
    while True:
        seg.end_offset = pos
        if pos + REC_HDR > len(data):
            seg.end = "full"
            return seg
        commit, _crc, rseq, ts, type_id, r16, r32 = struct.unpack_from("<IIQqHHI", data, pos)
        if commit == 0:
            seg.end = "empty"
            return seg
        if commit == COMMIT_EOS:
            seg.end = "eos"
            return seg
        length = commit & 0x7FFFFFFF
        if not commit & COMMIT_MSG or rseq != seq or pos + REC_HDR + length > len(data):
            seg.end = "bad"
            return seg
        body = data[pos + REC_HDR : pos + REC_HDR + length]
        seg.records.append(Record(pos, rseq, ts, type_id, body, commit, (r16, r32)))
        pos += rec_size(length)
        seq += 1


def intact_after_zeroing(seg: Segment, cut: int) -> int:
    """How many of the segment's records survive zeroing every byte from
    `cut` on: those that end before it, or whose bytes from there on were
    zero already. Call it before the damage."""
    data = seg.path.read_bytes()
    n = 0
    for r in seg.records:
        end = r.offset + REC_HDR + len(r.payload)
        if any(data[max(cut, r.offset) : end]):
            break
        n += 1
    return n


def segment_paths(qdir: str) -> List[Path]:
    return sorted(p for p in Path(qdir).iterdir() if p.name.endswith(".seg") and len(p.name) == 24)


def parse_queue(qdir: str) -> List[Segment]:
    return [parse_segment(p) for p in segment_paths(qdir)]


def active_segments(qdir: str) -> List[Segment]:
    return [s for s in parse_queue(qdir) if s.base_seq != SEQ_UNSET]


def check_dense(qdir: str) -> int:
    """Assert the framing of every activated segment is sound and the seqs
    run densely from 0 across them; return the next seq."""
    segs = active_segments(qdir)
    expect = 0
    for i, s in enumerate(segs):
        assert s.base_seq == expect, f"{s.path.name} starts at {s.base_seq}, expected {expect}"
        for r in s.records:
            assert r.offset % 8 == 0 and r.offset + REC_HDR + len(r.payload) <= s.size
            assert r.reserved == (0, 0)
        expect = s.base_seq + len(s.records)
        last = i == len(segs) - 1
        assert s.end == ("empty" if last else "eos"), f"{s.path.name} ends with {s.end}"
    return expect


def write_at(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes in place (never changes the file's size)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, offset) == len(data)
    finally:
        os.close(fd)


def read_all(qdir: str, name: str = "checker") -> List[Tuple[int, int, bytes]]:
    """Every message from the earliest, as (seq, type_id, payload bytes)."""
    with Queue.open_subscriber(qdir, name) as sub:
        return [(m.seq, m.type_id, bytes(m.payload)) for m in sub]


def append_expected(pub: "object", first: int, count: int, max_len: int = 1500) -> None:
    for seq in range(first, first + count):
        assert pub.append(type_for(seq), payload_for(seq, max_len)) == seq  # type: ignore[attr-defined]


class LineReader:
    """Lines from a child's stdout with a deadline on each wait."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.buf = b""
        self.eof = False

    def _fill(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            chunk = os.read(self.fd, 65536)
            self.eof = not chunk
            self.buf += chunk

    def line(self, timeout: float = 10.0) -> Optional[str]:
        """The next full line, or None at end of output. Fails on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"child {self.proc.pid} printed no line within {timeout} s")
            self._fill(left)
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def rest(self, timeout: float = 10.0) -> List[str]:
        """Every remaining full line, up to end of output (after the child died)."""
        out: List[str] = []
        while True:
            line = self.line(timeout)
            if line is None:
                return out
            out.append(line)


# ---- the framing reader agrees with the C reader ---------------------------


def test_framing_reader_matches_subscriber(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        append_expected(pub, 0, 400)
    assert check_dense(qdir) == 400
    framed: Dict[int, Tuple[int, bytes]] = {}
    for seg in active_segments(qdir):
        for r in seg.records:
            framed[r.seq] = (r.type_id, r.payload)
    got = read_all(qdir)
    assert [s for s, _, _ in got] == list(range(400))
    for seq, type_id, payload in got:
        assert framed[seq] == (type_id, payload) == (type_for(seq), payload_for(seq))
