"""SPEC §4, Subscriber.wait: wait(0), wait(timeout), wait(None), wake-up by a
publisher in another process, and Ctrl-C during a wait that never ends."""
from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

from chronicle import ClosedError, Queue
from conftest import SMALL_SEGMENT, read_line, spawn_python

# queue.meta: the count of readers asleep or about to sleep (docs/FORMAT.md)
META_WAITERS_OFFSET = 256


def test_wait_zero_only_checks(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "s") as sub:
        assert sub.wait(0) is False
        assert sub.wait(0.0) is False
        assert sub.wait(-1) is False  # a negative timeout is 0
        with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
            pub.append(1, b"x")
        assert sub.wait(0) is True
        assert sub.wait(0) is True  # waiting consumes nothing
        msg = sub.next()
        assert msg is not None and msg.seq == 0
        assert sub.wait(0) is False


def test_wait_timeout_elapses(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "s", spin_us=0) as sub:
        for timeout in (0.05, 0.2):
            start = time.monotonic()
            assert sub.wait(timeout=timeout) is False
            assert time.monotonic() - start >= timeout * 0.9


def test_wait_returns_at_once_when_ready(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"x")
        with Queue.open_subscriber(qdir, "s") as sub:
            assert sub.wait(timeout=60) is True
            assert sub.wait() is True


@pytest.mark.parametrize("timeout,exc", [("1", TypeError), (b"1", TypeError), (float("nan"), ValueError),
                                         ([1], TypeError)])
def test_wait_bad_timeout(qdir: str, timeout: Any, exc: type) -> None:
    with Queue.open_subscriber(qdir, "s") as sub:
        with pytest.raises(exc):
            sub.wait(timeout)


def test_wait_forever_woken_by_another_thread(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        with Queue.open_subscriber(qdir, "s") as sub:
            results: List[bool] = []
            waiter = threading.Thread(target=lambda: results.append(sub.wait()), daemon=True)
            waiter.start()
            pub.append(1, b"wake")
            waiter.join(timeout=10)
            assert not waiter.is_alive() and results == [True]
            msg = sub.next()
            assert msg is not None and bytes(msg.payload) == b"wake"


def test_other_threads_run_while_one_waits(qdir: str) -> None:
    """wait() gives the GIL up while it sleeps (the message-path calls keep
    it, csrc/cffi_gil.h): this thread keeps running Python meanwhile."""
    with Queue.open_subscriber(qdir, "s") as sub:
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (sub.wait(1.0), done.set()), daemon=True)
        ticks = [time.monotonic()]
        waiter.start()
        while not done.is_set():
            ticks.append(time.monotonic())
        waiter.join()
    # held, each of wait()'s 50 ms slices would stop this loop: nearly the
    # whole second would be spent in gaps of 25 ms or more
    blocked = sum(g for g in (b - a for a, b in zip(ticks, ticks[1:])) if g >= 0.025)
    assert ticks[-1] - ticks[0] >= 0.9 and blocked < 0.5


def test_wait_with_infinite_timeout_is_forever(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        with Queue.open_subscriber(qdir, "s") as sub:
            results: List[bool] = []
            waiter = threading.Thread(target=lambda: results.append(sub.wait(float("inf"))), daemon=True)
            waiter.start()
            pub.append(1, b"wake")
            waiter.join(timeout=10)
            assert results == [True]


def test_close_from_another_thread_ends_a_wait(qdir: str) -> None:
    sub = Queue.open_subscriber(qdir, "s")
    errors: List[BaseException] = []

    def wait() -> None:
        try:
            sub.wait()
        except BaseException as e:  # noqa: B036 - reported to the main thread
            errors.append(e)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    sub.close()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    # either the wait had not started (ClosedError at once) or it ended
    assert len(errors) == 1 and isinstance(errors[0], ClosedError)


def wait_for_waiter(qdir: str, timeout: float = 30.0) -> None:
    """Block until some reader of the queue is about to sleep or asleep."""
    fd = os.open(Path(qdir, "queue.meta"), os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while struct.unpack("<I", os.pread(fd, 4, META_WAITERS_OFFSET))[0] == 0:
            assert time.monotonic() < deadline, "the subscriber never went to sleep"
            time.sleep(0.001)
    finally:
        os.close(fd)


def test_subscriber_before_publisher_is_woken_across_processes(qdir: str, children: List[subprocess.Popen]) -> None:
    assert not os.path.exists(qdir)
    waiter = spawn_python(
        """
        import sys
        from chronicle import Queue
        with Queue.open_subscriber(sys.argv[1], "early") as sub:
            print("opened", flush=True)
            ready = sub.wait(timeout=30)  # a generous bound for a loaded machine
            msg = sub.next()
            print(ready, msg.seq, msg.type_id, bytes(msg.payload).decode(), flush=True)
        """,
        qdir,
        stdout=subprocess.PIPE,
    )
    children.append(waiter)
    assert read_line(waiter, timeout=30) == "opened"
    wait_for_waiter(qdir)  # asleep on the futex (or about to be)
    publisher = spawn_python(
        """
        import sys
        from chronicle import Queue
        with Queue.open_publisher(sys.argv[1], segment_size=65536) as pub:
            pub.append(9, b"first")
        """,
        qdir,
    )
    children.append(publisher)
    assert publisher.wait(timeout=30) == 0
    assert read_line(waiter, timeout=30) == "True 0 9 first"
    assert waiter.wait(timeout=10) == 0


def test_subscriber_in_this_process_woken_by_publisher_process(qdir: str, children: List[subprocess.Popen]) -> None:
    with Queue.open_subscriber(qdir, "s") as sub:
        publisher = spawn_python(
            """
            import os, struct, sys, time
            from chronicle import Queue
            fd = os.open(os.path.join(sys.argv[1], "queue.meta"), os.O_RDONLY)
            deadline = time.monotonic() + 30
            while struct.unpack("<I", os.pread(fd, 4, int(sys.argv[2])))[0] == 0:
                assert time.monotonic() < deadline, "the subscriber never went to sleep"
                time.sleep(0.001)
            with Queue.open_publisher(sys.argv[1], segment_size=65536) as pub:
                pub.append(2, b"hello")
            """,
            qdir,
            str(META_WAITERS_OFFSET),
        )
        children.append(publisher)
        assert sub.wait(timeout=30) is True
        msg = sub.next()
        assert msg is not None and (msg.type_id, bytes(msg.payload)) == (2, b"hello")
        assert publisher.wait(timeout=30) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("timeout", ["None", "600"])
def test_ctrl_c_interrupts_a_long_wait(qdir: str, children: List[subprocess.Popen], timeout: str) -> None:
    waiter = spawn_python(
        """
        import sys
        from chronicle import Queue
        sub = Queue.open_subscriber(sys.argv[1], "s")
        try:
            print("waiting", flush=True)
            sub.wait(None if sys.argv[2] == "None" else float(sys.argv[2]))
            print("returned", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sub.close()
            sys.exit(3)
        """,
        qdir,
        timeout,
        stdout=subprocess.PIPE,
    )
    children.append(waiter)
    assert read_line(waiter, timeout=30) == "waiting"
    wait_for_waiter(qdir)  # inside the wait, past the spin
    os.kill(waiter.pid, signal.SIGINT)
    assert read_line(waiter, timeout=10) == "interrupted"
    assert waiter.wait(timeout=10) == 3
