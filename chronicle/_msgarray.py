"""Reading chron_msg_t structs (filled by the C reader) without one cffi
field access per value: one struct unpack for a single message, and whole
columns of an array through strided memoryview casts."""
from __future__ import annotations

import struct
from typing import Any, List, Sequence, Tuple

from ._binding import ffi

MSG_SIZE: int = ffi.sizeof("chron_msg_t")

# seq, timestamp_ns, len, type_id, segment, offset; the payload pointer is
# skipped (payloads are sliced from the Python-owned mapping instead)
ONE = struct.Struct("@Qq%dxIIQQ" % struct.calcsize("P"))
if ONE.size != MSG_SIZE:
    raise ImportError(f"chron_msg_t is {MSG_SIZE} bytes here, not the {ONE.size} the binding reads")


def _field(name: str, code: str) -> Tuple[str, int, int]:
    """(struct code, index of the field in an array of that code, stride)."""
    size = struct.calcsize(code)
    offset = ffi.offsetof("chron_msg_t", name)
    if offset % size or MSG_SIZE % size:
        raise ImportError(f"chron_msg_t.{name} is not aligned as the binding expects")
    return code, offset // size, MSG_SIZE // size


_SEQ = _field("seq", "Q")
_TIMESTAMP = _field("timestamp_ns", "q")
_LEN = _field("len", "I")
_TYPE_ID = _field("type_id", "I")
_OFFSET = _field("offset", "Q")
_SEGMENT = _field("segment", "Q")
_COLUMNS = (_SEQ, _TYPE_ID, _TIMESTAMP, _OFFSET, _LEN)
_FEW = 16  # below this many records, unpacking them one by one is faster


def _column(raw: Any, field: Tuple[str, int, int], n: int) -> List[int]:
    code, index, stride = field
    return raw.cast(code)[index : n * stride : stride].tolist()  # type: ignore[no-any-return]


Columns = Tuple[int, Sequence[int], Sequence[int], Sequence[int], Sequence[int], Sequence[int]]


def columns(msgs: Any, n: int) -> Columns:
    """The segment, and the seqs, type_ids, timestamps, payload offsets and
    payload lengths of the first `n` entries of a chron_msg_t array filled
    by one chron_reader_next_batch call (so all of one segment)."""
    if n < _FEW:
        # a few records: one tuple each, transposed (casts cost ~1.5 us)
        seqs, stamps, lengths, type_ids, segments, starts = zip(*ONE.iter_unpack(ffi.buffer(msgs, n * MSG_SIZE)))
        return segments[0], seqs, type_ids, stamps, starts, lengths
    # many: whole columns, with no tuple (and no GC-tracked object) a record
    raw: Any = memoryview(ffi.buffer(msgs, n * MSG_SIZE))
    segment = raw.cast(_SEGMENT[0])[_SEGMENT[1]]
    return (segment, *(_column(raw, field, n) for field in _COLUMNS))
