"""Python, two processes: throughput and one-way latency of Chronicle
against multiprocessing.Queue, multiprocessing.Pipe and pyzmq ipc://
PUSH/PULL, with the same message sizes, counts and CPUs.

Each side is a forked process pinned (with all its threads) to one CPU:
the producer on one, the consumer on another. Throughput: the producer sends
N messages as fast as it can; the figure is N over the time from its first
send to the consumer's last receive. Latency: the producer, paced, puts
time.monotonic_ns() in the first 8 bytes; the consumer subtracts it from its
own reading when the message arrives. It sleeps between messages (at least
the interval from one send to the next), so that the helper threads of the
peers, which share its CPU, can run.

Chronicle's consumer calls next() and, when nothing is ready, wait() (the
default hybrid wait: spin 10 us, then sleep on the futex), as the peers'
consumers block in the kernel. "chronicle-poll" is the same consumer
busy-polling next(), the low-latency way to read Chronicle.
"""
from __future__ import annotations

import functools
import multiprocessing as mp
import os
import struct
import tempfile
import shutil
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .timing import latency_summary, pin, settle

TRANSPORTS = ("chronicle", "chronicle-poll", "mp.Queue", "mp.Pipe", "zmq-ipc")
PEERS = ("mp.Queue", "mp.Pipe", "zmq-ipc")
_TS = struct.Struct("<q")
Result = Dict[str, Any]


def zmq_available() -> bool:
    try:
        import zmq  # noqa: F401
    except ImportError:
        return False
    return True


class _Link:
    """What the parent creates before forking, for one transport."""

    def __init__(self, transport: str, ctx: Any, tmp: str) -> None:
        self.transport = transport
        self.path = os.path.join(tmp, "queue")
        self.addr = f"ipc://{tmp}/zmq.sock"
        self.queue: Any = ctx.Queue() if transport == "mp.Queue" else None
        self.pipe: Any = ctx.Pipe(duplex=False) if transport == "mp.Pipe" else None

    def sender(self) -> Tuple[Callable[[bytes], Any], Callable[[], None]]:
        """(send, close) in the producer process."""
        t = self.transport
        if t.startswith("chronicle"):
            from chronicle import Queue

            pub = Queue.open_publisher(self.path)
            settle()  # the segment helper pre-faults segments after an open
            return functools.partial(pub.append, 1), pub.close
        if t == "mp.Queue":
            q = self.queue

            def close_queue() -> None:
                q.close()
                q.join_thread()  # the feeder thread has handed over everything

            return q.put, close_queue
        if t == "mp.Pipe":
            return self.pipe[1].send_bytes, self.pipe[1].close
        import zmq

        zctx = zmq.Context()
        sock = zctx.socket(zmq.PUSH)
        sock.connect(self.addr)

        def close_zmq() -> None:
            sock.close(linger=-1)
            zctx.term()  # returns once every message is delivered

        return sock.send, close_zmq

    def receiver(self) -> Tuple[Callable[[], Any], Callable[[], None]]:
        """(recv, close) of a peer in the consumer process; recv returns the payload."""
        t = self.transport
        if t == "mp.Queue":
            return self.queue.get, lambda: None
        if t == "mp.Pipe":
            return self.pipe[0].recv_bytes, self.pipe[0].close
        import zmq

        zctx = zmq.Context()
        sock = zctx.socket(zmq.PULL)
        sock.bind(self.addr)

        def close_zmq() -> None:
            sock.close(linger=0)
            zctx.term()

        return sock.recv, close_zmq


def _producer(link: _Link, cpu: Optional[int], mode: str, size: int, n: int, interval_ns: int,
              ready: Any, go: Any, out: Any) -> None:
    pin(cpu)
    send, close = link.sender()
    ready.set()
    go.wait()
    mono = time.monotonic_ns
    if mode == "throughput":
        msg = bytes(size)
        t0 = mono()
        for _ in range(n):
            send(msg)
    else:
        pad = bytes(size - _TS.size)
        pack = _TS.pack
        sleep = time.sleep
        t0 = last = mono()
        for _ in range(n):
            # sleep, not spin: a peer's helper thread (mp.Queue's feeder)
            # shares this CPU and needs the GIL
            left = last + interval_ns - mono()
            if left > 0:
                sleep(left * 1e-9)
            last = mono()
            send(pack(last) + pad)
    out.send(t0)
    close()


