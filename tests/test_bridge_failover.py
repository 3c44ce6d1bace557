"""The NATS side failing under the bridges: a single server killed and
restarted mid-stream, and a node of a 3-node JetStream cluster killed
mid-stream (stream with 3 replicas). Both bridges ride it out, and queue B
ends with every message exactly once."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List

from chronicle.bridge.local_server import NatsServer, start_cluster
from test_bridge_support import (
    Bridges, Feeder, assert_exactly_once, bridges, nats_server, require_server_binary, stream_origin_seqs,
    wait_consumer_done, wait_count,
)

__all__ = ["bridges", "nats_server"]


def test_server_killed_and_restarted_mid_stream(tmp_path: Path, nats_server: NatsServer, bridges: Bridges) -> None:
    n = 4000
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    url = nats_server.url
    feeder = Feeder(a, n, per_tick=8, tick_s=0.01).start()
    try:
        out = bridges.out(a, url, "RST", "--create", "--window", "128")
        inn = bridges.into(b, url, "RST", "--segment-size", "1M", "--durable", "rst")
        for at in (1000, 2500):
            wait_count(b, at, 60, alive=[out, inn])
            nats_server.kill()  # mid-stream: the feeder and both bridges go on
            nats_server.start()
        feeder.join(60)
    finally:
        feeder.stop()
    wait_count(b, n, 90, alive=[out, inn])
    out.stop()
    wait_consumer_done([url], "RST", "rst")
    inn.stop()
    assert_exactly_once(a, b, n)
    assert stream_origin_seqs([url], "RST") == list(range(n))


def _stream_leader(urls: List[str], stream: str) -> str:
    async def body() -> str:
        import nats

        nc = await nats.connect(servers=urls, connect_timeout=5)
        try:
            info = await nc.jetstream(timeout=10).stream_info(stream)
            return str(info.cluster.leader)
        finally:
            await nc.close()

    return asyncio.run(asyncio.wait_for(body(), 30))


def test_cluster_node_killed_mid_stream(tmp_path: Path, bridges: Bridges) -> None:
    require_server_binary()
    nodes = start_cluster(tmp_path / "cluster", 3)
    try:
        urls = [node.url for node in nodes]
        servers = ",".join(urls)
        n = 3000
        a, b = str(tmp_path / "A"), str(tmp_path / "B")
        feeder = Feeder(a, n, per_tick=8, tick_s=0.01).start()
        try:
            out = bridges.out(a, servers, "CLU", "--create", "--replicas", "3", "--window", "128",
                              "--ack-timeout", "1")
            inn = bridges.into(b, servers, "CLU", "--segment-size", "1M", "--durable", "clu")
            wait_count(b, 800, 60, alive=[out, inn])
            leader = _stream_leader(urls, "CLU")
            victim = next(node for node in nodes if node.name == leader)
            victim.kill()  # the stream's leader: a new one is elected among the other two
            feeder.join(60)
        finally:
            feeder.stop()
        survivors = [node.url for node in nodes if node is not victim]
        wait_count(b, n, 90, alive=[out, inn])
        out.stop()
        wait_consumer_done(survivors, "CLU", "clu")
        inn.stop()
        assert_exactly_once(a, b, n)
        assert stream_origin_seqs(survivors, "CLU") == list(range(n))
    finally:
        for node in nodes:
            node.kill()

