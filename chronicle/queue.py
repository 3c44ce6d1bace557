"""The user-facing queue API: :class:`Queue`, :class:`Publisher`,
:class:`Subscriber` and :class:`Message`.

Handles are context managers; ``close()`` is idempotent and every method of a
closed handle raises :class:`~chronicle.errors.ClosedError`. A handle that is
garbage-collected while open is closed and a ``ResourceWarning`` is issued.

Payloads are read-only ``memoryview`` slices of a read-only mapping of the
segment, owned by Python: a payload kept after ``next()`` moved on, after the
subscriber closed or after its segment was deleted stays readable.
"""
from __future__ import annotations

import abc
import array
import itertools
import mmap
import operator
import os
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar

from ._binding import PathLike, encode_path, ffi, lib, raise_error
from ._closing import ClosingContext
from . import _msgarray
from .errors import ClosedError, RecoveryWarning
from .message import MappedMessage, Message
from .retention_runner import RetentionRunner

if TYPE_CHECKING:
    from .frames import RecordBatch
    from .tools.retention import RetentionPolicy

__all__ = ["Queue", "Publisher", "Subscriber", "Message"]

_WAIT_SLICE_NS = 50_000_000  # wait in C for at most 50 ms between signal checks
_MAX_BATCH = 65536  # messages per next_batch call: bounds its buffer
_MAX_AHEAD = 256  # records next() reads ahead at most
_H = TypeVar("_H", bound="_Handle")
_NOTHING_AHEAD: Iterator[Any] = iter(())
_Rows = Tuple[Sequence[int], Sequence[int]]  # seqs and payload offsets of a read-ahead batch


class _Handle(ClosingContext):
    """Shared lifetime handling: context manager, idempotent close, warnings."""

    _kind = "handle"
    _h: Any = None

    def __init__(self, path: PathLike) -> None:
        self._path = os.fsdecode(os.fspath(path))

    @property
    def path(self) -> str:
        """The queue directory."""
        return self._path

    @property
    def closed(self) -> bool:
        return self._h is None

    def _closed_error(self) -> ClosedError:
        return ClosedError(f"{self._kind} for {self._path!r} is closed")

    @abc.abstractmethod
    def _release(self, h: Any) -> None:
        """Free the C object `h` (each handle type has its own)."""

    def close(self) -> None:
        """Release the handle (idempotent)."""
        h, self._h = self._h, None
        if h is not None:
            self._release(h)

    def __enter__(self: _H) -> _H:
        if self._h is None:
            raise self._closed_error()
        return self

    def __del__(self) -> None:
        if getattr(self, "_h", None) is not None:
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2)
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._h is None else "open"
        return f"<chronicle.{type(self).__name__} {self._path!r} {state}>"


