"""Queue A -> bridge out -> JetStream -> bridge in -> queue B: every message
exactly once, in order, with its type id, payload, origin seq and
timestamp; through the Python API and through the command line."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, List

from chronicle import Queue
from chronicle.bridge import BridgeIn, BridgeOut, Report, origin
from chronicle.bridge.local import queue_identity
from chronicle.tools.view import QueueView
from test_bridge_support import (
    Bridges, assert_exactly_once, bridges, count_messages, fill_queue, nats_server, stream_origin_seqs, wait_count,
)

__all__ = ["bridges", "nats_server"]  # fixtures used here

SEGMENT = 1 << 20


def test_api_round_trip_keeps_everything(tmp_path: Path, nats_server: Any) -> None:
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    # edge payloads: empty, one byte, large; type ids at both ends
    special = [(0, b""), (65535, b"x"), (7, bytes(range(256)) * 200)]
    with Queue.open_publisher(a, segment_size=SEGMENT) as pub:
        for t, p in special:
            pub.append(t, p)
        for i in range(3, 2000):
            pub.append(i % 300, i.to_bytes(4, "little") * (i % 9))
    events: List[Report] = []

    async def main() -> None:
        out = BridgeOut(a, servers=[nats_server.url], stream="RT", create=True, window=64,
                        report_every=None, emit=events.append)
        inn = BridgeIn(b, servers=[nats_server.url], stream="RT", create=True, segment_size=SEGMENT,
                       report_every=None, emit=events.append)  # both may create it: the same config
        tasks = [asyncio.ensure_future(out.run()), asyncio.ensure_future(inn.run())]
        with Queue.open_subscriber(b, "check") as sub:
            got = 0
            deadline = time.monotonic() + 60
            while got < 2000:
                assert time.monotonic() < deadline, f"only {got} messages reached B"
                await sub.wait_async(0.2)
                got += len(list(sub))
                for t in tasks:
                    if t.done():
                        t.result()  # an early exit is an error
            # more arrive only if something was doubled: append a marker and wait for it
            with Queue.open_publisher(a) as pub:
                pub.append(1, b"end")
            assert await sub.wait_async(30)
            extra = list(sub)
            assert [bytes(origin(m).payload) for m in extra] == [b"end"]
        out.stop()
        inn.stop()
        await asyncio.gather(*tasks)
        assert (out.acked, inn.appended, inn.duplicates) == (2001, 2001, 0)

    asyncio.run(asyncio.wait_for(main(), 90))
    assert_exactly_once(a, b, 2001)
    names = [(e["bridge"], e["event"]) for e in events]
    assert ("out", "ready") in names and ("in", "ready") in names
    assert ("out", "stopped") in names and ("in", "stopped") in names
    # the stream holds each message once, in order
    assert stream_origin_seqs([nats_server.url], "RT") == list(range(2001))
    # bridge out committed its position: everything was acknowledged
    readers = {r.name: r for r in QueueView(a).readers()}
    assert readers["bridge-RT"].next_seq == 2001


def test_origin_decodes_the_envelope(tmp_path: Path, nats_server: Any, bridges: Bridges) -> None:
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    with Queue.open_publisher(a, segment_size=SEGMENT) as pub:
        pub.append(42, b"hello")
    with Queue.open_subscriber(a, "peek") as sub:
        sent = sub.next()
        assert sent is not None
        sent_ts = sent.timestamp_ns
    out = bridges.out(a, nats_server.url, "ENV", "--create")
    inn = bridges.into(b, nats_server.url, "ENV", "--segment-size", "1M")
    wait_count(b, 1, 30, alive=[out, inn])
    with Queue.open_subscriber(b, "reader") as sub:
        m = sub.next()
        assert m is not None
        seq, ts, payload, qid, stream_seq = origin(m)
        assert (m.type_id, seq, ts, bytes(payload), qid, stream_seq) == (
            42, 0, sent_ts, b"hello", queue_identity(a).hex(), 1)
        assert m.seq == 0 and m.timestamp_ns >= ts  # B's own seq and clock
    out.stop()
    inn.stop()


def test_cli_round_trip_while_appending(tmp_path: Path, nats_server: Any, bridges: Bridges) -> None:
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    fill_queue(a, 500)
    out = bridges.out(a, nats_server.url, "CLI", "--create", "--window", "100")
    inn = bridges.into(b, nats_server.url, "CLI", "--segment-size", "1M")
    fill_queue(a, 1500, start=500)  # appended while both run
    wait_count(b, 2000, 60, alive=[out, inn])
    stopped_out = out.stop()
    stopped_in = inn.stop()
    assert stopped_out["acked"] == 2000 and stopped_out["next_seq"] == 2000
    assert stopped_in["appended"] == 2000 and stopped_in["origin_seq"] == 1999
    progress = [e for e in out.events + inn.events if e["event"] == "progress"]
    assert all("rate" in e and "lag" in e for e in progress)
    assert_exactly_once(a, b, 2000)
    # restarting both moves nothing: all was committed and appended
    out2 = bridges.out(a, nats_server.url, "CLI")
    inn2 = bridges.into(b, nats_server.url, "CLI")
    assert out2.events[-1]["next_seq"] == 2000
    assert inn2.events[-1]["origin_seq"] == 1999
    assert out2.stop()["acked"] == 0
    assert inn2.stop()["appended"] == 0
    assert count_messages(b) == 2000
    assert os.path.exists(os.path.join(a, "readers", "bridge-CLI.pos"))
