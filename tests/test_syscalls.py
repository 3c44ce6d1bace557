"""SPEC §2 hot-path rule, through the Python API: appending and reading make
no system call per message.

A child process runs under ``strace -f -c`` twice: once doing the measured
loop of 300 000 appends (or reads) and once doing the same open, warm-up and
close with an empty loop. The difference between the two syscall totals is
what the loop cost. With the default 128 MiB segments and 32-byte payloads the
loop never rolls a segment, so only stray calls of the interpreter remain.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator

import pytest

from chronicle import Queue
from conftest import child_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace is Linux only")

MESSAGES = 300_000
WARM_UP = 1_000
PAYLOAD = b"p" * 32
# far below one per message: a per-message syscall would add 300 000
MAX_LOOP_SYSCALLS = 300

CHILD = """
import sys
from chronicle import Queue
path, mode, n, warm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
payload = b"p" * 32
if mode == "append":
    pub = Queue.open_publisher(path)
    append = pub.append
    for _ in range(warm):
        append(1, payload)
    for _ in range(n):
        append(1, payload)
    assert pub.next_seq == warm + n
    pub.close()
else:
    sub = Queue.open_subscriber(path, "reader-%d" % n)
    next_ = sub.next
    for _ in range(warm):
        next_()
    count = 0
    for _ in range(n):
        msg = next_()
        count += msg is not None
    assert count == n, count
    sub.close()
"""


@pytest.fixture(scope="module")
def strace() -> str:
    path = shutil.which("strace")
    if path is None:
        pytest.skip("strace is not installed (make test-py installs it with apt-get)")
    probe = subprocess.run([path, "-f", "-c", "-o", "/dev/null", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.strip()}")
    return path


@pytest.fixture
def work_dir(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, emptied afterwards: 128 MiB segments are not worth keeping."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def parse_summary(text: str) -> Dict[str, int]:
    """Calls per syscall from an `strace -c` table, plus 'total'."""
    counts: Dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(parts) >= 5 and parts[3].isdigit() and not line.startswith("%"):
            counts[parts[-1]] = int(parts[3])
    assert "total" in counts, f"no strace summary in:\n{text}"
    return counts


def traced_run(strace: str, out: Path, qdir: Path, mode: str, n: int) -> Dict[str, int]:
    cmd = [strace, "-f", "-c", "-o", str(out), sys.executable, "-c", textwrap.dedent(CHILD),
           str(qdir), mode, str(n), str(WARM_UP)]
    proc = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return parse_summary(out.read_text())


def loop_cost(strace: str, tmp_path: Path, mode: str, qdir: Path, baseline_qdir: Path) -> Dict[str, int]:
    measured = traced_run(strace, tmp_path / f"{mode}-loop.txt", qdir, mode, MESSAGES)
    baseline = traced_run(strace, tmp_path / f"{mode}-empty.txt", baseline_qdir, mode, 0)
    return {k: measured.get(k, 0) - baseline.get(k, 0) for k in measured.keys() | baseline.keys()
            if measured.get(k, 0) != baseline.get(k, 0)}


def test_appends_make_no_syscall_per_message(strace: str, work_dir: Path) -> None:
    cost = loop_cost(strace, work_dir, "append", work_dir / "queue", work_dir / "baseline")
    assert cost.get("total", 0) <= MAX_LOOP_SYSCALLS, f"syscalls of {MESSAGES} appends: {cost}"
    # the loop really ran: every message is in the queue, seqs dense
    with Queue.open_subscriber(work_dir / "queue", "check") as sub:
        seqs = [m.seq for m in sub]
    assert seqs == list(range(WARM_UP + MESSAGES))


def test_reads_make_no_syscall_per_message(strace: str, work_dir: Path) -> None:
    qdir = work_dir / "queue"
    with Queue.open_publisher(qdir) as pub:
        for _ in range(WARM_UP + MESSAGES):
            pub.append(1, PAYLOAD)
    cost = loop_cost(strace, work_dir, "read", qdir, qdir)
    assert cost.get("total", 0) <= MAX_LOOP_SYSCALLS, f"syscalls of {MESSAGES} reads: {cost}"
