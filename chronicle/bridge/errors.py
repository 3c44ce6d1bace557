"""The bridge's errors, beside those of :mod:`chronicle.errors`."""
from __future__ import annotations

from ..errors import ChronicleError

__all__ = ["BridgeError", "NatsUnavailableError", "StreamNotFoundError", "ConsumerMismatchError"]


class BridgeError(ChronicleError):
    """The bridge cannot run as configured (the message says why)."""


class NatsUnavailableError(BridgeError, ConnectionError):
    """No NATS server could be reached, or it has no JetStream."""


class StreamNotFoundError(BridgeError, LookupError):
    """The stream does not exist (and --create was not given), or does not
    take the subject."""


class ConsumerMismatchError(BridgeError, ValueError):
    """The durable consumer exists with a configuration the bridge cannot use."""
