"""The JetStream side: checking or creating the stream, and telling
passing trouble (an election, a restart) from a wrong configuration."""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, List, Optional, Sequence, TypeVar

from .errors import BridgeError, NatsUnavailableError, StreamNotFoundError

__all__ = [
    "StreamOptions", "default_subject", "check_name", "ensure_stream", "subject_matches",
    "is_transient", "retry_transient", "ERR_STREAM_NOT_FOUND", "ERR_CONSUMER_NOT_FOUND",
    "ERR_WRONG_LAST_SEQUENCE", "ERR_NO_MESSAGE",
]

RETENTIONS = ("limits", "interest", "workqueue")
STORAGES = ("file", "memory")
# JetStream API error codes the bridge reacts to
ERR_STREAM_NOT_FOUND = 10059
ERR_CONSUMER_NOT_FOUND = 10014
ERR_WRONG_LAST_SEQUENCE = 10071
ERR_NO_MESSAGE = 10037
_NAME = re.compile(r"[^\s.*>/\\]+")
T = TypeVar("T")


@dataclass(frozen=True)
class StreamOptions:
    """How ``--create`` makes the stream (ignored when it exists)."""

    replicas: int = 1
    retention: str = "limits"  # limits | interest | workqueue
    storage: str = "file"  # file | memory
    max_age: Optional[float] = None  # seconds
    max_bytes: Optional[int] = None
    max_msgs: Optional[int] = None
    duplicate_window: float = 120.0  # seconds: JetStream's deduplication by Nats-Msg-Id

    def __post_init__(self) -> None:
        if self.retention not in RETENTIONS:
            raise ValueError(f"retention must be one of {', '.join(RETENTIONS)}, not {self.retention!r}")
        if self.storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, not {self.storage!r}")
        if not 1 <= self.replicas <= 5:
            raise ValueError(f"replicas must be 1..5, not {self.replicas}")


def default_subject(stream: str) -> str:
    """The subject both bridges use unless told otherwise."""
    return f"chronicle.{stream}"


def check_name(kind: str, name: str) -> str:
    """A stream or consumer name as JetStream accepts it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 255:
        raise ValueError(f"invalid {kind} name {name!r}: no spaces, '.', '*', '>' or path separators")
    return name


def subject_matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: '*' is one token, '>' the rest."""
    toks, pats = subject.split("."), pattern.split(".")
    for i, p in enumerate(pats):
        if p == ">":
            return len(toks) > i
        if i >= len(toks) or (p != "*" and p != toks[i]):
            return False
    return len(toks) == len(pats)


def is_transient(e: BaseException) -> bool:
    """Errors a later retry may not get: no server, a timeout, JetStream
    busy electing a leader or recovering after a restart."""
    import nats.errors
    import nats.js.errors

    if isinstance(e, (asyncio.TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError,
                      nats.errors.ConnectionReconnectingError, nats.errors.StaleConnectionError,
                      nats.errors.OutboundBufferLimitError, nats.errors.FlushTimeoutError,
                      nats.js.errors.ServiceUnavailableError, nats.js.errors.NoStreamResponseError,
                      nats.js.errors.ServerError, ConnectionError)):
        return True
    if isinstance(e, nats.js.errors.APIError):
        return e.code in (408, 500, 503) or e.err_code in (10008, 10039, 10076)  # cluster/JS not ready
    return False


async def retry_transient(
    what: str, call: Callable[[], Awaitable[T]], timeout: float, stopping: Optional[Callable[[], bool]] = None
) -> T:
    """``await call()``, retrying transient errors with back-off until
    ``timeout`` seconds have passed; then NatsUnavailableError."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return await call()
        except Exception as e:
            if not is_transient(e):
                raise
            if time.monotonic() + delay > deadline or (stopping is not None and stopping()):
                raise NatsUnavailableError(f"{what}: no answer from JetStream within {timeout:g} s "
                                           f"({type(e).__name__}{': ' + str(e) if str(e) else ''}); "
                                           "is the server running with JetStream (-js)?") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def ensure_stream(
    js: Any, name: str, subjects: Sequence[str], *, create: bool, options: StreamOptions, timeout: float = 10.0
) -> Any:
    """The stream's info; created with ``options`` if absent and ``create``.

    Raises StreamNotFoundError if it is absent (and not to be created) or if
    one of ``subjects`` is not among the stream's subjects.
    """
    import nats.js.api as api
    import nats.js.errors

    check_name("stream", name)

    async def lookup() -> Any:
        try:
            return await js.stream_info(name)
        except nats.js.errors.NotFoundError as e:
            if e.err_code not in (None, ERR_STREAM_NOT_FOUND):
                raise
            return None

    info = await retry_transient(f"looking up stream {name!r}", lookup, timeout)
    if info is None:
        if not create:
            raise StreamNotFoundError(f"stream {name!r} does not exist (give --create to create it)")
        cfg = api.StreamConfig(
            name=name,
            subjects=list(subjects),
            retention=api.RetentionPolicy(options.retention),
            storage=api.StorageType(options.storage),
            num_replicas=options.replicas,
            max_age=options.max_age,
            max_bytes=options.max_bytes,
            max_msgs=options.max_msgs,
            duplicate_window=options.duplicate_window,
        )

        async def add() -> Any:
            try:
                return await js.add_stream(cfg)
            except nats.js.errors.BadRequestError as e:
                if "already in use" in (e.description or ""):  # created meanwhile by the other bridge
                    return await js.stream_info(name)
                raise BridgeError(f"cannot create stream {name!r}: {e.description}") from None

        info = await retry_transient(f"creating stream {name!r}", add, timeout)
    have: List[str] = list(info.config.subjects or [])
    for subject in subjects:
        if not any(subject_matches(subject, p) for p in have):
            raise StreamNotFoundError(
                f"stream {name!r} does not take subject {subject!r} (its subjects: {', '.join(have) or 'none'})"
            )
    return info
