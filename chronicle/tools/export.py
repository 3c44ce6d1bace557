"""Exporting messages for analysis: Parquet or Arrow (pyarrow, the
``export`` extra) and NumPy ``.npy`` (numpy).

Columns: ``seq`` (uint64), ``timestamp`` (ns since the epoch, UTC),
``type_id`` (uint16) and the payload: raw bytes in ``payload`` (``.npy``:
a void field padded to the longest payload, with its ``length``), or, with a
NumPy structured dtype, one column per field of the decoded payload.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional, Set, Union

from . import files
from .errors import BadArgumentError, require
from .view import REC_INFO_DTYPE, MappedSegment, ProgressFn, QueueView, check_range

if TYPE_CHECKING:
    from ..archive.reader import ArchiveView

FORMATS = {".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".npy": "npy"}
_FIXED = ("seq", "timestamp", "type_id")


@dataclass
class ExportResult:
    to: str
    format: str
    messages: int
    first_seq: Optional[int]
    last_seq: Optional[int]


def output_format(to: str) -> str:
    ext = os.path.splitext(to)[1].lower()
    if ext not in FORMATS:
        raise BadArgumentError(f"--to {to}: unknown output format; use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[ext]


def parse_dtype(spec: str) -> Any:
    """A NumPy structured dtype from ``name:type,name:type`` (e.g.
    ``price:f8,qty:i4,side:u1``) or any spec numpy.dtype accepts."""
    np: Any = require("numpy", "--dtype", "export")
    try:
        if ":" in spec:
            fields = []
            for part in spec.split(","):
                name, _, kind = part.partition(":")
                if not name.strip() or not kind.strip():
                    raise ValueError(f"field {part!r} is not name:type")
                fields.append((name.strip(), kind.strip()))
            dt = np.dtype(fields)
        else:
            dt = np.dtype(spec)
            if dt.names is None:
                dt = np.dtype([("value", dt)])
    except (TypeError, ValueError) as e:
        raise BadArgumentError(f"--dtype {spec!r}: {e}") from None
    clash = set(dt.names) & set(_FIXED)
    if clash:
        raise BadArgumentError(f"--dtype {spec!r}: field names {sorted(clash)} clash with the fixed columns")
    return dt


@dataclass
class _Columns:
    seq: Any  # numpy arrays
    ts: Any
    type_id: Any
    lengths: Any
    data: bytes  # every payload, back to back


def _collect(
    view: Union[QueueView, "ArchiveView"], start: Optional[int], until: Optional[int], types: Optional[Set[int]],
    itemsize: Optional[int], progress: Optional[ProgressFn],
) -> _Columns:
    """Read the selected records in blocks of many at once (NumPy over the
    packed record index the C walk returns), never record by record."""
    np: Any = require("numpy", "export", "export")
    bounds = view.bounds()
    first = bounds.first_seq if start is None else start
    check_range(bounds, first, until)
    last = bounds.end_seq - 1 if until is None else min(until, bounds.end_seq - 1)
    wanted = np.array(sorted(types), dtype=np.uint32) if types else None
    blocks: List[Any] = []
    chunks: List[bytes] = []
    with view.cursor(first) as cur:
        while cur.next_seq <= last:
            seg, raw = cur.read_raw()
            if seg is None or not raw:
                break
            a = np.frombuffer(raw, dtype=REC_INFO_DTYPE)
            a = a[a["seq"] <= last]
            if progress:
                progress(len(a))
            if wanted is not None:
                a = a[np.isin(a["type_id"], wanted)]
            if itemsize is not None and len(a):
                wrong = np.flatnonzero(a["length"] != itemsize)
                if len(wrong):
                    rec = a[wrong[0]]
                    raise BadArgumentError(
                        f"message seq {rec['seq']} (type {rec['type_id']}) has {rec['length']} bytes, the dtype needs "
                        f"{itemsize}; select messages of one layout with --type"
                    )
            blocks.append(a)
            chunks.append(_payloads(seg, a))
    a = np.concatenate(blocks) if blocks else np.zeros(0, dtype=REC_INFO_DTYPE)
    return _Columns(a["seq"], a["timestamp_ns"], a["type_id"].astype(np.uint16), a["length"], b"".join(chunks))


def _payloads(seg: MappedSegment, a: Any) -> bytes:
    """The payloads of records `a` of one segment, back to back."""
    with memoryview(seg.mm) as mem:
        return b"".join([
            mem[off + files.REC_HDR_SIZE : off + files.REC_HDR_SIZE + n]
            for off, n in zip(a["offset"].tolist(), a["length"].tolist())
        ])


def export(
    path: str,
    to: str,
    start: Optional[int] = None,
    until: Optional[int] = None,
    types: Optional[Set[int]] = None,
    dtype: Optional[str] = None,
    progress: Optional[ProgressFn] = None,
) -> ExportResult:
    """Write the messages of the queue at `path` in [start, until] to `to`."""
    fmt = output_format(to)
    feature = f"export to {os.path.splitext(to)[1]}"
    require("numpy", feature, "export")
    if fmt != "npy":
        require("pyarrow", feature, "export")
    dt = parse_dtype(dtype) if dtype else None
    from ..archive.reader import open_view  # a queue directory or an archive

    view = open_view(path)
    cols = _collect(view, start, until, types, dt.itemsize if dt is not None else None, progress)
    if fmt == "npy":
        _write_npy(to, cols, dt)
    else:
        _write_arrow(to, fmt, cols, dt)
    n = len(cols.seq)
    return ExportResult(to, fmt, n, int(cols.seq[0]) if n else None, int(cols.seq[-1]) if n else None)


def _decoded(cols: _Columns, dt: Any) -> Any:
    np: Any = require("numpy", "--dtype", "export")
    return np.frombuffer(cols.data, dtype=dt) if cols.data else np.zeros(len(cols.seq), dtype=dt)


def _offsets(np: Any, lengths: Any) -> Any:
    """Start of each payload in cols.data, and the end of the last."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _write_npy(to: str, cols: _Columns, dt: Any) -> None:
    np: Any = require("numpy", "export to .npy", "export")
    fixed = [("seq", "<u8"), ("timestamp", "<M8[ns]"), ("type_id", "<u2")]
    n = len(cols.seq)
    if dt is not None:
        out = np.zeros(n, dtype=np.dtype(fixed + [(name, dt.fields[name][0]) for name in dt.names]))
        decoded = _decoded(cols, dt)
        for name in dt.names:
            out[name] = decoded[name]
    else:
        width = max(1, int(cols.lengths.max()) if n else 1)
        out = np.zeros(n, dtype=np.dtype(fixed + [("length", "<u4"), ("payload", f"V{width}")]))
        out["length"] = cols.lengths
        grid = np.zeros((n, width), dtype=np.uint8)
        # row-major order of the cells left of each length is the order of cols.data
        grid[np.arange(width) < cols.lengths[:, None]] = np.frombuffer(cols.data, dtype=np.uint8)
        out["payload"] = grid.view(f"V{width}").reshape(n)
    out["seq"] = cols.seq
    out["timestamp"] = cols.ts.view("<M8[ns]")
    out["type_id"] = cols.type_id
    with open(to, "wb") as f:
        np.save(f, out, allow_pickle=False)


