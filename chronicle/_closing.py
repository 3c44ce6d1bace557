"""The context-manager half every Chronicle handle shares: leaving the
``with`` block closes it (unlike ``sqlite3``, where it commits)."""
from __future__ import annotations

import abc
from types import TracebackType
from typing import Optional, Type, TypeVar

_C = TypeVar("_C", bound="ClosingContext")


class ClosingContext(abc.ABC):
    @abc.abstractmethod
    def close(self) -> None:
        """Release what the handle holds (idempotent)."""

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
