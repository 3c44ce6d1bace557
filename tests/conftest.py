"""Shared fixtures: fresh queue directories and child Python processes."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator, List

import pytest

ROOT = Path(__file__).resolve().parent.parent

# small segments make rolls frequent in tests
SMALL_SEGMENT = 64 * 1024


@pytest.fixture
def qdir(tmp_path: Path) -> str:
    """Path of a queue directory that does not exist yet."""
    return str(tmp_path / "queue")


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def spawn_python(code: str, *args: str, **popen_kwargs: object) -> subprocess.Popen:
    """Start `python -c code args...` with the project importable."""
    popen_kwargs.setdefault("env", child_env())
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-c", textwrap.dedent(code), *args], **popen_kwargs
    )


def read_line(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    """The next line a child wrote to its stdout pipe, without the newline.

    Reads byte by byte from the raw pipe so that nothing is buffered past the
    line; fails the test if no full line arrives within `timeout` seconds.
    """
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    line = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail(f"no line from child {proc.pid} within {timeout} s (got {bytes(line)!r})")
        byte = os.read(fd, 1)
        if not byte:
            pytest.fail(f"child {proc.pid} closed stdout (exit {proc.poll()}) after {bytes(line)!r}")
        if byte == b"\n":
            return line.decode()
        line += byte


@pytest.fixture
def children() -> Iterator[List[subprocess.Popen]]:
    """A list to register child processes in; all are killed at teardown."""
    procs: List[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
