"""SPEC §4: no handle leaks file descriptors, mappings or threads, over
hundreds of open/append/read/close cycles, including failed opens."""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Callable, Dict, List

import pytest

from chronicle import Queue, QueueLockedError
from conftest import SMALL_SEGMENT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self entries")

CYCLES = 300


def resources() -> Dict[str, int]:
    gc.collect()
    with open("/proc/self/maps") as f:
        maps = sum(1 for _ in f)
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "maps": maps,
        "threads": len(os.listdir("/proc/self/task")),
    }


def assert_no_growth(cycle: Callable[[int], None]) -> None:
    for i in range(10):  # warm up: imports, allocator arenas, caches
        cycle(i)
    before = resources()
    for i in range(CYCLES):
        cycle(10 + i)
    after = resources()
    for kind in ("fds", "maps", "threads"):
        assert after[kind] <= before[kind], (before, after)


def test_publisher_and_subscriber_cycles(qdir: str) -> None:
    payload = b"p" * 2000

    def cycle(i: int) -> None:
        with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
            for _ in range(40):  # 80 KB: a segment roll every cycle
                pub.append(1, payload)
            pub.flush_async()
        with Queue.open_subscriber(qdir, "s") as sub:
            msgs = list(sub)
            assert len(msgs) == 40 and all(m.payload == payload for m in msgs)
            sub.commit()

    assert_no_growth(cycle)


def test_payloads_kept_past_close_are_released_with_them(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for i in range(200):
            pub.append(1, bytes([i]) * 1500)

    def cycle(i: int) -> None:
        with Queue.open_subscriber(qdir, "r%d" % (i % 20)) as sub:
            kept: List[memoryview] = [m.payload for m in sub]
        assert len(kept) == 200 and kept[-1] == bytes([199]) * 1500
        del kept

    assert_no_growth(cycle)


def test_subscriber_before_publisher_cycles(tmp_path: Path) -> None:
    def cycle(i: int) -> None:
        qdir = tmp_path / ("q%d" % (i % 5))
        with Queue.open_subscriber(qdir, "early") as sub:
            sub.wait(0)
            with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
                pub.append(1, b"x")
            assert sub.wait(0.001)
            assert sub.next() is not None
            sub.commit()

    assert_no_growth(cycle)


def test_failed_opens_leak_nothing(qdir: str) -> None:
    holder = Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT)
    taken = Queue.open_subscriber(qdir, "taken")
    plain_file = Path(qdir, "not-a-dir")
    plain_file.write_bytes(b"")

    def cycle(i: int) -> None:
        if i % 3 == 0:  # a refused publisher retries the lock for a few ms
            with pytest.raises(QueueLockedError):
                Queue.open_publisher(qdir)
        with pytest.raises(QueueLockedError):
            Queue.open_subscriber(qdir, "taken")
        with pytest.raises(ValueError):
            Queue.open_subscriber(qdir, "../bad")
        with pytest.raises(OSError):
            Queue.open_publisher(plain_file / "q")

    try:
        assert_no_growth(cycle)
    finally:
        taken.close()
        holder.close()
