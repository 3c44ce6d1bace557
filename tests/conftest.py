"""Shared fixtures: fresh queue directories and child Python processes."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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


@pytest.fixture
def children() -> Iterator[List[subprocess.Popen]]:
    """A list to register child processes in; all are killed at teardown."""
    procs: List[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
