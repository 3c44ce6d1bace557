"""A publisher's own retention: the policy applied in a background thread.

The append path never looks at retention. The thread wakes every
``interval`` seconds (and when the publisher closes it stops at once) and
deletes what :func:`chronicle.tools.retention.retain` allows: sealed segments
only, oldest first, never one a reader still needs unless the policy says so,
never one an archive does not yet hold.
"""
from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .tools.retention import RetentionPolicy


class RetentionRunner:
    """Runs ``retain(path, policy)`` periodically until :meth:`stop`."""

    def __init__(self, path: str, policy: "RetentionPolicy", interval: float) -> None:
        if interval <= 0:
            raise ValueError("retention interval must be positive")
        self._path = path
        self._policy = policy
        self._interval = interval
        self._stop = threading.Event()
        self.last_error: Optional[BaseException] = None
        self.deleted_segments = 0
        self.passes = 0  # completed retention passes
        self._thread = threading.Thread(target=self._run, name="chronicle-retention", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from .tools.retention import retain

        while not self._stop.wait(self._interval):
            try:
                self.deleted_segments += len(retain(self._path, self._policy).deleted)
                self.last_error = None
                self.passes += 1
            except Exception as exc:  # keep publishing; report each new kind of failure once
                if type(exc) is not type(self.last_error):
                    warnings.warn(f"{self._path}: retention failed: {exc}", RuntimeWarning, stacklevel=1)
                self.last_error = exc

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
