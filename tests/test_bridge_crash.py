"""kill -9 of bridge out and of bridge in at random moments while a
publisher keeps appending: afterwards queue B holds every message exactly
once, in order, and the stream holds each once too."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from chronicle.tools.view import QueueView
from test_bridge_support import (
    Bridge, Bridges, Feeder, assert_exactly_once, bridges, last_origin_on_stream, nats_server,
    stream_origin_seqs, wait_consumer_done, wait_count,
)

__all__ = ["bridges", "nats_server"]

N = 6000
KILLS_EACH = 10


def _committed(queue: str, reader: str) -> int:
    for r in QueueView(queue).readers():
        if r.name == reader:
            return r.position.next_seq if r.position is not None else 0
    return 0


def test_kill_9_bridges_at_random_moments(tmp_path: Path, nats_server: Any, bridges: Bridges) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    url = nats_server.url
    feeder = Feeder(a, N, per_tick=6, tick_s=0.01).start()  # ~600 msg/s for ~10 s
    try:
        out = bridges.out(a, url, "CRASH", "--create", "--window", "64")
        inn = bridges.into(b, url, "CRASH", "--segment-size", "1M", "--durable", "crash", "--batch", "64")
        kills = {"out": 0, "in": 0}
        for round_ in range(2 * KILLS_EACH):
            victim = "out" if round_ % 2 == 0 else "in"
            time.sleep(rng.uniform(0.0, 0.4))  # a random moment in its work
            if victim == "out":
                out.kill()
                # its committed position never passes what the stream acknowledged
                on_stream = last_origin_on_stream([url], "CRASH", "chronicle.CRASH")
                committed = _committed(a, "bridge-CRASH")
                assert committed <= (on_stream + 1 if on_stream is not None else 0), (seed, committed, on_stream)
                out = bridges.out(a, url, "CRASH", "--window", "64", wait=rng.random() > 0.2)
            else:
                inn.kill()
                inn = bridges.into(b, url, "CRASH", "--segment-size", "1M", "--durable", "crash", "--batch", "64",
                                   wait=rng.random() > 0.2)
            kills[victim] += 1
        feeder.join(60)
    finally:
        feeder.stop()
    assert kills == {"out": KILLS_EACH, "in": KILLS_EACH}
    _ready(out)
    _ready(inn)
    wait_count(b, N, 90, alive=[out, inn])
    out.stop()
    wait_consumer_done([url], "CRASH", "crash")
    inn.stop()
    assert_exactly_once(a, b, N)
    assert stream_origin_seqs([url], "CRASH") == list(range(N)), f"seed {seed}"


def _ready(b: Bridge) -> None:
    if not any(e["event"] == "ready" for e in b.events):
        b.wait_event("ready")
