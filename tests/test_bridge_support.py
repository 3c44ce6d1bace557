"""Helpers of the bridge tests (no tests here): bridge processes run
through the command line, a paced publisher, and views of queue B and of
the stream through nats-py."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from chronicle import Queue
from chronicle.bridge import origin
from conftest import ROOT, child_env, read_line

pytest.importorskip("nats", reason="the bridge tests need the 'bridge' extra (nats-py)")

from chronicle.bridge.local_server import NatsServer, find_server_binary  # noqa: E402


def require_server_binary() -> None:
    try:
        find_server_binary()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def payload_of(i: int) -> bytes:
    """A payload that names its message, of a size that varies with it."""
    return (b"%08d:" % i) * (1 + i % 5)


def type_of(i: int) -> int:
    return (i * 7919) % 65536


class Bridge:
    """One ``chronicle bridge out|in`` process printing JSON lines."""

    def __init__(self, direction: str, args: Sequence[str]) -> None:
        self.direction = direction
        cmd = [sys.executable, "-m", "chronicle", "bridge", direction, *args, "--json"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), cwd=ROOT)
        self.events: List[Dict[str, Any]] = []

    def next_event(self, timeout: float = 30.0) -> Dict[str, Any]:
        line = read_line(self.proc, timeout)
        ev = json.loads(line)
        self.events.append(ev)
        return ev

    def wait_event(self, name: str, timeout: float = 30.0) -> Dict[str, Any]:
        """The next event called ``name`` (others are kept in .events)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"bridge {self.direction}: no {name!r} event within {timeout} s")
            ev = self.next_event(left)
            if ev["event"] == name:
                return ev

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close_pipes()

    def stop(self, timeout: float = 20.0) -> Dict[str, Any]:
        """SIGTERM; returns its 'stopped' event and checks it exited 0."""
        self.proc.send_signal(signal.SIGTERM)
        ev = self.wait_event("stopped", timeout)
        assert self.proc.wait(timeout) == 0, self.stderr()
        self._close_pipes()
        return ev

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None or self.proc.stderr.closed:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def _close_pipes(self) -> None:
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None and not f.closed:
                f.close()


class Bridges:
    """Starts bridges for a test and kills whatever is left at teardown."""

    def __init__(self) -> None:
        self.all: List[Bridge] = []

    def out(self, queue: str, url: str, stream: str, *extra: str, wait: bool = True) -> Bridge:
        b = Bridge("out", [queue, "--nats", url, "--stream", stream, "--report-every", "0.5", *extra])
        self.all.append(b)
        if wait:
            b.wait_event("ready")
        return b

    def into(self, queue: str, url: str, stream: str, *extra: str, wait: bool = True) -> Bridge:
        b = Bridge("in", ["--to", queue, "--nats", url, "--stream", stream, "--report-every", "0.5", *extra])
        self.all.append(b)
        if wait:
            b.wait_event("ready")
        return b

    def close(self) -> None:
        for b in self.all:
            if b.alive():
                b.kill()
            b._close_pipes()


@pytest.fixture
def bridges() -> Iterator[Bridges]:
    b = Bridges()
    yield b
    b.close()


@pytest.fixture
def nats_server(tmp_path: Any) -> Iterator[NatsServer]:
    """A fresh single nats-server with JetStream, stopped after the test."""
    require_server_binary()
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.kill()


