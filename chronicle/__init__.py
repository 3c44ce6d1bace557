"""Chronicle: a low-latency, persisted, memory-mapped message queue for
processes on one host.

>>> from chronicle import Queue
>>> with Queue.open_publisher("./data/my_queue") as pub:
...     seq = pub.append(1, b"Hello HFT World")
"""
from __future__ import annotations

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

__version__ = "0.1.0"

__all__ = [
    "Queue",
    "Publisher",
    "Subscriber",
    "Message",
    "RecordBatch",
    "read_frame",
    "ChronicleError",
    "ClosedError",
    "CorruptQueueError",
    "MessageTooLargeError",
    "QueueLockedError",
    "RecoveryWarning",
    "SegmentRetiredError",
    "SeqRangeError",
]
