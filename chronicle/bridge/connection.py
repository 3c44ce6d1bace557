"""Connecting to NATS with nats-py (the ``bridge`` extra): fail fast and
clearly when no server answers at start, then reconnect for ever once
connected, so that a bridge rides out server restarts and fail-overs."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

from ..tools.errors import require
from .errors import NatsUnavailableError

__all__ = ["import_nats", "split_servers", "Connection", "connect"]

_RECONNECT_WAIT_S = 0.25
_PING_INTERVAL_S = 5  # a silent server is noticed within ~3 pings
_MAX_OUTSTANDING_PINGS = 3


def import_nats() -> Any:
    """The nats-py package, or MissingExtraError naming the extra."""
    return require("nats", "the NATS bridge", "bridge")


def split_servers(servers: Sequence[str]) -> List[str]:
    """Server URLs from repeated and comma-separated values; a bare
    host:port gets the nats:// scheme."""
    out: List[str] = []
    for item in servers:
        for url in item.split(","):
            url = url.strip()
            if url:
                out.append(url if "://" in url else f"nats://{url}")
    if not out:
        raise ValueError("no NATS server URL given")
    return out


@dataclass
class Connection:
    """A connected client and what happened to its connection."""

    nc: Any
    servers: List[str]
    disconnects: int = 0
    reconnects: int = 0
    errors: int = 0
    last_error: Optional[str] = None
    reconnected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def connected_url(self) -> str:
        url = getattr(self.nc, "connected_url", None)
        return url.geturl() if url is not None else "-"

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.nc.close(), 5.0)
        except Exception:  # closing is best effort: the process is stopping
            pass


async def connect(servers: Sequence[str], *, name: str, connect_timeout: float = 5.0) -> Connection:
    """Connect to the first server of ``servers`` that answers.

    Raises :class:`NatsUnavailableError` if none does (each is tried twice).
    Once connected the client reconnects without limit, trying every
    server it knows (those given and those the cluster advertises).
    """
    nats = import_nats()
    urls = split_servers(servers)
    state = Connection(nc=None, servers=urls)

    async def on_error(e: Exception) -> None:
        state.errors += 1
        state.last_error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__

    async def on_disconnect() -> None:
        state.disconnects += 1

    async def on_reconnect() -> None:
        state.reconnects += 1
        state.reconnected.set()

    try:
        nc = await nats.connect(
            servers=urls,
            name=name,
            connect_timeout=connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=1,  # at start: give up after two tries per server
            reconnect_time_wait=_RECONNECT_WAIT_S,
            ping_interval=_PING_INTERVAL_S,
            max_outstanding_pings=_MAX_OUTSTANDING_PINGS,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
    except Exception as e:
        why = state.last_error or f"{type(e).__name__}: {e}"
        raise NatsUnavailableError(f"cannot connect to NATS at {', '.join(urls)}: {why}") from None
    # connected: from now on, reconnect for ever (nats-py reads this option
    # on each reconnection attempt)
    nc.options["max_reconnect_attempts"] = -1
    state.nc = nc
    return state