class Feeder:
    """Appends messages 0..n-1 to a queue from a thread, a few at a time,
    so that the bridges work while it goes on."""

    def __init__(self, queue: str, n: int, per_tick: int = 20, tick_s: float = 0.005) -> None:
        self.queue, self.n, self.per_tick, self.tick_s = queue, n, per_tick, tick_s
        self.appended = 0
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Feeder":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with Queue.open_publisher(self.queue, segment_size=256 * 1024) as pub:
                while self.appended < self.n and not self._stop.is_set():
                    for _ in range(min(self.per_tick, self.n - self.appended)):
                        i = self.appended
                        assert pub.append(type_of(i), payload_of(i)) == i
                        self.appended += 1
                    self._stop.wait(self.tick_s)
        except BaseException as e:  # reported by join()
            self.error = e

    def join(self, timeout: float = 60.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "feeder did not finish"
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def fill_queue(queue: str, n: int, start: int = 0) -> None:
    with Queue.open_publisher(queue, segment_size=256 * 1024) as pub:
        for i in range(start, start + n):
            assert pub.append(type_of(i), payload_of(i)) == i


def count_messages(queue: str) -> int:
    """Messages in a queue (0 if it does not exist yet)."""
    if not os.path.exists(os.path.join(queue, "queue.meta")):
        return 0
    from chronicle.tools.view import QueueView

    return QueueView(queue).bounds().end_seq


def wait_count(queue: str, n: int, timeout: float = 60.0, alive: Sequence[Bridge] = ()) -> None:
    """Wait until the queue holds at least ``n`` messages (bounded)."""
    deadline = time.monotonic() + timeout
    with Queue.open_subscriber(queue, "test-watch", start="latest") as sub:
        while count_messages(queue) < n:
            for b in alive:
                assert b.alive(), f"bridge {b.direction} exited {b.proc.poll()}: {b.stderr()[-2000:]}"
            if time.monotonic() > deadline:
                pytest.fail(f"{queue} holds {count_messages(queue)} of {n} messages after {timeout} s")
            sub.wait(0.2)
            for _ in sub:
                pass


def read_b(queue: str) -> List[Tuple[int, int, int, bytes, str]]:
    """Every message of queue B as (origin seq, origin ts, type id, payload, origin queue id)."""
    out = []
    with Queue.open_subscriber(queue, "test-read-all") as sub:
        for m in sub:
            o = origin(m)
            out.append((o.seq, o.timestamp_ns, m.type_id, bytes(o.payload), o.queue_id))
    return out


def read_a(queue: str) -> List[Tuple[int, int, int, bytes]]:
    """Every message of queue A as (seq, timestamp, type id, payload)."""
    with Queue.open_subscriber(queue, "test-read-a") as sub:
        return [(m.seq, m.timestamp_ns, m.type_id, bytes(m.payload)) for m in sub]


def assert_exactly_once(a_queue: str, b_queue: str, n: int) -> None:
    """Queue B holds each of A's n messages once, in order, with type id,
    payload, origin seq and origin timestamp."""
    from chronicle.bridge.local import queue_identity

    a = read_a(a_queue)
    b = read_b(b_queue)
    assert len(a) == n
    seqs = [m[0] for m in b]
    assert seqs == list(range(n)), f"B: {len(b)} messages; first wrong at {_first_mismatch(seqs, n)}"
    qid = queue_identity(a_queue).hex()
    assert [(s, ts, t, p) for s, ts, t, p, _ in b] == a
    assert {m[4] for m in b} == {qid}


def _first_mismatch(seqs: List[int], n: int) -> Optional[Tuple[int, Any]]:
    for i, s in enumerate(seqs):
        if s != i:
            return i, seqs[max(0, i - 3) : i + 3]
    return (len(seqs), None) if len(seqs) != n else None


# ---- the stream, seen through nats-py ------------------------------------


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _with_js(servers: Sequence[str], fn: Any) -> Any:
    import nats

    nc = await nats.connect(servers=list(servers), connect_timeout=5, max_reconnect_attempts=5,
                            reconnect_time_wait=0.2)
    try:
        return await fn(nc, nc.jetstream(timeout=10))
    finally:
        await nc.close()


def stream_origin_seqs(servers: Sequence[str], stream: str) -> List[Optional[int]]:
    """The Chronicle-Seq header of every message of the stream, in stream order."""

    async def body(nc: Any, js: Any) -> List[Optional[int]]:
        info = await js.stream_info(stream)
        total = info.state.messages
        sub = await js.pull_subscribe("", stream=stream, config=_ephemeral())
        seqs: List[Optional[int]] = []
        while len(seqs) < total:
            for m in await sub.fetch(min(1000, total - len(seqs)), timeout=10):
                h = m.headers or {}
                seqs.append(int(h["Chronicle-Seq"]) if "Chronicle-Seq" in h else None)
        await sub.unsubscribe()
        return seqs

    return list(_run(_with_js(servers, body)))


def _ephemeral() -> Any:
    from nats.js.api import AckPolicy, ConsumerConfig

    return ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=30)


def last_origin_on_stream(servers: Sequence[str], stream: str, subject: str) -> Optional[int]:
    async def body(nc: Any, js: Any) -> Optional[int]:
        import nats.js.errors

        try:
            m = await js.get_last_msg(stream, subject)
        except nats.js.errors.NotFoundError:
            return None
        return int(m.headers["Chronicle-Seq"])

    result: Optional[int] = _run(_with_js(servers, body))
    return result


def consumer_state(servers: Sequence[str], stream: str, durable: str) -> Tuple[int, int, int]:
    """(stream's last seq, consumer's delivered stream seq, ack floor stream seq)."""

    async def body(nc: Any, js: Any) -> Tuple[int, int, int]:
        info = await js.stream_info(stream)
        c = await js.consumer_info(stream, durable)
        return info.state.last_seq, c.delivered.stream_seq, c.ack_floor.stream_seq

    result: Tuple[int, int, int] = _run(_with_js(servers, body))
    return result


def publish_raw(servers: Sequence[str], subject: str, payloads: Sequence[Tuple[bytes, Optional[Dict[str, str]]]]) -> None:
    """Publish messages to a stream's subject as any NATS client would."""

    async def body(nc: Any, js: Any) -> None:
        for data, headers in payloads:
            await js.publish(subject, data, headers=headers)

    _run(_with_js(servers, body))


def wait_consumer_done(servers: Sequence[str], stream: str, durable: str, timeout: float = 30.0) -> None:
    """Wait until the durable acknowledged everything the stream holds."""
    deadline = time.monotonic() + timeout
    while True:
        last, delivered, floor = consumer_state(servers, stream, durable)
        if floor == last:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"consumer {durable}: ack floor {floor}, delivered {delivered}, stream last {last}")
        time.sleep(0.1)
