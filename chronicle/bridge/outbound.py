"""``bridge out``: a named subscriber of a local queue that publishes every
message to a JetStream stream, exactly once and in order.

How nothing is lost or doubled:

* Each message carries ``Nats-Expected-Last-Sequence`` (the stream
  sequence its predecessor was, or will be, stored at) and
  ``Nats-Expected-Last-Msg-Id`` (its predecessor's id). JetStream stores it
  only right after that predecessor, so the stream never holds a message
  whose predecessor is missing, even when a publish is lost in a server
  crash while later ones get through after a reconnect. It also carries
  ``Nats-Msg-Id`` (queue id and seq) for JetStream's duplicate window.
  The first message after a resynchronization expects only the sequence:
  the resynchronization read the stream's last message itself, and
  JetStream forgets the last id after a restart once it is older than the
  duplicate window.
* Up to ``window`` messages are unacknowledged at a time. Acknowledgements
  are taken in order; the first failure, or the first one missing after
  ``ack_timeout``, abandons the window and *resynchronizes*: the bridge
  asks the stream for its last message of this queue, repositions the
  subscriber right after it, and goes on from there.
* The subscriber's position is committed only when every message read has
  been acknowledged (the pipeline is drained at least every
  ``commit_interval``), so a crash resumes at or before the first message
  the stream may lack, and the resynchronization at start skips what it
  already holds.

The stream must be dedicated to this bridge: another publisher on it would
make the expected sequences fail (each failure costs a resynchronization).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import Any, Deque, Dict, NamedTuple, Optional, Sequence, Tuple

from .._binding import PathLike
from ..errors import SeqRangeError
from ..queue import Queue, Subscriber
from .acked import AckedPublisher, PubAck
from .connection import Connection, connect
from .control import StopSignal, cancel
from .errors import BridgeError, StreamNotFoundError
from .local import end_seq, queue_identity
from .report import Emit, Rate, event, report_loop
from .streams import (
    ERR_NO_MESSAGE, ERR_STREAM_NOT_FOUND, StreamOptions, check_name, default_subject, ensure_stream, is_transient,
)
from .wire import WireOrigin, headers_for, parse_origin

__all__ = ["BridgeOut"]

_FILL_CHUNK = 256  # messages published before letting acknowledgements in
_IDLE_WAIT_S = 1.0


class _Pending(NamedTuple):
    seq: int
    fut: "asyncio.Future[PubAck]"
    deadline: float


class BridgeOut:
    """Publish the queue at ``queue`` to the JetStream stream ``stream``.

    ``servers``: NATS URLs (several for a cluster). ``subject``: where to
    publish (default ``chronicle.<stream>``). ``reader``: the subscriber
    name whose position is the bridge's (default ``bridge-<stream>``).
    ``create``: make the stream with ``stream_options`` if absent.
    ``emit`` receives events and, every ``report_every`` seconds, progress
    (see :meth:`stats`). Run with ``await bridge.run()``; :meth:`stop` ends
    it cleanly (drain, commit, close).
    """

    def __init__(
        self,
        queue: PathLike,
        *,
        servers: Sequence[str],
        stream: str,
        subject: Optional[str] = None,
        reader: Optional[str] = None,
        create: bool = False,
        stream_options: Optional[StreamOptions] = None,
        window: int = 1024,
        ack_timeout: float = 5.0,
        commit_interval: float = 1.0,
        report_every: Optional[float] = 10.0,
        emit: Optional[Emit] = None,
        connect_timeout: float = 5.0,
        api_timeout: float = 5.0,
    ) -> None:
        self.queue = queue
        self.servers = list(servers)
        self.stream = check_name("stream", stream)
        self.subject = subject or default_subject(stream)
        self.reader = reader or f"bridge-{stream}"
        self.create = create
        self.stream_options = stream_options or StreamOptions()
        if window < 1:
            raise ValueError("window must be at least 1")
        if ack_timeout <= 0 or commit_interval <= 0:
            raise ValueError("ack_timeout and commit_interval must be positive")
        self.window = window
        self.ack_timeout = ack_timeout
        self.commit_interval = commit_interval
        self.report_every = report_every
        self.emit: Emit = emit or (lambda _r: None)
        self.connect_timeout = connect_timeout
        self.api_timeout = api_timeout
        # progress
        self.published = 0  # messages handed to NATS (resent ones again)
        self.acked = 0  # acknowledgements of messages stored (or already there)
        self.duplicates = 0  # acknowledgements JetStream flagged as duplicates
        self.resyncs = 0
        self.acked_next = 0  # every seq below this is on the stream
        self._rate = Rate()
        self._stop = StopSignal()
        self._inflight: Deque[_Pending] = collections.deque()
        self._expected = 0  # Nats-Expected-Last-Sequence of the next publish
        self._chained = False  # whether the next publish expects its predecessor's id
        self._streak = 0  # resyncs since the last acknowledgement
        self._conn: Optional[Connection] = None
        self._sub: Optional[Subscriber] = None
        self._pub: Optional[AckedPublisher] = None
        self._js: Any = None
        self._qhex = ""

    # ---- control ---------------------------------------------------------

    def stop(self) -> None:
        """Ask the bridge to stop: it drains what is in flight (for up to
        ``ack_timeout``), commits and returns from :meth:`run`. Callable from
        any thread and from signal handlers."""
        self._stop.set()

    async def stats(self) -> Dict[str, Any]:
        """Progress: rate (acknowledged msg/s since the last call), counts,
        the last acknowledged seq and the lag (messages in the queue not yet
        acknowledged by the stream)."""
        lag: Optional[int] = None
        with contextlib.suppress(Exception):  # the queue may be mid-roll; lag is informational
            end = await asyncio.get_running_loop().run_in_executor(None, end_seq, self.queue)
            lag = max(0, end - self.acked_next)
        conn = self._conn
        return {
            "bridge": "out",
            "event": "progress",
            "rate": self._rate.update(self.acked),
            "published": self.published,
            "acked": self.acked,
            "acked_seq": self.acked_next - 1 if self.acked_next else None,
            "lag": lag,
            "in_flight": len(self._inflight),
            "duplicates": self.duplicates,
            "resyncs": self.resyncs,
            "reconnects": conn.reconnects if conn else 0,
        }

    # ---- run -----------------------------------------------------------------

    async def run(self) -> None:
        """Bridge until :meth:`stop`; raises BridgeError (or a subclass,
        or NatsUnavailableError) when it cannot start or go on."""
        self._stop.bind()
        sub = self._sub = Queue.open_subscriber(self.queue, self.reader)
        try:
            self._qhex = queue_identity(self.queue).hex()
            self._conn = await connect(self.servers, name=f"chronicle bridge out {self.stream}",
                                       connect_timeout=self.connect_timeout)
            try:
                self._js = self._conn.nc.jetstream(timeout=self.api_timeout)
                await ensure_stream(self._js, self.stream, [self.subject], create=self.create,
                                    options=self.stream_options, timeout=max(self.api_timeout, 10.0))
                self._pub = AckedPublisher(self._conn.nc)
                await self._pub.start()
                self.acked_next = sub.next_seq
                if not await self._sync():
                    return
                self.emit(event("out", "ready", queue=str(self.queue), stream=self.stream, subject=self.subject,
                                reader=self.reader, next_seq=self.acked_next, server=self._conn.connected_url))
                reporter = None
                if self.report_every:
                    reporter = asyncio.ensure_future(
                        report_loop(self.report_every, self.stats, self.emit, self._stop.event))
                try:
                    await self._pump()
                finally:
                    if reporter is not None:
                        reporter.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await reporter
                await self._drain()
                self.emit(event("out", "stopped", acked=self.acked, next_seq=self.acked_next))
            finally:
                await self._conn.close()
        finally:
            sub.close()

    async def _pump(self) -> None:
        assert self._sub is not None and self._pub is not None and self._conn is not None
        sub, pub, inflight, conn = self._sub, self._pub, self._inflight, self._conn
        stop_task = self._stop.waiter()
        last_commit = time.monotonic()
        draining = False  # stop reading until the window is empty, then commit
        try:
            while not self._stop.requested:
                failure = self._settle()
                if failure is None and conn.reconnected.is_set():
                    conn.reconnected.clear()
                    if inflight:  # their acknowledgements died with the old connection
                        failure = "reconnected"
                if failure is not None:
                    if not await self._resync(failure):
                        return
                    draining, last_commit = False, time.monotonic()
                    continue
                room = self.window - len(inflight)
                if room > 0 and not draining:
                    sent = 0
                    try:
                        while sent < min(room, _FILL_CHUNK):
                            msg = sub.next()
                            if msg is None:
                                break
                            hdrs = headers_for(self._qhex, msg.seq, msg.type_id, msg.timestamp_ns, self._expected,
                                               self._chained)
                            fut = await pub.publish(self.subject, bytes(msg.payload), hdrs)
                            inflight.append(_Pending(msg.seq, fut, time.monotonic() + self.ack_timeout))
                            self._expected += 1
                            self._chained = True
                            self.published += 1
                            sent += 1
                    except Exception as e:  # the client refused it: reconnecting, buffer full
                        if _too_large(e):
                            raise BridgeError(f"seq {sub.next_seq - 1} does not fit in a NATS message: {e} "
                                              "(raise max_payload in the server configuration)") from None
                        if not is_transient(e):
                            raise
                        if not await self._resync(f"publish failed: {type(e).__name__}"):
                            return
                        continue
                    if sent:
                        await asyncio.sleep(0)  # let acknowledgements in
                        continue
                now = time.monotonic()
                if not inflight:
                    if sub.next_seq == self.acked_next:
                        sub.commit()
                    draining, last_commit = False, now
                elif now - last_commit >= self.commit_interval:
                    draining = True
                if inflight:
                    head = inflight[0]
                    left = head.deadline - now
                    if left <= 0:
                        if not await self._resync(f"no acknowledgement within {self.ack_timeout:g} s"):
                            return
                        continue
                    waits = {head.fut, stop_task}
                    reader = None
                    if room > 0 and not draining:
                        reader = asyncio.ensure_future(sub.wait_async(left))
                        waits.add(reader)
                    await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                    await cancel(reader)
                else:
                    reader = asyncio.ensure_future(sub.wait_async(_IDLE_WAIT_S))
                    await asyncio.wait({reader, stop_task}, return_when=asyncio.FIRST_COMPLETED)
                    await cancel(reader)
        finally:
            await cancel(stop_task)

    def _settle(self) -> Optional[str]:
        """Take the acknowledgements that arrived, in order; the reason to
        resynchronize if one failed."""
        inflight = self._inflight
        while inflight and inflight[0].fut.done():
            p = inflight.popleft()
            if p.fut.cancelled():
                return "publish abandoned"
            exc = p.fut.exception()
            if exc is not None:
                return f"seq {p.seq} refused: {exc}"
            if p.fut.result().duplicate:
                self.duplicates += 1
            self.acked += 1
            self.acked_next = p.seq + 1
            self._streak = 0
        return None

    async def _drain(self) -> None:
        """At stop: wait (up to ack_timeout) for what is in flight, then
        commit the position after the last acknowledged message."""
        sub = self._sub
        assert sub is not None
        deadline = time.monotonic() + self.ack_timeout
        while self._settle() is None and self._inflight:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.wait({self._inflight[0].fut}, timeout=left)
        self._abandon()
        if sub.next_seq != self.acked_next:
            sub.seek(self.acked_next)  # unacknowledged reads are read again next time
        sub.commit(sync=True)

    def _abandon(self) -> None:
        for p in self._inflight:
            if p.fut.done() and not p.fut.cancelled():
                p.fut.exception()  # retrieved: no "never retrieved" warning
        self._inflight.clear()
        if self._pub is not None:
            self._pub.abandon()

    # ---- resynchronization ----------------------------------------------

    async def _resync(self, reason: str) -> bool:
        """Abandon the window, learn where the stream stands and go on from
        there. False if the bridge was stopped meanwhile."""
        self.resyncs += 1
        self._streak += 1
        self._abandon()
        self.emit(event("out", "resync", reason=reason, acked_seq=self.acked_next - 1))
        if self._streak > 1:  # no progress since the last one: back off
            if await self._stop.sleep(min(0.05 * 2 ** (self._streak - 2), 1.0)):
                return False
        return await self._sync()

    async def _sync(self) -> bool:
        """Position the subscriber after the last message of this queue
        that the stream holds, and set the expected sequence."""
        sub = self._sub
        assert sub is not None
        delay = 0.05
        while True:
            if self._stop.requested:
                return False
            try:
                last_seq, held = await self._stream_tail()
                break
            except Exception as e:
                if _is_stream_missing(e):
                    if not self.create:
                        raise StreamNotFoundError(f"stream {self.stream!r} no longer exists") from None
                    await ensure_stream(self._js, self.stream, [self.subject], create=True,
                                        options=self.stream_options, timeout=max(self.api_timeout, 10.0))
                    continue
                if not is_transient(e):
                    raise
                if await self._stop.sleep(delay):
                    return False
                delay = min(delay * 2, 1.0)
        target = self.acked_next if held is None else held + 1
        if held is not None and held + 1 < self.acked_next:
            self.emit(event("out", "warning", message=f"stream {self.stream!r} lacks seqs {held + 1}.."
                            f"{self.acked_next - 1} it had acknowledged; sending them again"))
        if sub.next_seq != target:
            try:
                sub.seek(target)
            except SeqRangeError as e:
                if held is not None and held + 1 < self.acked_next:
                    target = self.acked_next  # gone from the queue too: nothing to resend
                    sub.seek(target)
                else:
                    raise BridgeError(f"stream {self.stream!r} holds seq {held} of this queue, "
                                      f"which does not fit the queue: {e}") from None
        self.acked_next = target
        sub.commit()
        self._expected = last_seq
        self._chained = False
        return True

    async def _stream_tail(self) -> Tuple[int, Optional[int]]:
        """(the stream's last sequence, the last seq of this queue it holds
        on our subject, or None)."""
        import nats.js.errors

        info = await self._js.stream_info(self.stream)
        last_seq = int(info.state.last_seq)
        if not info.state.messages:
            return last_seq, None
        try:
            m = await self._js.get_msg(self.stream, subject=self.subject)
        except nats.js.errors.NotFoundError as e:
            if e.err_code not in (None, ERR_NO_MESSAGE):
                raise
            return last_seq, None
        o = parse_origin(m.headers)
        if isinstance(o, WireOrigin) and o.queue_id == self._qhex:
            return last_seq, o.seq
        return last_seq, None


def _too_large(e: BaseException) -> bool:
    import nats.errors

    return isinstance(e, nats.errors.MaxPayloadError)


def _is_stream_missing(e: BaseException) -> bool:
    import nats.js.errors

    return isinstance(e, nats.js.errors.NotFoundError) and e.err_code == ERR_STREAM_NOT_FOUND

