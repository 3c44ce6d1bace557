"""Property-based tests of the record framing and of tail recovery, over
random payload sizes, type ids and crash points (hypothesis)."""
from __future__ import annotations

import random
import tempfile
import warnings
from pathlib import Path
from typing import List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_crash_support import (
    REC_HDR,
    SEG_HDR,
    SMALL_SEGMENT,
    active_segments,
    check_dense,
    intact_after_zeroing,
    rec_size,
    write_at,
)

from chronicle import CorruptQueueError, MessageTooLargeError, Queue, RecoveryWarning
from chronicle._binding import ffi, lib

MAX_PAYLOAD = SMALL_SEGMENT - SEG_HDR - 2 * REC_HDR  # record + end marker fit

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.one_of(
    st.integers(0, 3000),
    st.sampled_from([0, 1, 7, 8, 9, 31, 32, 33, MAX_PAYLOAD - 1, MAX_PAYLOAD]),
)
messages = st.lists(st.tuples(st.integers(0, 65535), sizes, st.integers(0, 2**32)), min_size=1, max_size=80)


def make_payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def write_queue(q: str, msgs: List[Tuple[int, int, int]]) -> List[Tuple[int, bytes]]:
    written = []
    with Queue.open_publisher(q, segment_size=SMALL_SEGMENT) as pub:
        assert pub.max_payload == MAX_PAYLOAD
        for i, (type_id, size, seed) in enumerate(msgs):
            payload = make_payload(size, seed)
            assert pub.append(type_id, payload) == i
            written.append((type_id, payload))
    return written


@FAST
@given(msgs=messages, seek_at=st.integers(0, 10**6))
def test_framing_round_trip(msgs: List[Tuple[int, int, int]], seek_at: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        q = str(Path(d) / "queue")
        written = write_queue(q, msgs)
        with Queue.open_publisher(q) as pub:
            with pytest.raises(MessageTooLargeError):
                pub.append(1, bytes(MAX_PAYLOAD + 1))
            assert pub.next_seq == len(written)  # the refused append wrote nothing
        # the documented layout, byte by byte
        assert check_dense(q) == len(written)
        last_ts = 0
        for seg in active_segments(q):
            for r in seg.records:
                assert (r.type_id, r.payload) == written[r.seq]
                assert r.commit == 0x80000000 | len(r.payload)
                # never straddles, and leaves room for the end marker
                assert r.offset + rec_size(len(r.payload)) <= seg.size - REC_HDR
                assert r.timestamp_ns >= last_ts
                last_ts = r.timestamp_ns
        # and what a reader returns
        with Queue.open_subscriber(q, "r") as sub:
            got = [(m.seq, m.type_id, bytes(m.payload)) for m in sub]
            assert got == [(i, t, p) for i, (t, p) in enumerate(written)]
            start = seek_at % len(written)
            sub.seek(start)
            assert [m.seq for m in sub] == list(range(start, len(written)))


CRASHES = ["torn", "garbage", "zeroed", "roll", "rolled"]


@FAST
@given(
    msgs=messages,
    crash=st.sampled_from(CRASHES),
    point=st.integers(0, 10**6),
    noise_seed=st.integers(0, 2**32),
)
def test_recovery_after_crash(
    msgs: List[Tuple[int, int, int]], crash: str, point: int, noise_seed: int
) -> None:
    rng = random.Random(noise_seed)
    with tempfile.TemporaryDirectory() as d:
        q = str(Path(d) / "queue")
        written = write_queue(q, msgs)
        segs = active_segments(q)
        last = segs[-1]
        recs = last.records
        path = last.path
        if crash in ("roll", "rolled") and len(segs) < 2:
            crash = "torn"
        if crash == "torn":
            # died inside the append of record k: commit word still zero,
            # any prefix of the rest written, nothing after it
            k = point % (len(recs) + 1)
            at = recs[k].offset if k < len(recs) else last.end_offset
            if k < len(recs):
                full = path.read_bytes()[at : at + rec_size(len(recs[k].payload))]
            else:
                full = rng.randbytes(64)
            write_at(path, at, bytes(SMALL_SEGMENT - at))
            cut = rng.randrange(4, max(5, min(len(full), SMALL_SEGMENT - at)))
            write_at(path, at + 4, full[4:cut])
            expect = last.base_seq + k
        elif crash == "garbage":
            # a torn page: random bytes from somewhere at or past the tail
            k = point % (len(recs) + 1)
            at = recs[k].offset if k < len(recs) else last.end_offset
            write_at(path, at, bytes(SMALL_SEGMENT - at))
            start = at + rng.choice([0, 0, 4, 8 * rng.randrange(1, 64)])
            if start < SMALL_SEGMENT:
                write_at(path, start, rng.randbytes(min(rng.randrange(1, 8192), SMALL_SEGMENT - start)))
            expect = last.base_seq + k
        elif crash == "zeroed":
            # lost pages: zeros from an arbitrary byte on
            cut = SEG_HDR + point % (last.end_offset - SEG_HDR + 1)
            expect = last.base_seq + intact_after_zeroing(last, cut)
            write_at(path, cut, bytes(SMALL_SEGMENT - cut))
        else:
            # died inside a roll ("roll": the new segment active, the old one
            # not sealed yet) or right after it ("rolled": sealed, nothing
            # appended to the new one)
            write_at(path, SEG_HDR, bytes(SMALL_SEGMENT - SEG_HDR))
            prev = segs[-2]
            if crash == "roll":
                write_at(prev.path, prev.end_offset, bytes(4))
            expect = last.base_seq

        live = Queue.open_subscriber(q, "live")  # open across the takeover
        with live:
            seen = drain(live, written, expect)
            assert seen == expect, f"{crash}: read {seen} intact messages, expected {expect}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RecoveryWarning)
                pub = Queue.open_publisher(q)
            with pub:
                assert pub.next_seq == expect, crash
                for i in range(3):
                    assert pub.append(7, b"new%d" % i) == expect + i
            # the same subscriber continues without reopening
            for i in range(3):
                assert live.wait(timeout=5), f"{crash}: stalled at {live.next_seq}"
                m = live.next()
                assert m is not None and m.seq == expect + i and bytes(m.payload) == b"new%d" % i
            assert live.next() is None
        assert check_dense(q) == expect + 3


def drain(sub: "object", written: List[Tuple[int, bytes]], limit: int) -> int:
    """Read what the damaged queue offers (dead publisher): only intact
    messages, in order, then None or CorruptQueueError. Returns the count."""
    n = 0
    while True:
        try:
            m = sub.next()  # type: ignore[attr-defined]
        except CorruptQueueError:
            return n
        if m is None:
            return n
        assert m.seq == n and n < limit, f"returned seq {m.seq} past the intact records"
        assert (m.type_id, bytes(m.payload)) == written[m.seq]
        n += 1


@FAST
@given(a=st.binary(max_size=300), b=st.binary(max_size=300))
def test_crc32c_continues(a: bytes, b: bytes) -> None:
    whole = lib.chron_crc32c(0, ffi.from_buffer(a + b), len(a + b))
    assert lib.chron_crc32c(lib.chron_crc32c(0, ffi.from_buffer(a), len(a)), ffi.from_buffer(b), len(b)) == whole


def test_crc32c_check_value() -> None:
    data = b"123456789"
    assert lib.chron_crc32c(0, data, len(data)) == 0xE3069283  # the CRC-32C check value
