"""``bridge in``: a durable JetStream pull consumer that appends each
message of a stream to a local queue, exactly once and in order.

How nothing is lost or doubled:

* Each message is appended (type id as sent, payload behind the envelope
  of :mod:`chronicle.bridge.envelope` carrying the origin queue id, seq,
  timestamp and stream sequence) before it is acknowledged to JetStream, so
  a crash leaves it either appended or still unacknowledged. In plain mode
  the payload is appended as is, and :mod:`chronicle.bridge.seqmap` keeps
  the origin seqs beside the queue instead (no origin timestamp).
* The local queue's last record says what was appended last. At start and
  for every message, anything of the same origin at or below that origin
  seq is skipped as a duplicate (JetStream redelivers what was delivered
  but not acknowledged).
* Messages an earlier run was handed but never appended, and any a lost
  pull left behind, come back only after the consumer's ack wait, behind
  newer ones. So the bridge reads them from the stream directly: at start,
  everything up to what the consumer reports delivered; later, whenever a
  message arrives whose origin seq is not the next one. A seq the stream no
  longer holds (limits, a purge) is counted and reported as a gap.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import re
import socket
import time
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

from .._binding import PathLike
from ..queue import Publisher, Queue
from .connection import Connection, connect
from .control import StopSignal, cancel
from .envelope import pack_header
from .errors import ConsumerMismatchError, NatsUnavailableError, StreamNotFoundError
from .local import last_bridged
from .seqmap import SeqMap
from .report import Emit, Rate, event, report_loop
from .streams import (
    ERR_CONSUMER_NOT_FOUND, ERR_NO_MESSAGE, ERR_STREAM_NOT_FOUND, StreamOptions, check_name, default_subject,
    ensure_stream, is_transient, retry_transient,
)
from .wire import WireOrigin, parse_origin

__all__ = ["BridgeIn", "default_durable"]

_API = "$JS.API"
_EXPIRES_S = 30.0  # lifetime of one pull request
_WATCHDOG_BEATS = 3  # heartbeats missed before a pull is presumed lost
_REPORTED_SKIPS = 10  # skipped messages reported one by one; later ones only counted


def default_durable(queue: PathLike) -> str:
    """``chronicle-<host>-<queue directory name>``: one durable per host and
    queue, so that two hosts reading one stream do not share a consumer."""
    base = os.path.basename(os.path.normpath(os.fsdecode(os.fspath(queue)))) or "queue"
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"chronicle-{socket.gethostname()}-{base}")[:200]


class _Puller:
    """Keeps pull requests outstanding so that messages flow as they are
    stored, and tracks how many more the server owes (credits)."""

    def __init__(self, nc: Any, stream: str, durable: str, batch: int, heartbeat: float) -> None:
        self._nc = nc
        self._next_subject = f"{_API}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.batch = batch
        self.heartbeat = heartbeat
        self.msgs: Deque[Any] = collections.deque()
        self.arrived = asyncio.Event()
        self.credits = 0
        self.trouble: Optional[str] = None  # a status that needs the consumer looked at
        self._heard = time.monotonic()
        self._inbox = ""

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(self._inbox, cb=self._on_msg)

    def reset(self) -> None:
        """Forget the outstanding requests (lost in a reconnect)."""
        self.credits = 0
        self._heard = time.monotonic()

    async def top_up(self) -> None:
        """Ask for another batch when half the last one has arrived, or when
        no heartbeat came for a while (the request died with its server)."""
        if self.credits > 0 and time.monotonic() - self._heard > _WATCHDOG_BEATS * self.heartbeat:
            self.reset()
        if self.credits > self.batch // 2:
            return
        req = {"batch": self.batch, "expires": int(_EXPIRES_S * 1e9), "idle_heartbeat": int(self.heartbeat * 1e9)}
        await self._nc.publish(self._next_subject, json.dumps(req).encode(), reply=self._inbox)
        self.credits += self.batch
        self._heard = time.monotonic()

    async def _on_msg(self, msg: Any) -> None:
        self._heard = time.monotonic()
        if msg.reply:  # a stored message ($JS.ACK... reply)
            self.credits -= 1
            self.msgs.append(msg)
            self.arrived.set()
            return
        hdrs = msg.headers or {}
        status = hdrs.get("Status", "")
        if status == "100":  # idle heartbeat
            return
        pending = hdrs.get("Nats-Pending-Messages")
        if status in ("404", "408", "409") and pending is not None and pending.isdigit():
            self.credits -= int(pending)  # that request is over: it owes no more
        else:
            self.credits = 0
        desc = hdrs.get("Description", "").split("\n")[0].strip()
        if status == "503" or (status == "409" and "Deleted" in desc):
            self.trouble = f"{status} {desc or 'no responders'}"
        self.arrived.set()


class BridgeIn:
    """Append the stream ``stream`` to the local queue at ``queue``.

    ``servers``: NATS URLs. ``durable``: the consumer's name (default
    :func:`default_durable`); created if absent (ack policy all, starting
    after the local queue's last bridged message). ``filter_subject``:
    consume only these subjects. ``create``: make the stream (subject
    ``subject``, default ``chronicle.<stream>``) with ``stream_options``.
    ``batch``: messages per pull request. ``sync``: msync the queue before
    each acknowledgement (survives power loss, slower). ``plain``: append
    payloads unchanged (readers that decode fixed layouts work as on a local
    queue), keeping the origin seqs in ``bridge-in.map`` instead of an
    envelope; the origin timestamp is then not kept. ``emit`` gets events
    and progress reports (:meth:`stats`). Run with ``await bridge.run()``;
    :meth:`stop` ends it cleanly.
    """

    def __init__(
        self,
        queue: PathLike,
        *,
        servers: List[str],
        stream: str,
        durable: Optional[str] = None,
        filter_subject: Optional[str] = None,
        create: bool = False,
        subject: Optional[str] = None,
        stream_options: Optional[StreamOptions] = None,
        batch: int = 256,
        ack_wait: float = 30.0,
        sync: bool = False,
        plain: bool = False,
        segment_size: Optional[int] = None,
        heartbeat: float = 1.0,
        report_every: Optional[float] = 10.0,
        emit: Optional[Emit] = None,
        connect_timeout: float = 5.0,
        api_timeout: float = 5.0,
    ) -> None:
        self.queue = queue
        self.servers = list(servers)
        self.stream = check_name("stream", stream)
        self.durable = check_name("durable", durable or default_durable(queue))
        self.filter_subject = filter_subject
        self.create = create
        self.subject = subject or default_subject(stream)
        self.stream_options = stream_options or StreamOptions()
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if ack_wait <= 0 or heartbeat <= 0:
            raise ValueError("ack_wait and heartbeat must be positive")
        self.batch = batch
        self.ack_wait = ack_wait
        self.sync = sync
        self.plain = plain
        self.segment_size = segment_size
        self.heartbeat = heartbeat
        self.report_every = report_every
        self.emit: Emit = emit or (lambda _r: None)
        self.connect_timeout = connect_timeout
        self.api_timeout = api_timeout
        # progress
        self.appended = 0
        self.duplicates = 0  # already appended: skipped
        self.skipped = 0  # no usable origin headers: skipped
        self.gaps = 0  # origin seqs the stream no longer holds
        self.filled = 0  # messages read from the stream directly
        self.lag: Optional[int] = None
        self._last: Optional[Tuple[str, int]] = None  # (origin queue id, origin seq) appended last
        self._last_qid = (b"", "")  # the origin id as bytes, cached with its hex
        self._last_stream_seq = 0
        self._rate = Rate()
        self._stop = StopSignal()
        self._pub: Optional[Publisher] = None
        self._conn: Optional[Connection] = None
        self._js: Any = None
        self._ack_policy = "all"
        self._to_ack: List[Any] = []
        self._map = SeqMap(queue) if plain else None
        self._map_fresh = False  # whether this run has written its first map entry

    # ---- control ---------------------------------------------------------

    def stop(self) -> None:
        """Ask the bridge to stop after the message in hand: it acknowledges
        what it appended and returns from :meth:`run`. Callable from any
        thread and from signal handlers."""
        self._stop.set()

    async def stats(self) -> Dict[str, Any]:
        """Progress: rate (appended msg/s since the last call), counts, the
        last origin seq appended and the lag (stream messages not yet
        delivered to this consumer)."""
        conn = self._conn
        return {
            "bridge": "in",
            "event": "progress",
            "rate": self._rate.update(self.appended),
            "appended": self.appended,
            "origin_seq": self._last[1] if self._last else None,
            "stream_seq": self._last_stream_seq,
            "lag": self.lag,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "gaps": self.gaps,
            "filled": self.filled,
            "reconnects": conn.reconnects if conn else 0,
        }

    # ---- run -----------------------------------------------------------------

    async def run(self) -> None:
        """Bridge until :meth:`stop`; raises BridgeError (or a subclass, or
        NatsUnavailableError) when it cannot start."""
        self._stop.bind()
        pub = self._pub = Queue.open_publisher(self.queue, segment_size=self.segment_size)
        try:
            tail = last_bridged(self.queue, pub.next_seq) if self._map is None else None
            mapped = self._map.origin_of(pub.next_seq - 1) if self._map is not None and pub.next_seq else None
            self._conn = await connect(self.servers, name=f"chronicle bridge in {self.stream}",
                                       connect_timeout=self.connect_timeout)
            try:
                self._js = self._conn.nc.jetstream(timeout=self.api_timeout)
                await ensure_stream(self._js, self.stream, [self.subject] if self.create else [],
                                    create=self.create, options=self.stream_options,
                                    timeout=max(self.api_timeout, 10.0))
                start: Optional[int] = None
                if tail is not None:
                    self._last = (tail.queue_id, tail.seq)
                    self._last_stream_seq = tail.stream_seq
                    start = tail.stream_seq + 1
                if mapped is not None:  # plain mode: the origin seq is known, its stream seq is not
                    self._last = (mapped.queue_id, mapped.origin_seq)
                cinfo = await self._ensure_consumer(start, max(self.api_timeout, 10.0))
                if tail is None:
                    self._last_stream_seq = int(cinfo.ack_floor.stream_seq)
                puller = _Puller(self._conn.nc, self.stream, self.durable, self.batch, self.heartbeat)
                await puller.start()
                # what an earlier run was handed but may not have appended
                delivered = int(cinfo.delivered.stream_seq)
                if delivered > self._last_stream_seq:
                    await self._fill(delivered + 1)
                self.emit(event("in", "ready", queue=str(self.queue), stream=self.stream, durable=self.durable,
                                origin_seq=self._last[1] if self._last else None,
                                stream_seq=self._last_stream_seq, caught_up=self.appended,
                                server=self._conn.connected_url))
                reporter = None
                if self.report_every:
                    reporter = asyncio.ensure_future(
                        report_loop(self.report_every, self.stats, self.emit, self._stop.event))
                try:
                    await self._consume(puller)
                finally:
                    if reporter is not None:
                        reporter.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await reporter
                    await self._ack()
                self.emit(event("in", "stopped", appended=self.appended,
                                origin_seq=self._last[1] if self._last else None))
            finally:
                await self._conn.close()
        finally:
            pub.close()

    async def _consume(self, puller: _Puller) -> None:
        assert self._conn is not None
        stop_task = self._stop.waiter()
        backoff = 0.05
        try:
            while not self._stop.requested:
                if self._conn.reconnected.is_set():
                    self._conn.reconnected.clear()
                    puller.reset()
                if puller.trouble is not None:
                    self.emit(event("in", "consumer", status=puller.trouble))
                    puller.trouble = None
                    if await self._stop.sleep(backoff):
                        return
                    backoff = min(backoff * 2, 2.0)
                    try:
                        await self._ensure_consumer(self._last_stream_seq + 1, float("inf"))
                    except NatsUnavailableError:
                        if self._stop.requested:
                            return
                        raise
                    puller.reset()
                try:
                    await puller.top_up()
                except Exception as e:
                    if not is_transient(e):
                        raise
                if not puller.msgs:
                    await self._ack()
                    puller.arrived.clear()
                    waiter = asyncio.ensure_future(puller.arrived.wait())
                    await asyncio.wait({waiter, stop_task}, timeout=self.heartbeat,
                                       return_when=asyncio.FIRST_COMPLETED)
                    await cancel(waiter)
                    continue
                backoff = 0.05
                while puller.msgs and not self._stop.requested:
                    await self._handle(puller.msgs.popleft())
                    if len(self._to_ack) >= self.batch // 2 or not puller.msgs:
                        await self._ack()
        finally:
            await cancel(stop_task)

    # ---- one message -------------------------------------------------------

    async def _handle(self, msg: Any) -> None:
        o = parse_origin(msg.headers)
        meta = msg.metadata
        s = int(meta.sequence.stream)
        self.lag = int(meta.num_pending)
        if self._ack_policy != "none":
            self._to_ack.append(msg)
        last = self._last
        if (isinstance(o, WireOrigin) and last is not None and o.queue_id == last[0]
                and o.seq > last[1] + 1 and s > self._last_stream_seq + 1):
            await self._fill(s)  # earlier messages held back by a redelivery: read them first
        self._apply(o, msg.data, s)

    def _apply(self, o: Union[WireOrigin, str], data: bytes, s: int) -> None:
        """Append one stream message unless it is a duplicate or has no origin."""
        assert self._pub is not None
        if isinstance(o, str):
            self.skipped += 1
            self._last_stream_seq = max(self._last_stream_seq, s)
            if self.skipped <= _REPORTED_SKIPS:
                more = "; further ones are only counted" if self.skipped == _REPORTED_SKIPS else ""
                self.emit(event("in", "skipped", stream_seq=s, reason=f"no origin headers: {o}{more}"))
            return
        last = self._last
        if last is not None and o.queue_id == last[0]:
            if o.seq <= last[1]:
                self.duplicates += 1
                return
            if o.seq > last[1] + 1:
                self.gaps += o.seq - last[1] - 1
                self.emit(event("in", "gap", missing=f"{last[1] + 1}..{o.seq - 1}", stream_seq=s,
                                reason="the stream no longer holds them"))
        elif last is not None:
            if s <= self._last_stream_seq:
                self.duplicates += 1  # an earlier origin's message, delivered again
                return
            self.emit(event("in", "origin", queue_id=o.queue_id, previous=last[0], origin_seq=o.seq))
        qid, qhex = self._last_qid
        if qhex != o.queue_id:
            qid = bytes.fromhex(o.queue_id)
            self._last_qid = (qid, o.queue_id)
        if self._map is None:
            self._pub.append(o.type_id, pack_header(qid, o.seq, o.timestamp_ns, s) + data)
        else:
            if not self._map_fresh or last is None or o.queue_id != last[0] or o.seq != last[1] + 1:
                self._map.record(self._pub.next_seq, qid, o.seq)  # durable before the append it describes
                self._map_fresh = True
            self._pub.append(o.type_id, data)
        self._last = (o.queue_id, o.seq)
        self._last_stream_seq = max(self._last_stream_seq, s)
        self.appended += 1

    async def _fill(self, upto: int) -> None:
        """Append what the stream holds after the last message handled and
        before stream sequence ``upto``, reading it directly."""
        import nats.js.errors

        subject = self.filter_subject or ">"
        x = self._last_stream_seq + 1
        while x < upto and not self._stop.requested:
            async def get(x: int = x) -> Any:
                return await self._js.get_msg(self.stream, seq=x, subject=subject, next=True)

            try:
                m = await retry_transient(f"reading stream {self.stream!r} at {x}", get, float("inf"),
                                          lambda: self._stop.requested)
            except NatsUnavailableError:
                if self._stop.requested:
                    return
                raise
            except nats.js.errors.NotFoundError as e:
                if e.err_code == ERR_STREAM_NOT_FOUND:
                    raise StreamNotFoundError(f"stream {self.stream!r} no longer exists") from None
                if e.err_code not in (None, ERR_NO_MESSAGE):
                    raise
                return
            if m.seq is None or m.seq >= upto:
                return
            self.filled += 1
            self._apply(parse_origin(m.headers), m.data or b"", int(m.seq))
            x = int(m.seq) + 1

    async def _ack(self) -> None:
        """Acknowledge what was appended: the last message under ack policy
        all, each one under explicit."""
        if not self._to_ack:
            return
        todo = self._to_ack if self._ack_policy == "explicit" else self._to_ack[-1:]
        self._to_ack = []
        if self.sync and self._pub is not None:
            self._pub.flush()
        assert self._conn is not None
        try:
            for m in todo:
                await self._conn.nc.publish(m.reply, b"+ACK")
        except Exception as e:  # unacknowledged messages come again, and are skipped
            if not is_transient(e):
                raise

    # ---- the consumer ----------------------------------------------------

    async def _ensure_consumer(self, start: Optional[int], timeout: float) -> Any:
        """The durable's info; created (starting at stream sequence
        ``start``, or at the beginning) if absent. Transient errors are
        retried for ``timeout`` seconds (or until stopped)."""
        import nats.js.api as api
        import nats.js.errors

        async def lookup() -> Any:
            try:
                return await self._js.consumer_info(self.stream, self.durable)
            except nats.js.errors.NotFoundError as e:
                if e.err_code == ERR_STREAM_NOT_FOUND:  # deleted while we ran
                    if not self.create:
                        raise StreamNotFoundError(f"stream {self.stream!r} no longer exists") from None
                    await ensure_stream(self._js, self.stream, [self.subject], create=True,
                                        options=self.stream_options, timeout=max(self.api_timeout, 10.0))
                    return None
                if e.err_code not in (None, ERR_CONSUMER_NOT_FOUND):
                    raise
                return None

        stopping = lambda: self._stop.requested  # noqa: E731
        info = await retry_transient(f"looking up consumer {self.durable!r}", lookup, timeout, stopping)
        if info is None and start is not None:
            sinfo = await retry_transient(f"looking up stream {self.stream!r}",
                                          lambda: self._js.stream_info(self.stream), timeout, stopping)
            if start > int(sinfo.state.last_seq) + 1:
                self.emit(event("in", "warning", message=f"stream {self.stream!r} ends before stream seq "
                                f"{start - 1} already appended (recreated?): reading it from the start, "
                                "deduplicating by origin seq"))
                start, self._last_stream_seq = None, 0
        if info is None:
            cfg = api.ConsumerConfig(
                durable_name=self.durable,
                ack_policy=api.AckPolicy.ALL,
                ack_wait=self.ack_wait,
                max_ack_pending=max(4 * self.batch, 1024),
                max_deliver=-1,
                filter_subject=self.filter_subject,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if start else api.DeliverPolicy.ALL,
                opt_start_seq=start or None,
            )

            async def add() -> Any:
                return await self._js.add_consumer(self.stream, cfg)

            info = await retry_transient(f"creating consumer {self.durable!r}", add, timeout, stopping)
        cfg = info.config
        if cfg.deliver_subject:
            raise ConsumerMismatchError(f"consumer {self.durable!r} is a push consumer; bridge in needs a pull "
                                        "consumer (choose another --durable)")
        if (cfg.filter_subject or None) != (self.filter_subject or None):
            raise ConsumerMismatchError(f"consumer {self.durable!r} filters {cfg.filter_subject or 'nothing'!r}, "
                                        f"not {self.filter_subject or 'nothing'!r} (choose another --durable)")
        policy = cfg.ack_policy
        self._ack_policy = str(getattr(policy, "value", policy) or "explicit")
        return info
