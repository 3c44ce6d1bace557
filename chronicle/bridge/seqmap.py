"""The origin map of a queue that ``bridge in --plain`` fills.

In plain mode the payloads are appended unchanged, so that readers that
decode fixed layouts work on a bridged queue as on a local one. Where each
record came from is then kept beside them, in ``<queue>/bridge-in.map``:
one 48-byte entry each time the origin stops being "the previous origin
seq plus one" (the first message, a gap, another origin queue, a restart)::

    offset  size  field
    0       4     magic b"CHBM"
    4       4     CRC32C of bytes 8..48
    8       8     local seq of the first record the entry describes
    16      16    origin queue id
    32      8     origin seq of that record
    40      8     reserved (0)

Local seq ``x`` came from origin seq ``e.origin_seq + (x - e.local_seq)``
of the last entry ``e`` (in file order) with ``e.local_seq <= x``. An entry
is written and fsynced before the record it describes is appended, so a
crash leaves at most an entry for a record that was never appended, which
the next entry (every run writes one before its first append) overrides.
A torn last entry fails its checksum and is ignored.
"""
from __future__ import annotations

import os
import struct
from typing import List, NamedTuple, Optional

from .._binding import PathLike
from ..tools.files import crc32c

__all__ = ["MapEntry", "SeqMap", "MAP_FILE"]

MAP_FILE = "bridge-in.map"
_MAGIC = b"CHBM"
_ENTRY = struct.Struct("<4sIQ16sQ8x")


class MapEntry(NamedTuple):
    local_seq: int
    queue_id: str  # hex
    origin_seq: int


class SeqMap:
    """Read and extend the origin map of the queue at ``queue``."""

    def __init__(self, queue: PathLike) -> None:
        self.path = os.path.join(os.fsdecode(os.fspath(queue)), MAP_FILE)

    def entries(self) -> List[MapEntry]:
        """The valid entries, in file order (none if there is no map)."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        out = []
        for off in range(0, len(data) - _ENTRY.size + 1, _ENTRY.size):
            magic, crc, local, qid, seq = _ENTRY.unpack_from(data, off)
            if magic == _MAGIC and crc == crc32c(data[off + 8 : off + _ENTRY.size]):
                out.append(MapEntry(local, qid.hex(), seq))
        return out

    def origin_of(self, local_seq: int, entries: Optional[List[MapEntry]] = None) -> Optional[MapEntry]:
        """(local seq, origin queue id, origin seq) of record ``local_seq``, or
        None if the map does not cover it."""
        found = None
        for e in self.entries() if entries is None else entries:
            if e.local_seq <= local_seq:
                found = e
        if found is None:
            return None
        return MapEntry(local_seq, found.queue_id, found.origin_seq + (local_seq - found.local_seq))

    def record(self, local_seq: int, queue_id: bytes, origin_seq: int) -> None:
        """Add an entry and make it durable (before the append it describes)."""
        body = _ENTRY.pack(_MAGIC, 0, local_seq, queue_id, origin_seq)[8:]
        entry = _MAGIC + struct.pack("<I", crc32c(body)) + body
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            size = os.fstat(fd).st_size
            if size % _ENTRY.size:  # a torn entry from a crash: keep entries aligned
                os.ftruncate(fd, size - size % _ENTRY.size)
            os.write(fd, entry)
            os.fsync(fd)
        finally:
            os.close(fd)
