"""`Message`: one message read from a queue or an archive."""
from __future__ import annotations

from typing import Any


class Message:
    """One message read from a queue.

    ``payload`` is a read-only, zero-copy ``memoryview`` into the mapped
    segment; ``bytes(msg.payload)`` copies it.
    """

    # The payload is kept as (buffer, start, length) and sliced when asked for:
    # a memoryview slice costs as much as the rest of the message, and many
    # readers look at seq or type_id first (or only)
    __slots__ = ("seq", "type_id", "timestamp_ns", "_buf", "_start", "_len")

    seq: int
    type_id: int
    timestamp_ns: int

    def __init__(self, seq: int, type_id: int, timestamp_ns: int, payload: Any) -> None:
        self.seq = seq
        self.type_id = type_id
        self.timestamp_ns = timestamp_ns
        view = memoryview(payload).cast("B")
        self._buf = view.toreadonly()
        self._start = 0
        self._len = len(view)

    @property
    def payload(self) -> memoryview:
        """The payload: a read-only memoryview, valid as long as it is kept."""
        start = self._start
        return self._buf[start : start + self._len]

    def __repr__(self) -> str:
        return (
            f"Message(seq={self.seq}, type_id={self.type_id}, "
            f"timestamp_ns={self.timestamp_ns}, payload=<{self._len} bytes>)"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.seq, self.type_id, self.timestamp_ns, self.payload) == (
            other.seq,
            other.type_id,
            other.timestamp_ns,
            other.payload,
        )

    __hash__ = None  # type: ignore[assignment]


class MappedMessage(Message):
    """A message whose payload is `length` bytes at `start` in a mapped
    segment; made by the readers without copying or slicing anything."""

    __slots__ = ()

    def __init__(  # the base class's __init__ slices; this one must not
        self, seq: int, type_id: int, timestamp_ns: int, segment: memoryview, start: int, length: int
    ) -> None:
        self.seq = seq
        self.type_id = type_id
        self.timestamp_ns = timestamp_ns
        self._buf = segment
        self._start = start
        self._len = length
