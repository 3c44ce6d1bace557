"""NumPy, pandas and polars views of a queue: fixed-size messages as arrays.

* :func:`read_array` (also :meth:`Subscriber.read_array
  <chronicle.queue.Subscriber.read_array>`) copies up to ``max_n`` ready
  messages whose payloads have one fixed layout into a NumPy structured
  array, with their seqs, timestamps and type ids, in one C call and with no
  Python object per message. Checksums are verified as by ``next()``.
* :func:`record_view` views one payload as a NumPy record with zero copy.
* :func:`read_frame` reads a range of a queue into a pandas (or polars)
  DataFrame for research.

A record type is a NumPy dtype (anything ``numpy.dtype()`` accepts) or a
:class:`chronicle.layout.Layout`, whose type id then selects the messages.
NumPy, pandas and polars are optional: the functions that need them say which
extra to install when they are missing.
"""
from __future__ import annotations

import operator
import os
import shutil
import tempfile
import uuid
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union

from ._binding import PathLike, ffi, lib, raise_error
from .tools.errors import MissingExtraError, NotAQueueError

if TYPE_CHECKING:
    import numpy as np

    from .queue import Message, Subscriber

__all__ = ["RecordBatch", "read_array", "record_view", "read_frame"]

_NO_END = 2**64 - 1
_FRAME_CHUNK = 65536  # rows read per C call by read_frame


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise MissingExtraError("reading messages into arrays", "numpy", "numpy") from None
    return numpy


def record_type(spec: Any) -> Tuple["np.dtype[Any]", Optional[int]]:
    """The NumPy dtype of a record type and the type id it implies (a
    :class:`~chronicle.layout.Layout` has one; a plain dtype has none)."""
    np = _numpy()
    from .layout import Layout

    if isinstance(spec, Layout):
        return spec.dtype, spec.type_id
    dt = np.dtype(spec)
    if dt.hasobject:
        raise TypeError(f"dtype {dt} holds Python objects; a payload can only fill plain data")
    return dt, None


class RecordBatch:
    """Messages of one fixed layout, as NumPy arrays of equal length.

    ``records`` is a structured array of the record dtype (one row per
    message, copied out of the queue); ``seqs`` (uint64), ``timestamps_ns``
    (int64) and ``type_ids`` (uint16) are the matching message headers.
    ``len(batch)`` is the number of messages.
    """

    __slots__ = ("records", "seqs", "timestamps_ns", "type_ids")

    def __init__(self, records: Any, seqs: Any, timestamps_ns: Any, type_ids: Any) -> None:
        self.records = records
        self.seqs = seqs
        self.timestamps_ns = timestamps_ns
        self.type_ids = type_ids

    def __len__(self) -> int:
        return len(self.seqs)

    def __repr__(self) -> str:
        n = len(self)
        span = f" seq {int(self.seqs[0])}..{int(self.seqs[-1])}" if n else ""
        return f"<RecordBatch {n} x {self.records.dtype}{span}>"


def _check_count(max_n: Any) -> int:
    if not isinstance(max_n, int) or isinstance(max_n, bool):
        raise TypeError(f"max_n must be an int, not {type(max_n).__name__}")
    if max_n < 1:
        raise ValueError("max_n must be at least 1")
    return max_n


