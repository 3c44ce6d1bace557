"""Chronicle: a low-latency, persisted, memory-mapped message queue for
processes on one host.

>>> from chronicle import Queue
>>> with Queue.open_publisher("./data/my_queue") as pub:
...     seq = pub.append(1, b"Hello HFT World")
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    ChronicleError,
    ClosedError,
    CorruptQueueError,
    MessageTooLargeError,
    QueueLockedError,
    RecoveryWarning,
    SegmentRetiredError,
    SeqRangeError,
)
from .frames import RecordBatch, read_frame
from .queue import Message, Publisher, Queue, Subscriber

if TYPE_CHECKING:
    from .archive import ArchiveReader

__version__ = "0.1.0"


def open_archive(url: str, **kwargs: Any) -> "ArchiveReader":
    """A reader over archived messages (a directory or an ``s3://`` URL):
    ``seek``, iteration and the same :class:`Message` fields and checksum
    checks as a live subscriber. See :mod:`chronicle.archive`."""
    from .archive import open_archive as _open_archive

    return _open_archive(url, **kwargs)


__all__ = [
    "Queue",
    "Publisher",
    "Subscriber",
    "Message",
    "RecordBatch",
    "read_frame",
    "open_archive",
    "ChronicleError",
    "ClosedError",
    "CorruptQueueError",
    "MessageTooLargeError",
    "QueueLockedError",
    "RecoveryWarning",
    "SegmentRetiredError",
    "SeqRangeError",
]
