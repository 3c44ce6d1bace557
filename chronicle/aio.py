"""asyncio support: await messages without blocking or spinning the loop.

:meth:`Subscriber.wait_async <chronicle.queue.Subscriber.wait_async>`,
:meth:`~chronicle.queue.Subscriber.next_async` and
:meth:`~chronicle.queue.Subscriber.aiter` call the functions here. Any
asyncio event loop works (the standard one, uvloop).

How a wait works: the loop's thread checks for a message and registers as a
sleeper with the queue (``chron_reader_wait_begin``); a helper thread owned
by the subscriber then sleeps on the queue's futex (``chron_reader_sleep``,
which touches only the queue's shared metadata, never the reader) until the
publisher wakes it, and hands the wake-up to the loop with
``call_soon_threadsafe``.
The loop itself never blocks and never polls; the publisher still makes no
system call unless a reader sleeps. The reader is used only by the loop's
thread, so the subscriber stays usable at once after a cancellation.

Cancellation (``asyncio.wait_for``, ``Task.cancel``) withdraws the waiter and
wakes the helper at once. Closing the subscriber ends every pending wait:
``wait_async``/``next_async`` raise :class:`~chronicle.errors.ClosedError`,
``aiter`` stops.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional, Set

from ._binding import ffi, lib, raise_error
from .errors import ClosedError

if TYPE_CHECKING:
    from .queue import Message, Subscriber

__all__ = ["wait_async", "next_async", "aiter"]

# the helper returns to the loop at least this often (a safety net only:
# the publisher, a cancellation or close() wake it sooner); the core's own
# 100 ms sleep slices stay inside chron_reader_sleep
_SLICE_NS = 1_000_000_000
_IDLE_S = 10.0  # an idle helper thread exits after this long
_FAIR_EVERY = 64  # aiter lets other tasks run after this many messages in a row


class _Request:
    """One sleep handed to the helper thread."""

    __slots__ = ("loop", "future", "token", "timeout_ns", "abandoned", "sleeping")

    def __init__(self, loop: asyncio.AbstractEventLoop, token: int, timeout_ns: int) -> None:
        self.loop = loop
        self.future: "asyncio.Future[None]" = loop.create_future()
        self.token = token
        self.timeout_ns = timeout_ns
        self.abandoned = False  # the awaiting task is gone (cancelled)
        self.sleeping = False  # the helper is in (or entering) the C sleep

    def wake_future(self, error: Optional[BaseException] = None) -> None:
        """Resolve the future from any thread (a closed loop is ignored)."""
        try:
            self.loop.call_soon_threadsafe(_settle, self.future, error)
        except RuntimeError:  # the loop is closed: nobody is waiting
            pass


def _settle(future: "asyncio.Future[None]", error: Optional[BaseException]) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class _Sleeper:
    """The helper thread of one subscriber and the waits registered with it.

    ``_lock`` orders registration (begin/end on the loop's thread) against
    close() from any thread. It is never held while taking the subscriber's
    own wait lock, which close() holds when it calls :meth:`on_close`.
    """

    def __init__(self, sub: "Subscriber") -> None:
        self._sub_ref = weakref.ref(sub)
        self._lock = threading.Lock()
        self._requests: "queue.SimpleQueue[Optional[_Request]]" = queue.SimpleQueue()
        self._pending: Set[_Request] = set()  # registered: wait_end still owed
        self._thread: Optional[threading.Thread] = None
        self._token = ffi.new("uint64_t *")

    # ---- the loop's thread -----------------------------------------------

    async def sleep(self, sub: "Subscriber", timeout_ns: int) -> bool:
        """True if a message is ready; else sleep until woken or timeout
        (the caller re-checks)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            h = sub._live()  # raises when closed; gives back any read-ahead
            rc = lib.chron_reader_wait_begin(h, self._token)
            if rc < 0:
                raise_error(rc)
            if rc == 1:
                return True
            req = _Request(loop, int(self._token[0]), timeout_ns)
            self._pending.add(req)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"chronicle-wait-{sub.name}", daemon=True
                )
                self._thread.start()
            self._requests.put(req)
        try:
            await req.future
        finally:
            self._withdraw(sub, req)
        return False

    def _withdraw(self, sub: "Subscriber", req: _Request) -> None:
        with self._lock:
            if req not in self._pending:
                return  # close() withdrew it already
            h = sub._h
            if h is None:
                return  # close() is under way: its on_close() withdraws it
            self._pending.discard(req)
            lib.chron_reader_wait_end(h)
            if not req.future.done() or req.future.cancelled():
                req.abandoned = True
                if req.sleeping:
                    lib.chron_reader_wake(h)  # free the helper for the next wait

    # ---- close(), any thread, with the subscriber's wait lock held -----------

    def on_close(self, h: Any) -> None:
        """Withdraw every waiter, wake the helper and fail pending waits."""
        with self._lock:
            pending, self._pending = self._pending, set()
            for req in pending:
                lib.chron_reader_wait_end(h)
                req.abandoned = True
            lib.chron_reader_wake(h)
            self._requests.put(None)
        for req in pending:
            req.wake_future(ClosedError("subscriber closed while waiting"))

    # ---- the helper thread ----------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                req = self._requests.get(timeout=_IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._requests.empty():
                        self._thread = None
                        return
                continue
            if req is None:
                return
            if self._serve(req):
                req.wake_future()

    def _serve(self, req: _Request) -> bool:
        """Sleep for one request; False if it was dropped instead."""
        sub = self._sub_ref()
        if sub is None:
            return False
        try:
            h = sub._pin()  # close() now defers freeing the reader
        except ClosedError:
            return False  # close() has failed the request already
        try:
            with self._lock:
                if req.abandoned:
                    return False
                req.sleeping = True
            # returns when woken, on timeout or on a signal: the loop re-checks
            lib.chron_reader_sleep(h, req.token, req.timeout_ns)
            with self._lock:
                req.sleeping = False
            return True
        finally:
            sub._unpin()


