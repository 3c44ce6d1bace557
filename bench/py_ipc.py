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
consumers block in the kernel. "chronicle-spin" is the same code with a
subscriber opened with spin_us=1000: wait() spins up to 1 ms before it
sleeps, longer than the gap between two messages, so it never sleeps while
messages flow; the low-latency way to read Chronicle, and the one SPEC's
latency target is judged with (as the C target is, with a spinning reader).
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

from .timing import latency_summary, median, pin, settle

TRANSPORTS = ("chronicle", "chronicle-spin", "mp.Queue", "mp.Pipe", "zmq-ipc")
# records a throughput run may write: within the two segments (2 x 128 MiB)
# a publisher prepares when it opens a queue
BURST_BYTES = 192 << 20
RECORD_HEADER = 32
THROUGHPUT_REPS = 3  # throughput runs of every transport, interleaved; the median is reported
SPIN_US = 1000  # chronicle-spin: longer than the latency run's gap between messages
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
    """Chronicle's consumer, written as an application would: take what is
    ready (iterating the subscriber), then wait()."""
    from chronicle import Queue

    spin_us = SPIN_US if link.transport == "chronicle-spin" else None
    with Queue.open_subscriber(link.path, "bench", spin_us=spin_us) as sub:
        ready.set()
        wait = sub.wait
        mono = time.monotonic_ns
        got = 0
        if mode == "throughput":
            while got < n:
                for _msg in sub:
                    got += 1
                if got < n:
                    wait(1.0)
            out.send(mono())
            return
        unpack = _TS.unpack_from
        lat: List[int] = []
        while got < n:
            for m in sub:
                now = mono()
                if got >= warmup:
                    lat.append(now - unpack(m.payload)[0])
                got += 1
            if got < n:
                wait(1.0)
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
            bench_dir: str, log: Callable[[str], None], sizes: Tuple[int, ...] = (32, 1024),
            sustained_bytes: int = 0) -> Dict[str, Result]:
    """Every transport, size and mode, interleaved so that noise hits all alike.

    The throughput runs send at most BURST_BYTES of records, which the
    publisher's segments prepared at open hold: the rate of the append and
    read paths. With `sustained_bytes`, Chronicle alone then streams that
    much, through segments made during the run: bounded by how fast the
    kernel supplies new page-cache pages (the peers write no file)."""
    transports = [t for t in TRANSPORTS if t != "zmq-ipc" or zmq_available()]
    out: Dict[str, Result] = {}
    warmup = min(1000, latency_n // 10)
    for size in sizes:
        n = min(throughput_n, BURST_BYTES // (size + RECORD_HEADER))
        rates: Dict[str, List[float]] = {t: [] for t in transports}
        for rep in range(THROUGHPUT_REPS):
            for t in transports:
                log(f"  {t:<15} {size:>5} B: throughput ({n} messages, {rep + 1} of {THROUGHPUT_REPS})")
                rates[t].append(run_pair(t, "throughput", size, n, 0, cpus, bench_dir)["mps"])
        for t in transports:
            out[f"{t}/{size}/throughput"] = {"mps": median(rates[t]), "mps_all": rates[t], "count": n}
        for t in transports:
            log(f"  {t:<15} {size:>5} B: one-way latency ({latency_n} messages, one per {interval_ns / 1000:g} us)")
            out[f"{t}/{size}/latency"] = run_pair(t, "latency", size, latency_n, interval_ns, cpus, bench_dir, warmup)
        if sustained_bytes:
            n = sustained_bytes // (size + RECORD_HEADER)
            log(f"  {'chronicle':<15} {size:>5} B: sustained throughput ({n} messages)")
            out[f"chronicle/{size}/sustained"] = run_pair("chronicle", "throughput", size, n, 0, cpus, bench_dir)
    return out
