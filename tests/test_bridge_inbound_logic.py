"""bridge in's decisions, one message at a time, against a stream made up
in memory: append in order, skip duplicates and messages without origin
headers, read held-back messages from the stream, count what the stream
no longer holds. (The real server is in the other bridge tests.)"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import pytest

from chronicle import Queue
from chronicle.bridge import BridgeIn, Report, origin
from chronicle.bridge.wire import headers_for

nats_js_errors = pytest.importorskip("nats.js.errors", reason="needs the 'bridge' extra (nats-py)")

QA = "aa" * 16
QB = "bb" * 16


def stream_msg(stream_seq: int, qid: str, seq: int, data: bytes = b"") -> Tuple[int, Dict[str, str], bytes]:
    return stream_seq, headers_for(qid, seq, seq % 7, 1000 + seq, stream_seq - 1), data or b"p%d" % seq


class FakeStream:
    """get_msg(next_by_subj) over a dict of stream seq -> message."""

    def __init__(self, msgs: List[Tuple[int, Dict[str, str], bytes]]) -> None:
        self.msgs = {s: (h, d) for s, h, d in msgs}
        self.reads: List[int] = []

    async def get_msg(self, stream: str, seq: int, subject: str, next: bool) -> Any:
        found = [s for s in sorted(self.msgs) if s >= seq]
        if not found:
            raise nats_js_errors.NotFoundError(code=404, err_code=10037, description="no message found")
        s = found[0]
        self.reads.append(s)
        h, d = self.msgs[s]
        return SimpleNamespace(seq=s, headers=h, data=d)


def delivered(stream_seq: int, headers: Optional[Dict[str, str]], data: bytes) -> Any:
    meta = SimpleNamespace(sequence=SimpleNamespace(stream=stream_seq), num_pending=0)
    return SimpleNamespace(headers=headers, data=data, metadata=meta, reply=f"$JS.ACK.S.d.1.{stream_seq}.1.0.0")


class Harness:
    def __init__(self, path: str, stream: List[Tuple[int, Dict[str, str], bytes]]) -> None:
        self.events: List[Report] = []
        self.bridge = BridgeIn(path, servers=["nats://127.0.0.1:4222"], stream="S", emit=self.events.append)
        self.bridge._pub = Queue.open_publisher(path, segment_size=1 << 20)
        self.fake = FakeStream(stream)
        self.bridge._js = self.fake
        self.stream = {s: (h, d) for s, h, d in stream}

    def deliver(self, *stream_seqs: int) -> None:
        async def go() -> None:
            for s in stream_seqs:
                h, d = self.stream[s]
                await self.bridge._handle(delivered(s, h, d))

        asyncio.run(go())

    def appended(self) -> List[Tuple[str, int, int, int, bytes]]:
        """(origin queue, origin seq, stream seq, type id, payload) of every record."""
        assert self.bridge._pub is not None
        self.bridge._pub.close()
        with Queue.open_subscriber(self.bridge.queue, "check") as sub:
            out = []
            for m in sub:
                o = origin(m)
                out.append((o.queue_id, o.seq, o.stream_seq, m.type_id, bytes(o.payload)))
            return out


def test_in_order_messages_are_appended_with_their_origin(qdir: str) -> None:
    h = Harness(qdir, [stream_msg(s, QA, s - 1) for s in range(1, 6)])
    h.deliver(1, 2, 3, 4, 5)
    assert h.appended() == [(QA, k, k + 1, k % 7, b"p%d" % k) for k in range(5)]
    assert (h.bridge.appended, h.bridge.duplicates, h.fake.reads) == (5, 0, [])


def test_redelivered_messages_are_skipped_as_duplicates(qdir: str) -> None:
    h = Harness(qdir, [stream_msg(s, QA, s - 1) for s in range(1, 6)])
    h.deliver(1, 2, 3, 2, 3, 4, 1, 5)
    assert [r[1] for r in h.appended()] == [0, 1, 2, 3, 4]
    assert h.bridge.duplicates == 3


def test_held_back_messages_are_read_from_the_stream_first(qdir: str) -> None:
    h = Harness(qdir, [stream_msg(s, QA, s - 1) for s in range(1, 9)])
    h.deliver(1, 2, 6, 7, 3, 4, 5, 8)  # 3..5 pending elsewhere, redelivered late
    assert [r[1] for r in h.appended()] == list(range(8))
    assert h.fake.reads == [3, 4, 5]
    assert (h.bridge.filled, h.bridge.duplicates, h.bridge.gaps) == (3, 3, 0)


def test_seqs_the_stream_lost_are_counted_and_reported(qdir: str) -> None:
    msgs = [stream_msg(s, QA, s - 1) for s in range(1, 8)]
    del msgs[3]  # stream seq 4 (origin seq 3) is gone: deleted, or aged out
    h = Harness(qdir, msgs)
    h.deliver(1, 2, 7)
    assert [r[1] for r in h.appended()] == [0, 1, 2, 4, 5, 6]
    assert h.bridge.gaps == 1
    gaps = [e for e in h.events if e["event"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["missing"] == "3..3"


def test_messages_without_origin_headers_are_skipped_counted_and_reported(qdir: str) -> None:
    bad_seq = headers_for(QA, 0, 1, 5, 0)
    bad_seq["Chronicle-Seq"] = "twelve"
    stream = [stream_msg(1, QA, 0), (2, {}, b"plain"), (3, bad_seq, b"x"), stream_msg(4, QA, 1)]
    h = Harness(qdir, stream)
    h.bridge.stream = "S"
    asyncio.run(h.bridge._handle(delivered(1, stream[0][1], stream[0][2])))
    asyncio.run(h.bridge._handle(delivered(2, None, b"plain")))
    asyncio.run(h.bridge._handle(delivered(3, bad_seq, b"x")))
    asyncio.run(h.bridge._handle(delivered(4, stream[3][1], stream[3][2])))
    assert [r[1] for r in h.appended()] == [0, 1]
    assert h.bridge.skipped == 2
    skipped = [e for e in h.events if e["event"] == "skipped"]
    assert [e["stream_seq"] for e in skipped] == [2, 3]
    assert "no headers" in skipped[0]["reason"] and "unparsable" in skipped[1]["reason"]


def test_a_new_origin_queue_is_followed_and_old_replays_skipped(qdir: str) -> None:
    stream = [stream_msg(1, QA, 0), stream_msg(2, QA, 1), stream_msg(3, QB, 0), stream_msg(4, QB, 1)]
    h = Harness(qdir, stream)
    h.deliver(1, 2, 3, 2, 4)
    assert [(r[0], r[1]) for r in h.appended()] == [(QA, 0), (QA, 1), (QB, 0), (QB, 1)]
    assert h.bridge.duplicates == 1
    assert [e["queue_id"] for e in h.events if e["event"] == "origin"] == [QB]
