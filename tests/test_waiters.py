"""The waiter count in queue.meta: a reader killed while asleep must not make
every later append pay for a wake-up system call forever."""
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

WAITERS = 256  # u32, queue.meta (docs/FORMAT.md)
SLEEP_BEAT = 264  # i64 CLOCK_MONOTONIC ns of the latest announcement

SLEEPER = """
import sys
from chronicle import Queue
with Queue.open_subscriber(sys.argv[1], "sleeper", start="latest") as sub:
    print("waiting", flush=True)
    sub.wait(None)
"""


def _meta(qdir: str) -> mmap.mmap:
    with open(os.path.join(qdir, "queue.meta"), "r+b") as f:
        return mmap.mmap(f.fileno(), 4096)


def _waiters(m: mmap.mmap) -> int:
    return int(struct.unpack_from("<I", m, WAITERS)[0])


def test_count_left_by_a_killed_sleeper_is_cleared(qdir: str, children: List[subprocess.Popen]) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append(1, b"before")
        child = spawn_python(SLEEPER, qdir, stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout is not None and child.stdout.readline().strip() == "waiting"
        m = _meta(qdir)
        deadline = time.monotonic() + 10
        while _waiters(m) == 0:  # the child announces itself just before sleeping
            assert time.monotonic() < deadline, "sleeper never announced itself"
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert _waiters(m) == 1, "a killed sleeper leaves its count behind"

        pub.append(1, b"recent sleeper: kept")
        assert _waiters(m) == 1, "a sleeper seen less than a second ago may still be alive"

        # age the last announcement instead of waiting a second for it
        struct.pack_into("<q", m, SLEEP_BEAT, time.monotonic_ns() - 5_000_000_000)
        pub.append(1, b"stale count: cleared")
        assert _waiters(m) == 0
        m.close()


def test_live_sleeper_is_still_woken_after_a_clear(qdir: str, children: List[subprocess.Popen]) -> None:
    with Queue.open_publisher(qdir) as pub:
        m = _meta(qdir)
        struct.pack_into("<I", m, WAITERS, 3)  # leftovers of three dead sleepers
        struct.pack_into("<q", m, SLEEP_BEAT, time.monotonic_ns() - 5_000_000_000)
        pub.append(1, b"clears the leftovers")
        assert _waiters(m) == 0
        child = spawn_python(SLEEPER + "print('woken', flush=True)\n", qdir, stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout is not None and child.stdout.readline().strip() == "waiting"
        deadline = time.monotonic() + 10
        while _waiters(m) == 0:  # asleep (or about to be): only a wake-up frees it now
            assert time.monotonic() < deadline, "sleeper never announced itself"
            time.sleep(0.001)
        pub.append(1, b"wake up")
        assert child.stdout.readline().strip() == "woken"
        assert child.wait(10) == 0
        m.close()
