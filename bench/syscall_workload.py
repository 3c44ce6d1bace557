"""The Python workload that bench/syscall_count.py traces: N appends or N
reads through the Python API, between two marker calls (see there).

    python -m bench.syscall_workload --mode=append|read --count=N
        --segment-size=BYTES --dir=PARENT
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile

from chronicle import Queue

from .timing import settle


def marker(text: str) -> None:
    try:
        os.write(-1, text.encode())
    except OSError:
        pass  # EBADF by design: the call only has to show in the trace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["append", "read"], default="append")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--segment-size", type=int, default=16 << 20)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="chron-bench-pysyscalls-", dir=a.dir)
    try:
        path = os.path.join(tmp, "queue")
        payload = bytes(a.size)
        reading = a.mode == "read"
        with Queue.open_publisher(path, segment_size=a.segment_size) as pub:
            settle()
            append = pub.append
            if not reading:
                marker("chronicle-bench:begin")
            for _ in range(a.count):
                append(1, payload)
            if not reading:
                marker("chronicle-bench:end")
        with Queue.open_subscriber(path, "syscalls") as sub:
            nxt = sub.next
            if reading:
                marker("chronicle-bench:begin")
            for _ in range(a.count):
                msg = nxt()
                if msg is None:
                    raise SystemExit("a message is missing")
            if reading:
                marker("chronicle-bench:end")
        print(json.dumps({"bench": "syscalls", "mode": a.mode, "count": a.count,
                          "size": a.size, "segment_size": a.segment_size}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