def _consume_chronicle(link: _Link, mode: str, n: int, warmup: int, ready: Any, out: Any) -> None:
    """Chronicle's consumer, written as an application would: next() until
    it returns None, then wait() (or, for chronicle-poll, next() again)."""
    from chronicle import Queue

    with Queue.open_subscriber(link.path, "bench") as sub:
        ready.set()
        nxt, wait = sub.next, sub.wait
        poll = link.transport == "chronicle-poll"
        mono = time.monotonic_ns
        got = 0
        if mode == "throughput":
            while got < n:
                if nxt() is not None:
                    got += 1
                elif not poll:
                    wait(1.0)
            out.send(mono())
            return
        unpack = _TS.unpack_from
        lat: List[int] = []
        while got < n:
            m = nxt()
            if m is None:
                if not poll:
                    wait(1.0)
                continue
            now = mono()
            if got >= warmup:
                lat.append(now - unpack(m.payload)[0])
            got += 1
        out.send(lat)


def _consumer(link: _Link, cpu: Optional[int], mode: str, n: int, warmup: int, ready: Any, out: Any) -> None:
    pin(cpu)
    if link.transport.startswith("chronicle"):
        _consume_chronicle(link, mode, n, warmup, ready, out)
        return
    recv, close = link.receiver()
    ready.set()
    mono = time.monotonic_ns
    if mode == "throughput":
        for _ in range(n):
            recv()
        out.send(mono())
    else:
        unpack = _TS.unpack_from
        lat: List[int] = []
        for i in range(n):
            m = recv()
            now = mono()
            if i >= warmup:
                lat.append(now - unpack(m)[0])
        out.send(lat)
    close()


def run_pair(transport: str, mode: str, size: int, n: int, interval_ns: int, cpus: Tuple[Optional[int], Optional[int]],
             bench_dir: str, warmup: int = 0) -> Result:
    ctx = mp.get_context("fork")
    tmp = tempfile.mkdtemp(prefix="chron-bench-ipc-", dir=bench_dir)
    procs: List[Any] = []
    try:
        link = _Link(transport, ctx, tmp)
        c_ready, p_ready, go = ctx.Event(), ctx.Event(), ctx.Event()
        c_out_r, c_out_w = ctx.Pipe(duplex=False)
        p_out_r, p_out_w = ctx.Pipe(duplex=False)
        total = n + warmup
        consumer = ctx.Process(target=_consumer, args=(link, cpus[1], mode, total, warmup, c_ready, c_out_w))
        producer = ctx.Process(target=_producer,
                               args=(link, cpus[0], mode, size, total, interval_ns, p_ready, go, p_out_w))
        procs = [consumer, producer]
        consumer.start()
        if not c_ready.wait(30):
            raise RuntimeError(f"{transport} consumer did not start")
        producer.start()
        if not p_ready.wait(30):
            raise RuntimeError(f"{transport} producer did not start")
        go.set()
        # generous bound: 20 us per message plus the paced time
        limit = 30 + total * (20e-6 + interval_ns * 1e-9)
        if not p_out_r.poll(limit) or not c_out_r.poll(limit):
            raise RuntimeError(f"{transport} {mode} did not finish within {limit:.0f} s")
        t0 = p_out_r.recv()
        got = c_out_r.recv()
        for p in procs:
            p.join(30)
            if p.exitcode != 0:
                raise RuntimeError(f"{transport} {mode}: a process failed (exit {p.exitcode})")
        if mode == "throughput":
            return {"mps": total * 1e9 / (got - t0), "count": total}
        return {"latency_ns": latency_summary(got), "interval_ns": interval_ns}
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
        shutil.rmtree(tmp, ignore_errors=True)


def measure(throughput_n: int, latency_n: int, interval_ns: int, cpus: Tuple[Optional[int], Optional[int]],
            bench_dir: str, log: Callable[[str], None], sizes: Tuple[int, ...] = (32, 1024)) -> Dict[str, Result]:
    """Every transport, size and mode, interleaved so that noise hits all alike."""
    transports = [t for t in TRANSPORTS if t != "zmq-ipc" or zmq_available()]
    out: Dict[str, Result] = {}
    warmup = min(1000, latency_n // 10)
    for size in sizes:
        for t in transports:
            log(f"  {t:<15} {size:>5} B: throughput ({throughput_n} messages)")
            out[f"{t}/{size}/throughput"] = run_pair(t, "throughput", size, throughput_n, 0, cpus, bench_dir)
        for t in transports:
            log(f"  {t:<15} {size:>5} B: one-way latency ({latency_n} messages, one per {interval_ns / 1000:g} us)")
            out[f"{t}/{size}/latency"] = run_pair(t, "latency", size, latency_n, interval_ns, cpus, bench_dir, warmup)
    return out
