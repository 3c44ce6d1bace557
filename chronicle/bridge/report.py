"""What a running bridge tells its operator: events (ready, resync, skip,
gap, stop) and periodic progress (rates, counts, lag), as dicts for
callers and as one line of text each for a terminal or a log."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Dict

__all__ = ["Report", "Emit", "Rate", "event", "report_loop", "format_line"]

Report = Dict[str, Any]  # always has "bridge" ("out"/"in") and "event"
Emit = Callable[[Report], None]


class Rate:
    """Messages per second between two readings of a counter."""

    def __init__(self) -> None:
        self._t = time.monotonic()
        self._n = 0

    def update(self, count: int) -> float:
        now = time.monotonic()
        dt = now - self._t
        rate = (count - self._n) / dt if dt > 0 else 0.0
        self._t, self._n = now, count
        return rate


def event(bridge: str, name: str, **fields: Any) -> Report:
    out: Report = {"bridge": bridge, "event": name}
    out.update(fields)
    return out


async def report_loop(every: float, snapshot: Callable[[], Awaitable[Report]], emit: Emit,
                      stopped: asyncio.Event) -> None:
    """``emit(await snapshot())`` every ``every`` seconds until ``stopped``."""
    while True:
        try:
            await asyncio.wait_for(stopped.wait(), every)
            return
        except asyncio.TimeoutError:
            emit(await snapshot())


def format_line(r: Report) -> str:
    """``bridge out: 1234.5 msg/s, published 100000, ...`` for progress,
    ``bridge in: ready (queue ./q, stream ORDERS, ...)`` for events."""
    fields = [f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in r.items()
              if k not in ("bridge", "event", "rate") and v is not None]
    if r["event"] == "progress":
        return ", ".join([f"bridge {r['bridge']}: {r.get('rate', 0.0):.1f} msg/s", *fields])
    return f"bridge {r['bridge']}: {r['event']}" + (f" ({', '.join(fields)})" if fields else "")


def _fmt(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, float) else str(v)