class Publisher(_Handle):
    """The single writer of a queue. Create with :meth:`Queue.open_publisher`."""

    _kind = "publisher"

    def __init__(
        self,
        path: PathLike,
        segment_size: Optional[int],
        file_mode: Optional[int],
        retention: Optional["RetentionPolicy"] = None,
        retention_interval: float = 1.0,
    ) -> None:
        super().__init__(path)
        raw = encode_path(path)
        self._retention: Optional[RetentionRunner] = None
        opts = ffi.new("chron_writer_opts_t *")
        if segment_size is not None:
            if not isinstance(segment_size, int) or isinstance(segment_size, bool):
                raise TypeError("segment_size must be an int")
            if segment_size <= 0:
                raise ValueError("segment_size must be positive")
            opts.segment_size = segment_size
        if file_mode is not None:
            opts.file_mode = _check_mode(file_mode)
        out = ffi.new("chron_writer_t **")
        rc = lib.chron_writer_open(raw, opts, out)
        if rc < 0:
            raise_error(rc)
        self._h = out[0]
        self._append = lib.chron_append
        dropped = lib.chron_writer_dropped_bytes(self._h)
        if dropped:
            warnings.warn(
                f"{self._path}: recovery wiped {dropped} bytes of a torn or corrupt tail",
                RecoveryWarning,
                stacklevel=3,
            )
        if retention is not None:
            self._retention = RetentionRunner(self._path, retention, retention_interval)

    def _release(self, h: Any) -> None:
        runner, self._retention = self._retention, None
        if runner is not None:
            runner.stop()
        lib.chron_writer_close(h)

    def append(self, type_id: int, payload: Any) -> int:
        """Append one message and return its seq.

        ``type_id`` is an int in 0..65535 (any integer type: bool and NumPy
        integers count, floats and Decimals raise TypeError); ``payload`` any
        contiguous bytes-like object (a str raises TypeError). A failed call
        writes nothing.
        Visible to readers and safe from a crash of this process on return;
        durable against power loss after :meth:`flush`.
        """
        if type_id.__class__ is not int or (payload.__class__ is not bytes and payload.__class__ is not bytearray):
            # cffi would truncate e.g. Decimal("1.5"), and would trust the
            # len() of a bytes subclass (a lying __len__ reads out of bounds)
            return self._append_slow(type_id, payload)
        try:
            seq: int = self._append(self._h, type_id, payload, len(payload))
        except (TypeError, OverflowError):
            return self._append_slow(type_id, payload)
        if seq < 0:
            if self._h is None:
                raise self._closed_error()
            raise_error(seq)
        return seq

    def _append_slow(self, type_id: Any, payload: Any) -> int:
        if self._h is None:
            raise self._closed_error()
        type_id = _check_type_id(type_id)
        buf = _as_buffer(payload)
        seq: int = lib.chron_append(self._h, type_id, ffi.cast("const char *", ffi.from_buffer(buf)), len(buf))
        if seq < 0:
            raise_error(seq)
        return seq

    def append_many(self, type_id: int, payloads: Iterable[Any]) -> int:
        """Append every payload with one C call, all with ``type_id``.

        ``payloads`` is an iterable of bytes-like objects, or a NumPy array
        whose rows are the payloads (as :meth:`append_rows`). All-or-nothing
        on bad input: every item is checked before anything is written.
        Returns the seq of the first message (the next seq if empty).
        """
        h = self._live()
        type_id = _check_type_id(type_id)
        if hasattr(payloads, "__array_interface__"):
            return self.append_rows(type_id, payloads)
        items: Sequence[Any] = payloads if isinstance(payloads, (list, tuple)) else list(payloads)
        n = len(items)
        if n == 0:
            return int(lib.chron_writer_next_seq(h))
        if set(map(type, items)) == {bytes}:  # the common case, without a view per item
            packed = b"".join(items)
            lens = _sizes(map(len, items))
        else:
            views = []
            for i, p in enumerate(items):
                try:
                    views.append(_as_buffer(p))
                except (TypeError, ValueError) as e:
                    raise type(e)(f"payload {i}: {e}") from None
            packed = b"".join(views)
            lens = _sizes(v.nbytes for v in views)
        seq: int = lib.chron_append_packed(h, type_id, packed, lens, n, len(packed))
        if seq < 0:
            raise_error(seq)
        return seq

    def append_rows(self, type_id: int, rows: Any) -> int:
        """Append each row of a C-contiguous buffer of one or more dimensions
        (e.g. a NumPy array of records) as one message of ``row size`` bytes.
        Returns the first seq."""
        h = self._live()
        type_id = _check_type_id(type_id)
        view = memoryview(rows)
        if view.ndim == 0:
            raise ValueError("rows must have at least one dimension (one row per message)")
        if not view.c_contiguous:
            raise ValueError("rows must be C-contiguous (numpy.ascontiguousarray makes a copy that is)")
        n = view.shape[0]  # type: ignore[index]
        if n == 0:
            return int(lib.chron_writer_next_seq(h))
        stride = view.nbytes // n
        buf = ffi.from_buffer(view.cast("B") if view.format != "B" or view.ndim != 1 else view)
        seq: int = lib.chron_append_rows(h, type_id, ffi.cast("const char *", buf), stride, n)
        if seq < 0:
            raise_error(seq)
        return seq

    def flush(self) -> None:
        """Write everything appended so far to disk and wait (msync)."""
        rc = lib.chron_writer_flush(self._live(), 0)
        if rc < 0:
            raise_error(rc)

    def flush_async(self) -> None:
        """Start writing everything appended so far to disk; do not wait."""
        rc = lib.chron_writer_flush(self._live(), 1)
        if rc < 0:
            raise_error(rc)

    @property
    def next_seq(self) -> int:
        """The seq the next append will get."""
        return int(lib.chron_writer_next_seq(self._live()))

    @property
    def max_payload(self) -> int:
        """The largest payload this queue accepts."""
        return int(lib.chron_writer_max_payload(self._live()))

    def _live(self) -> Any:
        if self._h is None:
            raise self._closed_error()
        return self._h

    def __enter__(self) -> "Publisher":
        return super().__enter__()


