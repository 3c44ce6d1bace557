"""bridge in --plain: payloads arrive unchanged, so fixed-layout readers
(the bus's Tick) decode a bridged queue as a local one; the origin map
beside the queue keeps each record's origin seq, also across kill -9."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, List

from chronicle import Queue
from chronicle.bridge import SeqMap, is_bridged
from chronicle.bridge.local import queue_identity
from chronicle.messages import Tick
from test_bridge_support import Bridges, Feeder, bridges, nats_server, read_a, wait_consumer_done, wait_count

__all__ = ["bridges", "nats_server"]

PLAIN = ("--plain", "--segment-size", "1M", "--durable", "plain", "--batch", "32")


def test_plain_payloads_decode_as_local_ones(tmp_path: Path, nats_server: Any, bridges: Bridges) -> None:
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    with Queue.open_publisher(a, segment_size=1 << 20) as pub:
        for i in range(50):
            pub.append(Tick.type_id, Tick.encode(ts_ns=i, symbol="BTC", price=100.0 + i, size=1.0))
    out = bridges.out(a, nats_server.url, "TICKS", "--create")
    inn = bridges.into(b, nats_server.url, "TICKS", *PLAIN)
    wait_count(b, 50, 30, alive=[out, inn])
    with Queue.open_subscriber(b, "strategy") as sub:
        ticks = [Tick.decode_message(m) for m in sub]
    assert [(t.ts_ns, t.symbol, t.price) for t in ticks] == [(i, "BTC", 100.0 + i) for i in range(50)]
    out.stop()
    inn.stop()


def test_plain_mode_survives_kill_9_of_bridge_in(tmp_path: Path, nats_server: Any, bridges: Bridges) -> None:
    rng = random.Random()
    n = 2000
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    url = nats_server.url
    feeder = Feeder(a, n, per_tick=10, tick_s=0.01).start()
    try:
        out = bridges.out(a, url, "PLN", "--create", "--window", "64")
        inn = bridges.into(b, url, "PLN", *PLAIN)
        for _ in range(5):
            time.sleep(rng.uniform(0.0, 0.3))  # a random moment
            inn.kill()
            inn = bridges.into(b, url, "PLN", *PLAIN)
        feeder.join(60)
    finally:
        feeder.stop()
    wait_count(b, n, 60, alive=[out, inn])
    out.stop()
    wait_consumer_done([url], "PLN", "plain")
    inn.stop()
    sent = read_a(a)
    with Queue.open_subscriber(b, "check") as sub:
        got: List[Any] = [(m.type_id, bytes(m.payload)) for m in sub]
    assert got == [(t, p) for _, _, t, p in sent]  # once each, in order, unchanged
    assert not any(is_bridged(p) for _, p in got)
    seqmap = SeqMap(b)
    entries = seqmap.entries()
    qid = queue_identity(a).hex()
    for local in range(n):
        e = seqmap.origin_of(local, entries)
        assert e is not None and (e.queue_id, e.origin_seq) == (qid, local)
