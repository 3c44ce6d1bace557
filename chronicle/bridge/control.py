"""Stopping a running bridge from anywhere (a signal handler, another
thread), and the small waits built on it."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Optional

__all__ = ["StopSignal", "cancel"]


class StopSignal:
    """A stop request: a flag any thread may set, and an asyncio.Event for
    the loop that :meth:`bind` attached it to."""

    def __init__(self) -> None:
        self.requested = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._event: Optional[asyncio.Event] = None

    def bind(self) -> None:
        """Attach to the running loop (at the start of ``run``)."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        if self.requested:
            self._event.set()

    def set(self) -> None:
        self.requested = True
        loop, ev = self._loop, self._event
        if loop is not None and ev is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
                loop.call_soon_threadsafe(ev.set)

    @property
    def event(self) -> asyncio.Event:
        assert self._event is not None, "bind() first"
        return self._event

    def waiter(self) -> "asyncio.Future[Any]":
        """A task that completes on the stop request (cancel it when done)."""
        return asyncio.ensure_future(self.event.wait())

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``, less if a stop comes; True if stopping."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.event.wait(), seconds)
        return self.requested


async def cancel(task: "Optional[asyncio.Future[Any]]") -> None:
    """Cancel a helper task and wait until it is gone."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
