"""Errors of the operator tools, beside those of :mod:`chronicle.errors`."""
from __future__ import annotations

from ..errors import ChronicleError


class NotAQueueError(ChronicleError, FileNotFoundError):
    """The path does not exist or holds no Chronicle queue."""


class MissingExtraError(ChronicleError, ImportError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs {module}, which is not installed: pip install 'chronicle-mq[{extra}]'"
        )
        self.extra = extra


def require(module: str, feature: str, extra: str) -> object:
    """Import an optional dependency, or raise MissingExtraError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(feature, module, extra) from None


class BadArgumentError(ChronicleError, ValueError):
    """An argument that does not fit the queue (a seq outside it, a dtype
    that does not match the payloads, an unknown output format)."""
