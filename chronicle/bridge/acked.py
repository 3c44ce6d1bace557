"""Publishing to JetStream without waiting: each publish gets a future
that JetStream's acknowledgement (or error) settles.

nats-py has ``publish_async`` too, but an error reply there raises inside
its reply callback and leaves the future pending for ever, and there is no
time limit; here every reply settles its future, and the caller owns the
time limits.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Mapping, NamedTuple, Optional

__all__ = ["PubAck", "PublishError", "AckedPublisher"]


class PubAck(NamedTuple):
    stream_seq: int
    duplicate: bool


class PublishError(Exception):
    """JetStream refused a message, or nothing could take it."""

    def __init__(self, description: str, code: int = 0, err_code: int = 0) -> None:
        super().__init__(description)
        self.description = description
        self.code = code
        self.err_code = err_code


class AckedPublisher:
    """Publishes with a reply subject of its own, one token per message."""

    def __init__(self, nc: Any) -> None:
        self._nc = nc
        self._prefix = ""
        self._next = 0
        self._pending: Dict[str, "asyncio.Future[PubAck]"] = {}
        self._sub: Any = None

    async def start(self) -> None:
        self._prefix = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._prefix + ".*", cb=self._on_reply)

    async def publish(self, subject: str, payload: bytes, headers: Mapping[str, str]) -> "asyncio.Future[PubAck]":
        """Send one message; the future settles with its PubAck or PublishError."""
        token = str(self._next)
        self._next += 1
        fut: "asyncio.Future[PubAck]" = asyncio.get_running_loop().create_future()
        self._pending[token] = fut
        try:
            await self._nc.publish(subject, payload, reply=f"{self._prefix}.{token}", headers=dict(headers))
        except BaseException:
            self._pending.pop(token, None)
            raise
        return fut

    def abandon(self) -> None:
        """Forget every unsettled publish (their late replies are ignored)."""
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def _on_reply(self, msg: Any) -> None:
        fut = self._pending.pop(msg.subject[len(self._prefix) + 1 :], None)
        if fut is None or fut.done():
            return
        status: Optional[str] = msg.headers.get("Status") if msg.headers else None
        if status == "503":  # no responders: no stream takes the subject (yet)
            fut.set_exception(PublishError("no stream answered (no responders)", 503))
            return
        try:
            resp = json.loads(msg.data)
        except ValueError:
            fut.set_exception(PublishError(f"unreadable acknowledgement {bytes(msg.data[:80])!r}"))
            return
        err = resp.get("error")
        if err:
            fut.set_exception(PublishError(str(err.get("description", err)), int(err.get("code", 0)),
                                           int(err.get("err_code", 0))))
            return
        fut.set_result(PubAck(int(resp.get("seq", 0)), bool(resp.get("duplicate", False))))
