"""Benchmarks of the Python API beyond one call per message: asyncio waits,
batch appends and drains, NumPy arrays and DataFrames.

How to call it::

    from bench.bench_python_api import run
    results = run(quick=False)      # a dict, printable as JSON

or from the repository root: ``python -m bench.bench_python_api [--quick]``,
which prints the same dict as JSON. ``run`` takes about 45 s (``quick``:
about 8 s). Its keys:

- ``append``: messages per second (``mps``) appending 32-byte payloads one
  call per message (``append``), ``append_many`` from a list of bytes,
  ``append_rows`` from a NumPy array, and ``pack_into_floor``: the same loop
  as ``append`` with ``struct.pack_into`` into an mmap (no queue at all) —
  the least a Python call per message can cost.
- ``drain``: messages per second reading them back with ``next``,
  ``next_batch``, ``read_array`` and ``unpack_from_floor`` (``struct.unpack_from``
  over an mmap, the per-message floor).
- ``latency``: one-way latency in microseconds (``p50``, ``p90``, ``p99``,
  ``max``) from a publisher in another process, paced so that the subscriber
  sleeps between messages, for the synchronous ``wait()`` and for
  ``next_async()`` under asyncio and (if installed) uvloop.
- ``frames``: rows per second of ``read_frame`` (pandas, and polars if
  installed) and of ``read_array`` on the same queue.

Every figure in a group comes from the same run, so the ratios hold on a
noisy machine; the absolute numbers do not.
"""
from __future__ import annotations

import asyncio
import json
import mmap
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from chronicle import Queue
from chronicle.frames import read_frame

from .timing import settle

Result = Dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
SIZE = 32  # payload bytes
SEGMENT = 64 << 20


