"""The thin layer over the C core: the cffi module and return-code mapping.

Every C call that can fail returns a negative code; :func:`raise_error` turns
the code and the thread's last-error record into the matching exception.
"""
from __future__ import annotations

import errno as _errno
import os
from typing import NoReturn, Union

from ._chronicle import ffi, lib
from .errors import (
    ChronicleError,
    CorruptQueueError,
    MessageTooLargeError,
    QueueLockedError,
    SegmentRetiredError,
    SeqRangeError,
)

PathLike = Union[str, "os.PathLike[str]", bytes, "os.PathLike[bytes]"]

__all__ = ["ffi", "lib", "raise_error", "check", "encode_path", "PathLike"]


def _text(cstr: object) -> str:
    return ffi.string(cstr).decode("utf-8", "replace")  # type: ignore[no-any-return]


def raise_error(rc: int) -> NoReturn:
    """Raise the exception for negative code ``rc`` from the last C failure."""
    message = _text(lib.chron_errmsg()) or _text(lib.chron_strerror(rc))
    path = _text(lib.chron_errpath())
    detail = int(lib.chron_errdetail())
    if rc == lib.CHRON_E_INVAL:
        raise ValueError(message)
    if rc == lib.CHRON_E_TOOBIG:
        raise MessageTooLargeError(message)
    if rc == lib.CHRON_E_LOCKED:
        raise QueueLockedError(message, pid=detail if detail > 0 else None, path=path)
    if rc in (lib.CHRON_E_CORRUPT, lib.CHRON_E_VERSION):
        raise CorruptQueueError(message, path=path, offset=detail if detail >= 0 else None)
    if rc == lib.CHRON_E_RANGE:
        raise SeqRangeError(message)
    if rc == lib.CHRON_E_RETIRED:
        raise SegmentRetiredError(message)
    if rc == lib.CHRON_E_INTR:
        raise InterruptedError(_errno.EINTR, message)
    if -4096 < rc < 0:
        prefix = path + ": "
        text = message[len(prefix):] if path and message.startswith(prefix) else message
        raise OSError(-rc, text, path or None)
    raise ChronicleError(message)


def check(rc: int) -> int:
    """Return ``rc`` unchanged when it is not an error."""
    if rc < 0:
        raise_error(rc)
    return rc


def encode_path(path: PathLike) -> bytes:
    """A path for the C core: str, bytes or os.PathLike, without NUL bytes."""
    raw = os.fsencode(os.fspath(path))
    if not raw:
        raise ValueError("empty queue path")
    if b"\0" in raw:
        raise ValueError("queue path contains a NUL byte")
    return raw