def _sleeper_of(sub: "Subscriber") -> _Sleeper:
    sleeper: Optional[_Sleeper] = sub._sleeper
    if sleeper is None:
        sleeper = sub._sleeper = _Sleeper(sub)
    return sleeper


def _ready(sub: "Subscriber") -> bool:
    """Whether a message is ready; a close() from another thread meanwhile
    waits for the check."""
    h = sub._pin()
    try:
        return bool(lib.chron_reader_ready(h))
    finally:
        sub._unpin()


def _deadline(timeout: Optional[float]) -> Optional[int]:
    """The monotonic deadline of ``timeout`` seconds, as Subscriber.wait
    reads it; None for no limit."""
    if timeout is None:
        return None
    if isinstance(timeout, (str, bytes)):  # float() would parse them
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout != timeout:  # NaN
        raise ValueError("timeout must be a number")
    seconds = max(0.0, float(timeout))
    if seconds >= 1e9:  # ~31 years: forever
        return None
    return time.monotonic_ns() + int(seconds * 1e9)


async def wait_async(sub: "Subscriber", timeout: Optional[float] = None) -> bool:
    """Wait until a message is ready: True when one is, False on timeout.

    The awaitable form of :meth:`Subscriber.wait`: ``timeout`` in seconds,
    None waits forever, 0 only checks. Raises
    :class:`~chronicle.errors.ClosedError` if the subscriber is or gets
    closed.
    """
    deadline = _deadline(timeout)
    if _ready(sub):
        return True
    sleeper = _sleeper_of(sub)
    while True:
        if deadline is None:
            slice_ns = _SLICE_NS
        else:
            slice_ns = min(_SLICE_NS, deadline - time.monotonic_ns())
            if slice_ns <= 0:
                return _ready(sub)
        if await sleeper.sleep(sub, slice_ns):
            return True


async def next_async(sub: "Subscriber", timeout: Optional[float] = None) -> Optional["Message"]:
    """The next message, waiting for it without blocking the loop; None on
    timeout (seconds; None waits forever)."""
    deadline = _deadline(timeout)
    while True:
        msg = sub.next()
        if msg is not None:
            return msg
        left = None if deadline is None else max(0.0, (deadline - time.monotonic_ns()) / 1e9)
        if not await wait_async(sub, left):
            return sub.next()


async def aiter(sub: "Subscriber") -> AsyncIterator["Message"]:
    """Every message from the subscriber's position on, waiting for new
    ones without blocking the loop; ends when the subscriber is closed.

    Messages are taken one at a time, so leaving the loop early consumes
    nothing beyond the last message received. Other tasks get a turn after
    every 64 messages taken without waiting.
    """
    sub._live()
    streak = 0
    while True:
        try:
            msg = sub.next()
            if msg is None:
                streak = 0
                await wait_async(sub)
                continue
        except ClosedError:
            if sub.closed:
                return
            raise
        yield msg
        streak += 1
        if streak >= _FAIR_EVERY:
            streak = 0
            await asyncio.sleep(0)
