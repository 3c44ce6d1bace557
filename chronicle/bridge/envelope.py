"""The envelope ``bridge in`` puts in front of each payload it appends.

A local :class:`~chronicle.queue.Message` has its own seq and timestamp (the
receiving queue's), so the origin's are carried in the payload: a fixed
48-byte header, then the original payload unchanged. The record's type id is
the origin's type id. All integers are little-endian::

    offset  size  field
    0       4     magic b"CHRB"
    4       2     envelope version (1)
    6       2     header size (48; readers skip this many bytes)
    8       16    origin queue id (queue.meta bytes 8..24 of the origin queue)
    24      8     origin seq
    32      8     origin timestamp_ns (signed)
    40      8     JetStream stream sequence the message was stored at
    48      ...   the origin payload

:func:`origin` decodes it without copying the payload.
"""
from __future__ import annotations

import struct
from typing import Any, NamedTuple, Optional

__all__ = ["Origin", "origin", "is_bridged", "pack_header", "HEADER_SIZE", "MAGIC"]

MAGIC = b"CHRB"
VERSION = 1
_HEADER = struct.Struct("<4sHH16sQqQ")
HEADER_SIZE = _HEADER.size  # 48


class Origin(NamedTuple):
    """Where a bridged message came from, and its original payload."""

    seq: int  # the origin queue's seq
    timestamp_ns: int  # the origin writer's timestamp
    payload: memoryview  # the original payload (a view, no copy)
    queue_id: str  # the origin queue's identity, 32 hex digits
    stream_seq: int  # JetStream's sequence for the message


def pack_header(queue_id: bytes, seq: int, timestamp_ns: int, stream_seq: int) -> bytes:
    """The envelope header for one message (the payload follows it)."""
    return _HEADER.pack(MAGIC, VERSION, HEADER_SIZE, queue_id, seq, timestamp_ns, stream_seq)


def _payload_of(msg: Any) -> memoryview:
    data = getattr(msg, "payload", msg)
    view = memoryview(data)
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def is_bridged(msg: Any) -> bool:
    """True if ``msg`` (a Message or a payload) starts with a bridge envelope."""
    view = _payload_of(msg)
    return len(view) >= HEADER_SIZE and view[:4] == MAGIC


def origin(msg: Any) -> Origin:
    """Decode the envelope of a message appended by ``bridge in``.

    ``msg`` is a :class:`~chronicle.queue.Message` or its payload (any
    bytes-like object). Returns :class:`Origin` with the origin seq,
    timestamp, payload view, queue id and stream sequence. Raises
    ``ValueError`` for a payload that holds no envelope.
    """
    view = _payload_of(msg)
    found = _decode(view)
    if found is None:
        raise ValueError(
            f"not a bridged message: the payload ({len(view)} bytes) does not start with a "
            f"{HEADER_SIZE}-byte {MAGIC.decode()} envelope"
        )
    return found


def _decode(view: memoryview) -> Optional[Origin]:
    if len(view) < HEADER_SIZE or view[:4] != MAGIC:
        return None
    magic, version, size, qid, seq, ts, stream_seq = _HEADER.unpack_from(view)
    if version < 1 or size < HEADER_SIZE or size > len(view):
        return None
    return Origin(seq, ts, view[size:], qid.hex(), stream_seq)
