"""The formats the bridge defines: the local envelope that carries the
origin into queue B, the origin map of plain mode, and the origin headers
on the stream."""
from __future__ import annotations

from pathlib import Path

import pytest

from chronicle import Queue
from chronicle.bridge import HEADER_SIZE, SeqMap, is_bridged, origin
from chronicle.bridge.envelope import pack_header
from chronicle.bridge.local import last_bridged, queue_identity
from chronicle.bridge.streams import StreamOptions, check_name, subject_matches
from chronicle.bridge.wire import WireOrigin, headers_for, parse_origin

QID = bytes(range(16))


def test_envelope_round_trip_without_copying(qdir: str) -> None:
    body = b"payload bytes"
    with Queue.open_publisher(qdir) as pub:
        pub.append(9, pack_header(QID, 123, -5, 77) + body)
        pub.append(9, b"not bridged")
        assert last_bridged(qdir, pub.next_seq) is None  # the last record is not an envelope
    with Queue.open_subscriber(qdir, "r") as sub:
        m = sub.next()
        assert m is not None
        seq, ts, payload, qid, stream_seq = origin(m)
        assert (seq, ts, bytes(payload), qid, stream_seq) == (123, -5, body, QID.hex(), 77)
        assert isinstance(payload, memoryview) and payload.obj is m.payload.obj  # a view into the segment
        assert is_bridged(m) and origin(bytes(m.payload)).seq == 123
        other = sub.next()
        assert other is not None and not is_bridged(other)
        with pytest.raises(ValueError, match="not a bridged message"):
            origin(other)


def test_last_bridged_reads_the_tail(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        for i in range(3):
            pub.append(1, pack_header(QID, i, 10 * i, 100 + i) + b"x")
        tail = last_bridged(qdir, pub.next_seq)
    assert tail is not None and (tail.seq, tail.stream_seq, tail.queue_id) == (2, 102, QID.hex())
    assert len(queue_identity(qdir)) == 16


def test_envelope_rejects_short_and_foreign_payloads() -> None:
    header = pack_header(QID, 1, 2, 3)
    assert len(header) == HEADER_SIZE == 48
    for bad in (b"", header[:47], b"XXXX" + header[4:], header[:6] + b"\x10\x00" + header[8:]):
        assert not (is_bridged(bad) and _decodes(bad))
    assert origin(header).payload.tobytes() == b""


def _decodes(data: bytes) -> bool:
    try:
        origin(data)
        return True
    except ValueError:
        return False


def test_wire_headers_round_trip_and_bad_ones() -> None:
    h = headers_for(QID.hex(), 5, 65535, -1, 41)
    assert h["Nats-Msg-Id"] == f"{QID.hex()}:5" and h["Nats-Expected-Last-Sequence"] == "41"
    assert parse_origin(h) == WireOrigin(QID.hex(), 5, 65535, -1)
    assert parse_origin(None) == "no headers"
    assert "missing Chronicle-Type" in str(parse_origin({k: v for k, v in h.items() if k != "Chronicle-Type"}))
    assert "bad Chronicle-Queue" in str(parse_origin({**h, "Chronicle-Queue": "xyz"}))
    assert "out-of-range" in str(parse_origin({**h, "Chronicle-Type": "70000"}))


def test_names_subjects_and_options() -> None:
    assert subject_matches("chronicle.S", "chronicle.*") and subject_matches("a.b.c", "a.>")
    assert not subject_matches("a", "a.>") and not subject_matches("a.b", "a.c")
    for bad in ("a.b", "a b", "", "x*", "../s"):
        with pytest.raises(ValueError):
            check_name("stream", bad)
    with pytest.raises(ValueError, match="retention"):
        StreamOptions(retention="forever")


def test_seqmap_later_entries_win_and_torn_ones_are_ignored(tmp_path: Path) -> None:
    m = SeqMap(tmp_path)
    assert m.entries() == [] and m.origin_of(0) is None
    m.record(0, QID, 100)
    m.record(5, QID, 200)  # written, then a crash before the append it describes
    m.record(5, QID, 300)  # the next run's entry for that same record
    with open(m.path, "ab") as f:
        f.write(b"CHBM\x00\x01")  # a torn entry
    entries = m.entries()
    assert len(entries) == 3
    assert m.origin_of(4, entries) == (4, QID.hex(), 104)
    assert m.origin_of(6, entries) == (6, QID.hex(), 301)
    m.record(7, QID, 400)  # realigned after the torn tail
    assert m.origin_of(7) == (7, QID.hex(), 400)