def _median(values: List[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2]


def _rate(fn: Callable[[], int], reps: int, before: Callable[[], Any] = lambda: None) -> Result:
    """Median messages per second of ``fn`` (returns how many it handled)
    over ``reps`` runs after one warm-up, calling ``before`` ahead of each."""
    before()
    fn()
    rates = []
    for _ in range(reps):
        before()
        t0 = time.perf_counter_ns()
        n = fn()
        rates.append(n * 1e9 / max(1, time.perf_counter_ns() - t0))
    return {"mps": _median(rates), "ns_per_msg": 1e9 / _median(rates)}


# ---- appends -------------------------------------------------------------------


def append_rates(tmp: str, n: int, reps: int) -> Dict[str, Result]:
    import numpy as np

    payload = bytes(range(SIZE))
    items = [payload] * 1024
    rows = np.frombuffer(payload * 1024, np.uint8).reshape(1024, SIZE)
    out: Dict[str, Result] = {}
    with Queue.open_publisher(os.path.join(tmp, "append"), segment_size=SEGMENT) as pub:

        def one_by_one() -> int:
            append = pub.append
            for _ in range(n):
                append(1, payload)
            return n

        def many() -> int:
            for _ in range(n // 1024):
                pub.append_many(1, items)
            return n // 1024 * 1024

        def by_rows() -> int:
            for _ in range(n // 1024):
                pub.append_rows(1, rows)
            return n // 1024 * 1024

        # each run appends into segments the helper thread has prepared (as
        # the C benchmark does): the append path, not the kernel's page supply
        out["append"] = _rate(one_by_one, reps, settle)
        out["append_many"] = _rate(many, reps, settle)
        out["append_rows"] = _rate(by_rows, reps, settle)

    record = SIZE + 32  # payload plus a record header, as in the queue
    floor_map = mmap.mmap(-1, n * record)
    pack_into = struct.Struct(f"<{SIZE}s").pack_into

    def floor() -> int:
        off = 0
        for _ in range(n):
            pack_into(floor_map, off, payload)
            off += record
        return n

    out["pack_into_floor"] = _rate(floor, reps)
    floor_map.close()
    return out


# ---- drains --------------------------------------------------------------------


def drain_rates(tmp: str, n: int, reps: int) -> Dict[str, Result]:
    import numpy as np

    path = os.path.join(tmp, "drain")
    with Queue.open_publisher(path, segment_size=SEGMENT) as pub:
        rows = np.frombuffer(bytes(range(SIZE)) * 1024, np.uint8).reshape(1024, SIZE)
        for _ in range(n // 1024):
            pub.append_rows(1, rows)
    total = n // 1024 * 1024
    dtype = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u8")])
    sub = Queue.open_subscriber(path, "bench")

    def by_next() -> int:
        sub.seek(0)
        nxt = sub.next
        count = 0
        while nxt() is not None:
            count += 1
        return count

    def by_batch() -> int:
        sub.seek(0)
        count = 0
        while True:
            got = len(sub.next_batch(1024))
            if not got:
                return count
            count += got

    def by_array() -> int:
        sub.seek(0)
        count = 0
        while True:
            got = len(sub.read_array(dtype, 8192))
            if not got:
                return count
            count += got

    out: Dict[str, Result] = {}
    try:
        out["next"] = _rate(by_next, reps)
        out["next_batch"] = _rate(by_batch, reps)
        out["read_array"] = _rate(by_array, reps)
    finally:
        sub.close()

    record = SIZE + 32
    floor_map = mmap.mmap(-1, total * record)
    unpack_from = struct.Struct(f"<{SIZE}s").unpack_from

    def floor() -> int:
        off = 0
        for _ in range(total):
            unpack_from(floor_map, off)
            off += record
        return total

    out["unpack_from_floor"] = _rate(floor, reps)
    floor_map.close()
    return out


# ---- one-way latency, publisher in another process --------------------------------

_PUBLISHER = """
import struct, sys, time
from chronicle import Queue
path, count, interval_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pack = struct.Struct("<q").pack
with Queue.open_publisher(path) as pub:
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(count):
        time.sleep(interval_ns / 1e9)  # not a spin: leave the CPUs to the subscriber
        pub.append(1, pack(time.perf_counter_ns()))
    sys.stdin.readline()
"""


def _percentiles(samples_ns: List[int]) -> Result:
    s = sorted(samples_ns)

    def at(p: float) -> float:
        return s[min(len(s) - 1, int(p / 100.0 * len(s)))] / 1000.0

    return {"p50": at(50), "p90": at(90), "p99": at(99), "max": s[-1] / 1000.0, "count": len(s)}


def _sync_receiver(sub: Any, count: int) -> List[int]:
    unpack = struct.Struct("<q").unpack_from
    out = []
    while len(out) < count:
        if not sub.wait(10.0):
            raise TimeoutError("publisher stopped")
        msg = sub.next()
        if msg is not None:
            out.append(time.perf_counter_ns() - unpack(msg.payload)[0])
    return out


async def _async_receiver(sub: Any, count: int) -> List[int]:
    unpack = struct.Struct("<q").unpack_from
    out = []
    while len(out) < count:
        msg = await sub.next_async(timeout=10.0)
        if msg is None:
            raise TimeoutError("publisher stopped")
        out.append(time.perf_counter_ns() - unpack(msg.payload)[0])
    return out


def _loop_factory(mode: str) -> Optional[Callable[[], asyncio.AbstractEventLoop]]:
    if mode == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def one_way_latency(tmp: str, mode: str, count: int, interval_ns: int) -> Optional[Result]:
    """Latency of ``mode`` ("sync", "asyncio" or "uvloop"); None if its loop
    is not installed."""
    factory = None if mode == "sync" else _loop_factory(mode)
    if mode != "sync" and factory is None:
        return None
    path = os.path.join(tmp, f"latency-{mode}")
    sub = Queue.open_subscriber(path, "bench", start="latest")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen(
        [sys.executable, "-c", _PUBLISHER, path, str(count), str(interval_ns)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        if child.stdout.readline().strip() != b"ready":
            raise RuntimeError("publisher did not start")
        child.stdin.write(b"go\n")
        child.stdin.flush()
        if factory is None:
            samples = _sync_receiver(sub, count)
        else:
            loop = factory()
            try:
                samples = loop.run_until_complete(_async_receiver(sub, count))
            finally:
                loop.close()
        child.stdin.write(b"done\n")
        child.stdin.flush()
        child.wait(30)
    finally:
        sub.close()
        if child.poll() is None:
            child.kill()
            child.wait()
    return _percentiles(samples[count // 10 :])  # without the warm-up tenth


# ---- DataFrames -------------------------------------------------------------------


def frame_rates(tmp: str, n: int, reps: int) -> Dict[str, Result]:
    import numpy as np

    dtype = np.dtype([("px", "<f8"), ("qty", "<i8"), ("side", "<u4"), ("venue", "<u4"), ("sym", "S8")])
    path = os.path.join(tmp, "frames")
    rows = np.zeros(8192, dtype)
    rows["px"] = np.linspace(1.0, 2.0, len(rows))
    rows["sym"] = b"BTC-USD"
    with Queue.open_publisher(path, segment_size=SEGMENT) as pub:
        for _ in range(max(1, n // len(rows))):
            pub.append_rows(1, rows)
    out: Dict[str, Result] = {}

    def frame(library: str) -> Callable[[], int]:
        return lambda: len(read_frame(path, dtype, library=library))

    def arrays() -> int:
        count = 0
        with Queue.open_subscriber(path, "bench-arrays") as sub:
            while True:
                got = len(sub.read_array(dtype, 65536))
                if not got:
                    return count
                count += got

    out["read_array"] = {"rows_per_s": _rate(arrays, reps)["mps"]}
    for library in ("pandas", "polars"):
        try:
            __import__(library)
        except ImportError:
            continue
        out[f"read_frame_{library}"] = {"rows_per_s": _rate(frame(library), reps)["mps"]}
    return out


# ---- all of it ------------------------------------------------------------------


def run(quick: bool = False) -> Dict[str, Any]:
    """Every benchmark of this file; see the module docstring for the keys."""
    n = 200_000 if quick else 1_000_000
    reps = 3 if quick else 5
    lat_count = 300 if quick else 3000
    interval_ns = 1_000_000  # 1 ms apart: the subscriber sleeps before each message
    tmp = tempfile.mkdtemp(prefix="chronicle-bench-py-")
    try:
        results: Dict[str, Any] = {
            "append": append_rates(tmp, n, reps),
            "drain": drain_rates(tmp, n, reps),
            "latency": {},
            "frames": frame_rates(tmp, n, reps),
        }
        for mode in ("sync", "asyncio", "uvloop"):
            lat = one_way_latency(tmp, mode, lat_count, interval_ns)
            if lat is not None:
                results["latency"][mode] = lat
        results["params"] = {"messages": n, "reps": reps, "latency_count": lat_count,
                             "latency_interval_ns": interval_ns, "payload_bytes": SIZE}
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
