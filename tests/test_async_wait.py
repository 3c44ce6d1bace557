"""asyncio: wait_async / next_async / aiter under the standard event loop and
uvloop — without blocking or spinning the loop, with prompt cancellation and
close."""
from __future__ import annotations

import asyncio
import os
import selectors
import struct
import subprocess
import threading
import time
from typing import Any, Callable, Coroutine, Iterator, List, Tuple

import pytest
from conftest import read_line, spawn_python

from chronicle import ClosedError, Message, Publisher, Queue, Subscriber

Pair = Tuple[Publisher, Subscriber]

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
WAITERS_OFFSET = 256  # queue.meta: readers asleep or about to sleep (uint32)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine to completion on a fresh loop of the given kind."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        loop = factory()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 30))
        finally:
            loop.close()

    return runner


def waiters(path: str) -> int:
    with open(os.path.join(path, "queue.meta"), "rb") as f:
        f.seek(WAITERS_OFFSET)
        return int(struct.unpack("<I", f.read(4))[0])


def helper_threads(sub_name: str) -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"chronicle-wait-{sub_name}" and t.is_alive()]


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the loop run until cond() holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


@pytest.fixture
def pair(qdir: str) -> Iterator[Pair]:
    """A publisher and a subscriber on one queue; checks afterwards that no
    waiter stayed registered in the queue (the publisher would then make a
    system call on every append)."""
    pub = Queue.open_publisher(qdir)
    sub = Queue.open_subscriber(qdir, "aio")
    yield pub, sub
    sub.close()
    pub.close()
    assert waiters(qdir) == 0


def test_round_trip_with_publisher_in_another_process(
    qdir: str, children: List[subprocess.Popen], run: Runner
) -> None:
    sub = Queue.open_subscriber(qdir, "aio")  # before any publisher: waits for the first
    child = spawn_python(
        """
        import sys
        from chronicle import Queue
        with Queue.open_publisher(sys.argv[1]) as pub:
            print("ready")
            for line in sys.stdin:
                if line.strip() == "burst":
                    pub.append_many(2, [b"b%d" % i for i in range(100)])
                else:
                    pub.append(1, b"msg " + line.strip().encode())
        """,
        qdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    children.append(child)
    assert read_line(child) == "ready"

    def send(line: str) -> None:
        child.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]

    async def main() -> None:
        for i in range(20):
            task = asyncio.ensure_future(sub.next_async(timeout=10))
            if i % 2:
                await until(lambda: waiters(qdir) > 0)  # surely asleep first
            send(str(i))
            msg = await task
            assert msg is not None and (msg.seq, bytes(msg.payload)) == (i, b"msg %d" % i)
        send("burst")
        got = []
        async for msg in sub.aiter():
            got.append(bytes(msg.payload))
            if len(got) == 100:
                break
        assert got == [b"b%d" % i for i in range(100)]

    try:
        run(main())
    finally:
        sub.close()
        child.stdin.close()  # type: ignore[union-attr]
        child.wait(10)
    assert child.returncode == 0
    assert waiters(qdir) == 0


def test_loop_keeps_running_while_waiting(pair: Pair, run: Runner) -> None:
    pub, sub = pair

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            for _ in range(20):
                await asyncio.sleep(0.001)
                ticks += 1
            pub.append(1, b"after 20 ticks")

        task = asyncio.ensure_future(ticker())
        # the message can only come if the loop keeps ticking during the wait
        assert await sub.wait_async(timeout=20)
        await task
        return ticks

    assert run(main()) == 20
    assert bytes(sub.next().payload) == b"after 20 ticks"  # type: ignore[union-attr]


class CountingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Counts how often the event loop polls for I/O."""

    polls = 0

    def select(self, timeout: Any = None) -> Any:
        self.polls += 1
        return super().select(timeout)


def test_wait_does_not_spin_the_loop(pair: Pair) -> None:
    _, sub = pair
    selector = CountingSelector()
    loop = asyncio.SelectorEventLoop(selector)
    try:
        assert loop.run_until_complete(sub.wait_async(timeout=0.3)) is False
    finally:
        loop.close()
    # a spinning loop polls thousands of times in 0.3 s; ours wakes for the
    # helper's one report, plus a few polls of the loop's own bookkeeping
    assert selector.polls <= 10


def test_timeouts_and_arguments(pair: Pair, run: Runner) -> None:
    pub, sub = pair

    async def main() -> None:
        assert await sub.wait_async(0) is False
        assert await sub.wait_async(0.02) is False
        assert await sub.next_async(0.02) is None
        with pytest.raises(ValueError):
            await sub.wait_async(float("nan"))
        pub.append(1, b"x")
        assert await sub.wait_async(0) is True
        assert await sub.wait_async(None) is True
        msg = await sub.next_async(0)
        assert isinstance(msg, Message) and bytes(msg.payload) == b"x"

    run(main())


def test_cancellation_returns_and_leaves_the_subscriber_usable(pair: Pair, run: Runner) -> None:
    pub, sub = pair
    path = sub.path

    async def main() -> None:
        task = asyncio.ensure_future(sub.wait_async())
        await until(lambda: waiters(path) > 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert waiters(path) == 0
        for _ in range(3):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(sub.wait_async(), 0.01)
        assert waiters(path) == 0
        assert sub.next() is None  # usable at once
        waiting = asyncio.ensure_future(sub.next_async(timeout=10))
        await until(lambda: waiters(path) > 0)
        threading.Thread(target=pub.append, args=(3, b"late")).start()
        msg = await waiting
        assert msg is not None and bytes(msg.payload) == b"late"

    run(main())


def test_many_tasks_wait_on_one_subscriber(pair: Pair, run: Runner) -> None:
    pub, sub = pair

    async def main() -> List[bool]:
        tasks = [asyncio.ensure_future(sub.wait_async(timeout=10)) for _ in range(5)]
        await until(lambda: waiters(sub.path) >= 5)
        pub.append(1, b"for all")
        return list(await asyncio.gather(*tasks))

    assert run(main()) == [True] * 5


@pytest.mark.parametrize("closer", ["loop", "thread"])
def test_close_wakes_and_ends_pending_waits(qdir: str, run: Runner, closer: str) -> None:
    sub = Queue.open_subscriber(qdir, "closing")

    async def main() -> None:
        waits = [asyncio.ensure_future(sub.wait_async()) for _ in range(2)]
        nexts = asyncio.ensure_future(sub.next_async())
        messages: List[Message] = []

        async def consume() -> None:
            async for msg in sub.aiter():
                messages.append(msg)

        iterating = asyncio.ensure_future(consume())
        await until(lambda: waiters(qdir) >= 4)
        if closer == "loop":
            sub.close()
        else:
            await asyncio.get_running_loop().run_in_executor(None, sub.close)
        for task in waits + [nexts]:
            with pytest.raises(ClosedError):
                await task
        await iterating  # ends quietly
        assert messages == []
        with pytest.raises(ClosedError):
            await sub.wait_async()
        with pytest.raises(ClosedError):
            await sub.wait_async(0)

    run(main())
    assert sub.closed
    assert waiters(qdir) == 0
    deadline = time.monotonic() + 10
    while helper_threads("closing"):
        assert time.monotonic() < deadline, "helper thread still running after close"
        time.sleep(0.01)


def test_aiter_takes_messages_one_at_a_time(pair: Pair, run: Runner) -> None:
    pub, sub = pair
    pub.append_many(1, [b"%d" % i for i in range(10)])

    async def main() -> List[int]:
        seen = []
        async for msg in sub.aiter():
            seen.append(msg.seq)
            if len(seen) == 3:
                break
        return seen

    assert run(main()) == [0, 1, 2]
    assert sub.next().seq == 3  # type: ignore[union-attr]


def test_aiter_on_closed_subscriber_raises(qdir: str, run: Runner) -> None:
    sub = Queue.open_subscriber(qdir, "shut")
    sub.close()

    async def main() -> None:
        with pytest.raises(ClosedError):
            async for _ in sub.aiter():
                pass

    run(main())


def test_aiter_lets_other_tasks_run_during_a_flood(pair: Pair, run: Runner) -> None:
    pub, sub = pair
    pub.append_many(1, [b"x"] * 1000)

    async def main() -> int:
        turns = 0

        async def other() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(other())
        count = 0
        async for _ in sub.aiter():
            count += 1
            if count == 1000:
                break
        task.cancel()
        return turns

    assert run(main()) >= 10


def test_timeout_arguments_read_as_wait_reads_them(pair: Pair, run: Runner) -> None:
    pub, sub = pair

    async def main() -> None:
        with pytest.raises(TypeError):
            await sub.wait_async("1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await sub.next_async(b"1")  # type: ignore[arg-type]
        assert await sub.wait_async(-5) is False  # negative: only checks
        pub.append(1, b"x")
        assert await sub.wait_async(1e300) is True  # huge: no limit

    run(main())
