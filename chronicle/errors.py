"""Exceptions raised by Chronicle.

Every exception derives from :class:`ChronicleError`, which is never raised
itself. Where a builtin exception fits, the subclass also derives from it, so
``except ValueError`` still catches an oversized payload.
"""
from __future__ import annotations

from typing import Optional


class ChronicleError(Exception):
    """Base class of every Chronicle error."""


class QueueLockedError(ChronicleError):
    """Another live process holds the lock (the publisher, or a reader name)."""

    def __init__(self, message: str, pid: Optional[int] = None, path: str = "") -> None:
        super().__init__(message)
        self.pid = pid
        self.path = path


class CorruptQueueError(ChronicleError):
    """A queue file does not hold what the format says; names file and offset."""

    def __init__(self, message: str, path: str = "", offset: Optional[int] = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset


class MessageTooLargeError(ChronicleError, ValueError):
    """A payload that can never fit in one segment."""


class ClosedError(ChronicleError, ValueError):
    """A handle was used after close()."""


class SeqRangeError(ChronicleError, IndexError):
    """A sequence number outside what the queue holds (seek past the end)."""


class SegmentRetiredError(ChronicleError):
    """The segment a reader needs was deleted by retention."""


class RecoveryWarning(UserWarning):
    """A publisher opened a queue whose tail was torn or corrupt and wiped it."""


__all__ = [
    "ChronicleError",
    "QueueLockedError",
    "CorruptQueueError",
    "MessageTooLargeError",
    "ClosedError",
    "SeqRangeError",
    "SegmentRetiredError",
    "RecoveryWarning",
]