def _integer(name: str, value: Any) -> int:
    """Any integer (NumPy's included, as a batch's seqs are), nothing else."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _check_seq(name: str, seq: Any) -> int:
    value = _integer(name, seq)
    if not 0 <= value < _NO_END:
        raise ValueError(f"{name} {value} outside 0..2**64-2")
    return value


def _check_type_filter(type_id: Any) -> int:
    if type_id is None:
        return -1
    value = _integer("type_id", type_id)
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"type_id {value} outside 0..65535")
    return value


def _read_into(
    sub: "Subscriber",
    dt: Any,
    type_id: int,
    flags: int,
    end_seq: int,
    records: Any,
    seqs: Any,
    stamps: Any,
    types: Any,
    start: int,
) -> int:
    """One C call filling the arrays from row ``start`` on; returns the count."""
    h = sub._live()  # raises ClosedError when closed; gives back any read-ahead
    size = dt.itemsize
    room = len(seqs) - start
    n: int = lib.chron_reader_read_fixed(
        h,
        type_id,
        flags,
        size,
        end_seq,
        ffi.from_buffer("char[]", records, require_writable=True) + start * size,
        ffi.from_buffer("uint64_t[]", seqs, require_writable=True) + start,
        ffi.from_buffer("int64_t[]", stamps, require_writable=True) + start,
        ffi.from_buffer("uint16_t[]", types, require_writable=True) + start,
        room,
    )
    if n < 0:
        raise_error(n)
    return n


def read_array(
    sub: "Subscriber",
    dtype: Any,
    max_n: int = 1024,
    *,
    type_id: Optional[int] = None,
    skip_others: bool = True,
    to_seq: Optional[int] = None,
) -> RecordBatch:
    """Up to ``max_n`` ready messages of the record type ``dtype``, as arrays.

    Never blocks; the batch may be empty. ``type_id`` selects one message
    type (a :class:`~chronicle.layout.Layout` brings its own): other types
    are passed over when ``skip_others`` (consumed, like a filter), else the
    read stops before the first of them so that ``next()`` can take it.
    Without a type id every message is read. ``to_seq`` (inclusive) ends the
    read. A selected message whose payload size is not ``dtype.itemsize``
    ends the batch before it; when it comes first, ``ValueError`` is raised
    and the subscriber stays before it. A corrupt record raises
    :class:`~chronicle.errors.CorruptQueueError` in the same way.
    """
    np = _numpy()
    dt, implied = record_type(dtype)
    tid = _check_type_filter(implied if type_id is None else type_id)
    n_max = _check_count(max_n)
    end = _NO_END if to_seq is None else _check_seq("to_seq", to_seq) + 1
    records = np.empty(n_max, dt)
    seqs = np.empty(n_max, np.uint64)
    stamps = np.empty(n_max, np.int64)
    types = np.empty(n_max, np.uint16)
    flags = lib.CHRON_READ_SKIP_OTHERS if skip_others else 0
    n = _read_into(sub, dt, tid, flags, end, records, seqs, stamps, types, 0)
    return RecordBatch(records[:n], seqs[:n], stamps[:n], types[:n])


def record_view(payload: Union["Message", Any], dtype: Any) -> Any:
    """One payload (or a :class:`~chronicle.queue.Message`) as a NumPy record,
    with zero copy: a read-only ``numpy.void`` viewing the payload bytes
    (structured dtypes), or the scalar (plain dtypes).

    Raises ``ValueError`` when the payload size is not the dtype's item size.
    """
    np = _numpy()
    dt, _ = record_type(dtype)
    buf: Any = getattr(payload, "payload", payload)
    view = memoryview(buf)
    if view.nbytes != dt.itemsize:
        raise ValueError(f"payload of {view.nbytes} bytes does not hold one {dt} record of {dt.itemsize} bytes")
    return np.frombuffer(view, dtype=dt)[0]


def read_frame(
    source: Union[PathLike, "Subscriber"],
    dtype: Any,
    from_seq: Optional[int] = None,
    to_seq: Optional[int] = None,
    *,
    type_id: Optional[int] = None,
    library: str = "pandas",
) -> Any:
    """The messages of a queue as a DataFrame: one row per message, one
    column per field of the record type, plus ``timestamp`` (UTC datetime of
    the append) and ``type_id``. In pandas the index is ``seq``; polars has
    no index, so ``seq`` is the first column. A field that has one of these
    names keeps it, and the header column becomes ``msg_seq``,
    ``msg_timestamp`` or ``msg_type_id``. Text fields (``S`` dtypes) become
    ``str`` columns (UTF-8, NUL padding removed); sub-array fields become one
    column per element (``name_0``, ``name_1``, ...).

    ``source`` is a queue directory, read through a temporary subscriber that
    leaves no position behind; an open subscriber, read from its position
    (advancing it); or an archive (a directory or s3:// URL made by
    ``chronicle archive``), whose range is restored into a temporary queue
    first (extra ``archive``). ``from_seq``/``to_seq`` (inclusive) bound the range;
    by default everything ready now. ``type_id`` (or a Layout's own) selects
    one message type and passes over the others; without one, every message
    must have the record size (else ``ValueError``). ``library`` is
    ``"pandas"`` (extra ``frames``) or ``"polars"`` (extra ``polars``).
    """
    if library not in ("pandas", "polars"):
        raise ValueError(f"library must be 'pandas' or 'polars', not {library!r}")
    frame_lib = _frame_library(library)
    np = _numpy()
    dt, implied = record_type(dtype)
    tid = _check_type_filter(implied if type_id is None else type_id)
    end = _NO_END if to_seq is None else _check_seq("to_seq", to_seq) + 1
    start = None if from_seq is None else _check_seq("from_seq", from_seq)
    if start is not None and start >= end:
        raise ValueError(f"from_seq {start} is after to_seq {to_seq}")
    from .archive import is_archive
    from .queue import Queue, Subscriber

    if isinstance(source, Subscriber):
        batch = _read_all(np, source, dt, tid, start, end)
    elif is_archive(os.fsdecode(os.fspath(source))):
        return _read_archive(source, dtype, start, to_seq, type_id, library)
    else:
        if not os.path.isfile(os.path.join(os.fsdecode(os.fspath(source)), "queue.meta")):
            raise NotAQueueError(f"{os.fsdecode(os.fspath(source))}: no Chronicle queue there")
        name = f"frame-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        sub = Queue.open_subscriber(source, name)
        try:
            batch = _read_all(np, sub, dt, tid, start, end)
        finally:
            sub.close()
            _remove_position(source, name)
    return _to_frame(frame_lib, library, np, dt, batch)


def _read_archive(
    url: PathLike, dtype: Any, start: Optional[int], to_seq: Optional[int], type_id: Optional[int], library: str
) -> Any:
    """read_frame of an archive: its range restored into a temporary queue."""
    from .archive.restore import restore

    tmp = tempfile.mkdtemp(prefix="chronicle-frame-")
    try:
        queue_dir = os.path.join(tmp, "queue")
        restore(os.fsdecode(os.fspath(url)), queue_dir, start, None if to_seq is None else int(to_seq))
        return read_frame(queue_dir, dtype, type_id=type_id, library=library)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _frame_library(library: str) -> Any:
    extra = "frames" if library == "pandas" else "polars"
    try:
        return __import__(library)
    except ImportError:
        raise MissingExtraError(f"read_frame(library={library!r})", library, extra) from None


def _read_all(np: Any, sub: "Subscriber", dt: Any, tid: int, start: Optional[int], end: int) -> RecordBatch:
    if start is not None:
        sub.seek(start)
    chunks: List[Tuple[Any, Any, Any, Any]] = []
    flags = lib.CHRON_READ_SKIP_OTHERS
    while True:
        records = np.empty(_FRAME_CHUNK, dt)
        seqs = np.empty(_FRAME_CHUNK, np.uint64)
        stamps = np.empty(_FRAME_CHUNK, np.int64)
        types = np.empty(_FRAME_CHUNK, np.uint16)
        n = 0
        while n < _FRAME_CHUNK:
            got = _read_into(sub, dt, tid, flags, end, records, seqs, stamps, types, n)
            if got == 0:
                break
            n += got
        chunks.append((records[:n], seqs[:n], stamps[:n], types[:n]))
        if n < _FRAME_CHUNK:
            break
    if len(chunks) == 1:
        return RecordBatch(*chunks[0])
    return RecordBatch(*(np.concatenate(cols) for cols in zip(*chunks)))


def _remove_position(path: PathLike, name: str) -> None:
    """Delete the temporary reader's position file: a research read leaves
    the queue as it found it."""
    try:
        os.unlink(os.path.join(os.fsdecode(os.fspath(path)), "readers", name + ".pos"))
    except FileNotFoundError:
        pass


def _columns(np: Any, dt: Any, records: Any) -> List[Tuple[str, Any]]:
    """One column per scalar field; text decoded, sub-arrays split."""
    if dt.names is None:
        return [("value", records)]
    cols: List[Tuple[str, Any]] = []
    for name in dt.names:
        col = records[name]
        if col.dtype.kind == "S":
            col = _text(np, col)
        if col.ndim == 1:
            cols.append((name, col))
            continue
        flat = col.reshape(len(col), -1)
        cols.extend((f"{name}_{i}", flat[:, i]) for i in range(flat.shape[1]))
    return cols


def _text(np: Any, col: Any) -> Any:
    """Fixed-size byte strings as str (UTF-8, NUL padding removed)."""
    if col.size == 0 or bool((np.ascontiguousarray(col).view(np.uint8) < 0x80).all()):
        return col.astype(f"U{max(1, col.dtype.itemsize)}")  # ASCII: decoded in C
    return np.char.decode(col, "utf-8", "replace")


def _header(names: List[str], columns: List[Tuple[str, Any]]) -> List[Tuple[str, Any]]:
    """Header columns named so that they never hide a field."""
    taken = set(names)
    return [(f"msg_{name}" if name in taken else name, col) for name, col in columns]


def _to_frame(frame_lib: Any, library: str, np: Any, dt: Any, batch: RecordBatch) -> Any:
    timestamps = batch.timestamps_ns.astype("datetime64[ns]")
    fields = _columns(np, dt, batch.records)
    names = [name for name, _ in fields]
    if library == "pandas":
        (seq_name, _), *header = _header(
            names,
            [
                ("seq", None),
                ("timestamp", frame_lib.to_datetime(timestamps, utc=True)),
                ("type_id", batch.type_ids),
            ],
        )
        data = dict(header + fields)
        return frame_lib.DataFrame(data, index=frame_lib.Index(batch.seqs, name=seq_name))
    header = _header(names, [("seq", batch.seqs), ("timestamp", timestamps), ("type_id", batch.type_ids)])
    frame = frame_lib.DataFrame(dict(header + fields))
    return frame.with_columns(frame_lib.col(header[1][0]).dt.replace_time_zone("UTC"))
