"""Where archived objects live: one interface over a local directory
(:mod:`.dirstore`) and an S3 bucket prefix (:mod:`.s3store`), so the
archiver, the reader, verify and restore run the same code on both.

Objects are written through an :class:`ObjectWriter` that streams, counts and
checksums what it is given and makes the object visible under its key only at
:meth:`ObjectWriter.commit` (a rename in a directory, the completion of the
upload in S3): an interrupted write never leaves a complete-looking object.
"""
from __future__ import annotations

import hashlib
import os
import random
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Callable, List, Optional, Type, TypeVar

from ..errors import ChronicleError
from .manifest import DESCRIPTOR_KEY

T = TypeVar("T")
ReadFn = Callable[[Any], T]  # called with a stream that has read(n)


class StopRequested(Exception):
    """The caller asked to stop (SIGTERM, Ctrl-C) while an operation waited to retry."""


class ArchiveStoreError(ChronicleError, OSError):
    """The archive's store refused or failed an operation (access denied, no
    such bucket, missing credentials); the message names the operation."""


class ArchiveUnreachableError(ArchiveStoreError, ConnectionError):
    """The archive's store kept failing past the retry limit."""


class Retry:
    """Retrying transient failures with exponential backoff and jitter.

    `give_up_after` bounds the time spent retrying one operation (None:
    forever, as a sidecar wants); `report` hears about every failure before
    its retry; `stop` is polled during the waits.
    """

    def __init__(
        self,
        give_up_after: Optional[float] = 300.0,
        report: Optional[Callable[[str], None]] = None,
        stop: Optional[Callable[[], bool]] = None,
        first_delay: float = 0.2,
        max_delay: float = 10.0,
    ) -> None:
        self.give_up_after = give_up_after
        self.report = report
        self.stop = stop
        self.first_delay = first_delay
        self.max_delay = max_delay

    def call(self, what: str, fn: Callable[[], T], transient: Callable[[BaseException], bool]) -> T:
        start = time.monotonic()
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as e:
                if not transient(e):
                    raise
                attempt += 1
                waited = time.monotonic() - start
                if self.give_up_after is not None and waited >= self.give_up_after:
                    raise ArchiveUnreachableError(
                        f"{what}: still failing after {waited:.0f} s and {attempt} attempts: {one_line(e)}"
                    ) from e
                delay = random.uniform(0.5, 1.0) * min(self.max_delay, self.first_delay * 2 ** min(attempt - 1, 16))
                if self.report is not None:
                    self.report(f"{what}: {one_line(e)}; retrying in {delay:.1f} s (attempt {attempt + 1})")
                self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if self.stop is not None and self.stop():
                raise StopRequested()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))


NO_RETRY = Retry(give_up_after=0.0)


def one_line(e: BaseException) -> str:
    return " ".join((str(e) or type(e).__name__).split())


class ObjectWriter(ABC):
    """A new object, written in order; it appears under its key only when
    committed. As a context manager it aborts unless committed."""

    def __init__(self) -> None:
        self.size = 0
        self._sha = hashlib.sha256()
        self._done = False

    @property
    def checksum(self) -> str:
        return "sha256:" + self._sha.hexdigest()

    def write(self, data: Any) -> int:
        n = len(data) if isinstance(data, (bytes, bytearray)) else memoryview(data).nbytes
        self._sha.update(data)
        self._write(data)
        self.size += n
        return n

    def flush(self) -> None:
        """Part of the file interface zstandard's stream writer expects; data
        becomes durable only at commit."""

    def commit(self) -> None:
        self._commit()
        self._done = True

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._abort()

    @abstractmethod
    def _write(self, data: Any) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...

    def __enter__(self) -> "ObjectWriter":
        return self

    def __exit__(
        self, t: Optional[Type[BaseException]], v: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.abort()


class Store(ABC):
    """Objects under string keys ("segments/…", "manifest/…")."""

    url: str

    def where(self, key: str) -> str:
        """The full name of an object, for messages."""
        return f"{self.url.rstrip('/')}/{key}"

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object whole, atomically."""

    @abstractmethod
    def get_bytes(self, key: str) -> Optional[bytes]:
        """A small object's bytes, or None if there is none."""

    @abstractmethod
    def size(self, key: str) -> Optional[int]:
        """An object's size, or None if there is none."""

    @abstractmethod
    def list_keys(self, prefix: str) -> List[str]:
        """Keys of the complete objects under `prefix`, sorted."""

    @abstractmethod
    def create(self, key: str) -> ObjectWriter:
        """Start writing the object `key` (replacing any at commit)."""

    @abstractmethod
    def read(self, key: str, fn: ReadFn[T]) -> T:
        """Call fn(stream) on the object; fn may be called again from the
        start after a transient failure. FileNotFoundError if absent."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; nothing happens if there is none."""

    @abstractmethod
    def cleanup(self) -> int:
        """Remove what interrupted writes left (temporary files, unfinished
        uploads); only safe while no other writer uses the archive. Returns
        how many were removed."""

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_s3_url(target: str) -> bool:
    return target.startswith("s3://")


def is_archive(target: "str | os.PathLike[str]") -> bool:
    """Whether `target` names an archive rather than a queue: an s3:// URL,
    or a directory holding an archive descriptor."""
    text = os.fspath(target)
    return is_s3_url(text) or os.path.isfile(os.path.join(text, DESCRIPTOR_KEY))


def open_store(
    url: "str | os.PathLike[str]", retry: Optional[Retry] = None, create: bool = False, file_mode: int = 0o600,
    part_size: Optional[int] = None,
) -> Store:
    """The store for a directory path or an s3://BUCKET/PREFIX URL. A
    directory is made (with `file_mode`) only when `create` is set."""
    text = os.fspath(url)
    if is_s3_url(text):
        from .s3store import S3Store

        return S3Store(text, retry=retry, part_size=part_size)
    from .dirstore import DirStore

    return DirStore(text, create=create, file_mode=file_mode)
