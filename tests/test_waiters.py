"""The wake-up flag in queue.meta: a reader killed while asleep must not make
every later append pay for a wake-up system call, and a burst of appends
wakes a group of sleepers once."""
from __future__ import annotations

import mmap
import os
import signal
import struct
import subprocess
import time
from typing import List

from conftest import spawn_python

from chronicle import Queue

WAITERS = 256  # u32 hint: sleepers (docs/FORMAT.md)
WAKE_PENDING = 260  # u32: a sleeper announced itself since the last wake

SLEEPER = """
import sys
from chronicle import Queue
with Queue.open_subscriber(sys.argv[1], sys.argv[2], start="latest") as sub:
    print("waiting", flush=True)
    sub.wait(None)
    print("woken", flush=True)
"""


def _meta(qdir: str) -> mmap.mmap:
    with open(os.path.join(qdir, "queue.meta"), "r+b") as f:
        return mmap.mmap(f.fileno(), 4096)


def _u32(m: mmap.mmap, off: int) -> int:
    return int(struct.unpack_from("<I", m, off)[0])


def _start_sleeper(qdir: str, name: str, m: mmap.mmap, children: List[subprocess.Popen]) -> subprocess.Popen:
    before = _u32(m, WAITERS)
    child = spawn_python(SLEEPER, qdir, name, stdout=subprocess.PIPE, text=True)
    children.append(child)
    assert child.stdout is not None and child.stdout.readline().strip() == "waiting"
    deadline = time.monotonic() + 10
    while _u32(m, WAITERS) <= before:  # announced: asleep or about to be
        assert time.monotonic() < deadline, "sleeper never announced itself"
        time.sleep(0.001)
    return child


def test_killed_sleeper_costs_one_wake_then_none(qdir: str, children: List[subprocess.Popen]) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append(1, b"before")
        m = _meta(qdir)
        child = _start_sleeper(qdir, "doomed", m, children)
        assert _u32(m, WAKE_PENDING) == 1
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        pub.append(1, b"one wake-up for nobody")
        assert _u32(m, WAKE_PENDING) == 0, "the append consumed the dead sleeper's flag"
        for i in range(1000):
            pub.append(1, b"no sleeper: no wake-up")
        assert _u32(m, WAKE_PENDING) == 0
        m.close()


def test_burst_wakes_every_sleeper_once(qdir: str, children: List[subprocess.Popen]) -> None:
    with Queue.open_publisher(qdir) as pub:
        m = _meta(qdir)
        sleepers = [_start_sleeper(qdir, f"s{i}", m, children) for i in range(3)]
        pub.append(1, b"wake up")
        assert _u32(m, WAKE_PENDING) == 0  # consumed by that one append
        for s in sleepers:
            assert s.stdout is not None and s.stdout.readline().strip() == "woken"
            assert s.wait(10) == 0
        m.close()