def _write_arrow(to: str, fmt: str, cols: _Columns, dt: Any) -> None:
    pa: Any = require("pyarrow", "export to Arrow/Parquet", "export")
    np: Any = require("numpy", "export", "export")
    data = {
        "seq": pa.array(cols.seq, pa.uint64()),
        "timestamp": pa.array(cols.ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        "type_id": pa.array(cols.type_id, pa.uint16()),
    }
    if dt is None:
        offsets = _offsets(np, cols.lengths)
        big = offsets[-1] >= 2**31  # past 2 GiB of payload: 64-bit offsets
        kind, width = (pa.large_binary(), np.int64) if big else (pa.binary(), np.int32)
        data["payload"] = pa.Array.from_buffers(
            kind, len(cols.seq), [None, pa.py_buffer(offsets.astype(width)), pa.py_buffer(cols.data)]
        )
    else:
        decoded = _decoded(cols, dt)
        for name in dt.names:
            data[name] = _arrow_column(pa, decoded[name], name)
    table = pa.table(data)
    if fmt == "parquet":
        pq: Any = require("pyarrow.parquet", "export to Parquet", "export")
        pq.write_table(table, to)
    else:
        with pa.OSFile(to, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)


def _arrow_column(pa: Any, col: Any, name: str) -> Any:
    if col.ndim == 1:
        if col.dtype.kind == "S":
            return pa.array(col.tolist(), pa.binary())
        if col.dtype.kind == "V":
            return pa.array([bytes(v) for v in col], pa.binary())
        return pa.array(col)
    if col.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(col.reshape(-1)), col.shape[1])
    raise BadArgumentError(f"field {name!r} has {col.ndim - 1} array dimensions; export it to .npy instead")