class Subscriber(_Handle):
    """A named reader of a queue. Create with :meth:`Queue.open_subscriber`."""

    _kind = "subscriber"

    def __init__(
        self,
        path: PathLike,
        name: str,
        start: str,
        spin_us: Optional[float],
        file_mode: Optional[int],
    ) -> None:
        super().__init__(path)
        if not isinstance(name, str):
            raise TypeError(f"subscriber name must be a str, not {type(name).__name__}")
        if "\0" in name:  # C would see only the part before it
            raise ValueError(f"invalid reader name {name!r}: contains a NUL character")
        if start not in ("earliest", "latest"):
            raise ValueError(f"start must be 'earliest' or 'latest', not {start!r}")
        raw = encode_path(path)
        opts = ffi.new("chron_reader_opts_t *")
        opts.start = lib.CHRON_START_LATEST if start == "latest" else lib.CHRON_START_EARLIEST
        opts.spin_ns = -1 if spin_us is None else max(0, int(spin_us * 1000))
        if file_mode is not None:
            opts.file_mode = _check_mode(file_mode)
        out = ffi.new("chron_reader_t **")
        rc = lib.chron_reader_open(raw, name.encode("utf-8", "surrogateescape"), opts, out)
        if rc < 0:
            raise_error(rc)
        self._h = out[0]
        self._name = name
        self._msg = ffi.new("chron_msg_t *")
        self._msg_buf = ffi.buffer(self._msg)
        self._unpack_msg = _msgarray.ONE.unpack_from
        self._seg = -1
        self._view: Optional[memoryview] = None
        self._next = lib.chron_reader_next
        # next() reads ahead while it is called back to back: records fetched
        # with one C call and returned one by one. Every other method first
        # gives the unreturned ones back (_live rewinds the C reader), so
        # positions, commits and waits never see the read-ahead. The messages
        # are made one per next() from columns of the batch: a message the
        # caller drops is freed at once, never left for the cyclic GC.
        self._ahead: Iterator[Message] = _NOTHING_AHEAD
        self._ahead_seqs: Optional[Iterator[int]] = None  # how far _ahead got
        self._ahead_rows: _Rows = ((), ())
        self._burst = 1
        self._burst_buf: Any = None
        self._burst_first: Any = None  # the buffer of its first chron_msg_t
        # wait() releases the GIL for up to a slice: a close() from another
        # thread meanwhile defers freeing the C reader until the wait returns
        self._wait_lock = threading.Lock()
        self._waiting = 0
        self._deferred: Any = None
        self._sleeper: Any = None  # the asyncio helper (chronicle.aio), made on first use

    @property
    def name(self) -> str:
        return self._name

    def close(self) -> None:
        """Release the subscriber (idempotent). A wait() in another thread
        returns within one wait slice and raises ClosedError."""
        lock = getattr(self, "_wait_lock", None)
        if lock is None:
            return super().close()
        with lock:
            h, self._h = self._h, None
            if h is None:
                return
            self._ahead, self._ahead_seqs = _NOTHING_AHEAD, None
            if self._sleeper is not None:
                self._sleeper.on_close(h)  # ends pending wait_async() calls
            if self._waiting:
                self._deferred = h
                return
        self._release(h)

    def _pin(self) -> Any:
        """The live handle, kept from being freed by close() until _unpin()."""
        with self._wait_lock:
            h = self._live()
            self._waiting += 1
        return h

    def _unpin(self) -> None:
        with self._wait_lock:
            self._waiting -= 1
            h = self._deferred if self._waiting == 0 else None
            if h is not None:
                self._deferred = None
        if h is not None:
            self._release(h)

    def _release(self, h: Any) -> None:
        lib.chron_reader_close(h)
        # payloads handed out keep the mapping alive; ours goes now
        self._view = None
        self._seg = -1

    def _live(self) -> Any:
        if self._h is None:
            raise self._closed_error()
        if self._ahead_seqs is not None:
            self._give_back()
        return self._h

    def _give_back(self) -> None:
        """Rewind the C reader to the first read-ahead record not returned yet."""
        seq_iter: Any = self._ahead_seqs
        left = operator.length_hint(seq_iter)
        seqs, starts = self._ahead_rows
        seq_iter.__setstate__(len(seqs))  # ends _ahead for its holders
        self._ahead, self._ahead_seqs, self._ahead_rows, self._burst = _NOTHING_AHEAD, None, ((), ()), 1
        if left:
            i = len(seqs) - left
            rc = lib.chron_reader_rewind(self._h, seqs[i], self._seg, starts[i])
            if rc < 0:
                raise_error(rc)

    def _map_segment(self, index: int) -> memoryview:
        """Map the reader's current segment for payload views (once per segment)."""
        h = self._h
        fd = lib.chron_reader_segment_fd(h)
        size = lib.chron_reader_segment_size(h)
        view = memoryview(mmap.mmap(fd, size, access=mmap.ACCESS_READ))
        self._view = view
        self._seg = index
        return view

    def next(self) -> Optional[Message]:
        """The next message, or None if none is ready. Never blocks.

        Raises :class:`~chronicle.errors.CorruptQueueError` for a record whose
        framing or checksum fails (it is never returned).
        """
        msg = next(self._ahead, None)
        if msg is not None:
            return msg
        if self._burst > 1:
            return self._next_ahead()
        try:
            rc = self._next(self._h, self._msg)
        except TypeError:  # the handle is None: closed
            raise self._closed_error() from None
        if rc == 1:
            self._burst = 2
            # one C-level unpack of the message struct instead of six cffi reads
            seq, ts, length, type_id, seg, off = self._unpack_msg(self._msg_buf)
            return MappedMessage(seq, type_id, ts, self._segment_view(seg), off, length)
        if rc == 0:
            return None
        if self._h is None:
            raise self._closed_error()
        raise_error(rc)

    def _next_ahead(self) -> Optional[Message]:
        """next() called back to back: fetch up to `_burst` records in one C
        call (never past a segment roll), return the first, keep the rest."""
        burst = self._burst
        if self._burst_buf is None:
            self._burst_buf = ffi.new("chron_msg_t[]", _MAX_AHEAD)
            self._burst_first = ffi.buffer(self._burst_buf, _msgarray.MSG_SIZE)
        try:
            n = lib.chron_reader_next_batch(self._h, self._burst_buf, burst)
        except TypeError:  # the handle is None: closed
            raise self._closed_error() from None
        if n <= 0:
            if n == 0:
                return None
            if self._h is None:
                raise self._closed_error()
            raise_error(n)
        if n == 1:  # caught up with the publisher: nothing to keep
            seq, ts, length, type_id, seg, off = self._unpack_msg(self._burst_first)
            return MappedMessage(seq, type_id, ts, self._segment_view(seg), off, length)
        self._ahead, self._ahead_seqs, self._ahead_rows = self._messages(self._burst_buf, n)
        self._burst = min(burst * 2, _MAX_AHEAD)
        return next(self._ahead)

    def _messages(self, msgs: Any, n: int) -> Tuple[Iterator[Message], Iterator[int], _Rows]:
        """The first `n` entries of a chron_msg_t array filled by one
        chron_reader_next_batch call, as messages made one by one while the
        iterator is consumed; with the iterator over their seqs that tells
        how far it got, and their seqs and payload offsets."""
        seg, seqs, type_ids, stamps, starts, lengths = _msgarray.columns(msgs, n)
        view = self._segment_view(seg)
        seq_iter = iter(seqs)
        made = map(MappedMessage, seq_iter, type_ids, stamps, itertools.repeat(view, n), starts, lengths)
        return made, seq_iter, (seqs, starts)

    def _segment_view(self, seg: int) -> memoryview:
        return self._view if seg == self._seg else self._map_segment(seg)  # type: ignore[return-value]

    def next_batch(self, max_n: int = 1024) -> List[Message]:
        """Up to ``max_n`` ready messages with one C call (possibly none).

        A batch ends at a segment roll, and holds at most 65536 messages.
        """
        h = self._live()
        if not isinstance(max_n, int) or isinstance(max_n, bool) or max_n < 1:
            raise ValueError("max_n must be a positive int")
        max_n = min(max_n, _MAX_BATCH)
        msgs = self._batch_buffer(max_n)
        n = lib.chron_reader_next_batch(h, msgs, max_n)
        if n < 0:
            raise_error(n)
        if n == 0:
            return []
        return list(self._messages(msgs, n)[0])

    def read_array(
        self,
        dtype: Any,
        max_n: int = 1024,
        *,
        type_id: Optional[int] = None,
        skip_others: bool = True,
        to_seq: Optional[int] = None,
    ) -> "RecordBatch":
        """Up to ``max_n`` ready messages of one fixed layout as NumPy arrays
        (records, seqs, timestamps, type ids), filled in C with no Python
        object per message. ``dtype`` is a NumPy dtype or a
        :class:`~chronicle.layout.Layout`. See :func:`chronicle.frames.read_array`.
        """
        from .frames import read_array

        return read_array(self, dtype, max_n, type_id=type_id, skip_others=skip_others, to_seq=to_seq)

    def _batch_buffer(self, n: int) -> Any:
        buf = getattr(self, "_batch", None)
        if buf is None or len(buf) < n:
            buf = self._batch = ffi.new("chron_msg_t[]", n)
        return buf

    def __iter__(self) -> Iterator[Message]:
        """Iterate over the messages available now; stops when none is ready."""
        while True:
            # straight from the read-ahead, without a next() call a message;
            # a give-back meanwhile (another method called in the loop)
            # exhausts this iterator, so nothing is yielded twice
            yield from self._ahead
            msg = self.next()
            if msg is None:
                return
            yield msg

    def ready(self) -> bool:
        """True if a message is ready without waiting."""
        return bool(lib.chron_reader_ready(self._live()))

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until a message is ready: True when one is, False on timeout.

        Spins briefly, then sleeps on the queue's futex until the publisher
        wakes it. ``timeout`` in seconds; None waits forever; 0 only checks.
        Ctrl-C raises KeyboardInterrupt promptly.
        """
        if timeout is None:
            deadline = None
        else:
            if isinstance(timeout, (str, bytes)):  # float() would parse them
                raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
            if timeout != timeout:  # NaN
                raise ValueError("timeout must be a number")
            seconds = max(0.0, float(timeout))
            timeout_ns = int(seconds * 1e9) if seconds < 1e9 else None  # ~31 years: forever
            deadline = None if timeout_ns is None else time.monotonic_ns() + timeout_ns
        h = self._pin()
        try:
            return self._wait_loop(h, deadline)
        finally:
            self._unpin()

    def _wait_loop(self, h: Any, deadline: Optional[int]) -> bool:
        wait = lib.chron_reader_wait
        while True:
            if deadline is None:
                slice_ns = _WAIT_SLICE_NS
            else:
                slice_ns = min(_WAIT_SLICE_NS, deadline - time.monotonic_ns())
                if slice_ns <= 0:
                    return bool(lib.chron_reader_ready(h))
            rc = wait(h, slice_ns)
            if rc == 1:
                return True
            if rc < 0 and rc != lib.CHRON_E_INTR:
                raise_error(rc)
            # back in Python between slices: signal handlers (Ctrl-C) run here
            if self._h is None:
                raise self._closed_error()

    async def wait_async(self, timeout: Optional[float] = None) -> bool:
        """Await a message: True when one is ready, False on timeout.

        Like :meth:`wait`, but the event loop keeps running (asyncio,
        uvloop); see :mod:`chronicle.aio`. Cancellation leaves the subscriber
        usable; close() ends the wait with :class:`~chronicle.errors.ClosedError`.
        """
        from .aio import wait_async

        return await wait_async(self, timeout)

    async def next_async(self, timeout: Optional[float] = None) -> Optional[Message]:
        """Await the next message; None if ``timeout`` seconds pass first."""
        from .aio import next_async

        return await next_async(self, timeout)

    def aiter(self) -> AsyncIterator[Message]:
        """``async for msg in sub.aiter()``: every message, waiting for new
        ones without blocking the loop; ends when the subscriber is closed."""
        from .aio import aiter

        return aiter(self)

    def commit(self, sync: bool = False) -> None:
        """Persist the position after the last message returned.

        A reader of this name opened later starts right after it. The position
        survives a crash of this process at once; ``sync=True`` also waits for
        it to reach the disk (power loss).
        """
        rc = lib.chron_reader_commit(self._live(), 1 if sync else 0)
        if rc < 0:
            raise_error(rc)

    def seek(self, seq: int) -> None:
        """Make ``seq`` the next message returned (replay from any retained seq).

        ``seq`` may be the next seq to be written; beyond that raises
        :class:`~chronicle.errors.SeqRangeError`.
        """
        h = self._live()
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise TypeError("seq must be an int")
        if seq < 0:
            raise ValueError("seq must be >= 0")
        rc = lib.chron_reader_seek(h, seq) if seq < 2**64 - 1 else lib.CHRON_E_RANGE
        if rc < 0:
            raise_error(rc)

    @property
    def next_seq(self) -> int:
        """The seq of the next message this subscriber will return."""
        return int(lib.chron_reader_next_seq(self._live()))

    def __enter__(self) -> "Subscriber":
        return super().__enter__()


class Queue:
    """Entry points: open the publisher or a named subscriber of a queue."""

    DEFAULT_SEGMENT_SIZE = int(lib.CHRON_DEFAULT_SEGMENT_SIZE)
    MIN_SEGMENT_SIZE = int(lib.CHRON_MIN_SEGMENT_SIZE)

    @staticmethod
    def open_publisher(
        path: PathLike,
        *,
        segment_size: Optional[int] = None,
        file_mode: Optional[int] = None,
        retention: Optional["RetentionPolicy"] = None,
        retention_interval: float = 1.0,
    ) -> Publisher:
        """Open the single publisher of the queue at ``path``, creating it if absent.

        ``segment_size`` applies when the queue is created (default 128 MiB; a
        multiple of 4096, at least 64 KiB). ``file_mode`` is the mode of created
        files (default 0o600). A second live publisher raises
        :class:`~chronicle.errors.QueueLockedError` with the holder's pid.
        ``retention`` (a :class:`chronicle.tools.retention.RetentionPolicy`)
        is applied every ``retention_interval`` seconds by a background
        thread while the publisher is open, never on the append path.
        """
        return Publisher(path, segment_size, file_mode, retention, retention_interval)

    @staticmethod
    def open_subscriber(
        path: PathLike,
        name: str,
        *,
        start: str = "earliest",
        spin_us: Optional[float] = None,
        file_mode: Optional[int] = None,
    ) -> Subscriber:
        """Open the subscriber ``name`` of the queue at ``path``.

        A name with a committed position resumes after it; otherwise ``start``
        ("earliest" or "latest") applies. ``spin_us`` is how long :meth:`Subscriber.wait`
        spins before sleeping (default 10 µs). The queue is created empty if
        absent.
        """
        return Subscriber(path, name, start, spin_us, file_mode)


def _check_type_id(type_id: Any) -> int:
    """The type id as an int. Any integer (``__index__``) is accepted, bool
    and NumPy integers included, as everywhere in Python; floats, Decimals
    and other numbers are not (they could only be truncated)."""
    try:
        value = operator.index(type_id)
    except TypeError:
        raise TypeError(f"type_id must be an int, not {type(type_id).__name__}") from None
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"type_id {value} outside 0..65535")
    return value


# the array typecode of C's size_t, so that lengths reach C without a Python loop
_SIZE_T_CODE = next(c for c in "QLI" if array.array(c).itemsize == ffi.sizeof("size_t"))


def _sizes(values: Iterable[int]) -> Any:
    """A ``size_t[]`` for C holding ``values``."""
    return ffi.from_buffer("size_t[]", array.array(_SIZE_T_CODE, values))


def _as_buffer(payload: Any) -> memoryview:
    if isinstance(payload, str):
        raise TypeError("payload must be bytes-like, not str (encode it first)")
    try:
        view = memoryview(payload)
    except TypeError:
        raise TypeError(f"payload must be bytes-like, not {type(payload).__name__}") from None
    if not view.contiguous:
        raise ValueError("payload buffer must be contiguous")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _check_mode(mode: Any) -> int:
    if not isinstance(mode, int) or isinstance(mode, bool) or not 0 < mode <= 0o777:
        raise ValueError("file_mode must be an int permission mode such as 0o600")
    return mode
