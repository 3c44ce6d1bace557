"""Bad input: an unreachable server, a wrong stream or subject, a locked
queue, and messages on the stream without the origin headers. Each is a
clear one-line error with its exit code, or a skip that is counted and
reported; never a crash, never a silent drop."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, List

import pytest

from chronicle import Queue
from chronicle.bridge.local_server import free_ports
from conftest import ROOT, child_env
from test_bridge_support import (
    Bridges, assert_exactly_once, bridges, fill_queue, nats_server, publish_raw, wait_count,
)

__all__ = ["bridges", "nats_server"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chronicle", "bridge", *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), cwd=ROOT)


def one_error_line(r: subprocess.CompletedProcess, where: str = "chronicle bridge") -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{where}: error: "), lines[0]
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.mark.parametrize("direction", ["out", "in"])
def test_unreachable_server_is_exit_3(tmp_path: Path, direction: str) -> None:
    url = f"nats://127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    target = [str(tmp_path / "q")] if direction == "out" else ["--to", str(tmp_path / "q")]
    r = run_cli(direction, *target, "--nats", url, "--stream", "S", "--connect-timeout", "1")
    assert r.returncode == 3, r.stderr
    line = one_error_line(r)
    assert "cannot connect to NATS" in line and url in line


def test_missing_stream_is_exit_2(tmp_path: Path, nats_server: Any) -> None:
    a = str(tmp_path / "A")
    fill_queue(a, 3)
    r = run_cli("out", a, "--nats", nats_server.url, "--stream", "NOPE")
    assert r.returncode == 2
    assert "stream 'NOPE' does not exist (give --create" in one_error_line(r)
    r = run_cli("in", "--to", str(tmp_path / "B"), "--nats", nats_server.url, "--stream", "NOPE")
    assert r.returncode == 2
    assert "does not exist" in one_error_line(r)
    # nothing was published or consumed: the reader never committed
    with Queue.open_subscriber(a, "bridge-NOPE") as sub:
        assert sub.next_seq == 0


def test_subject_outside_the_stream_is_exit_2(tmp_path: Path, nats_server: Any, bridges: Bridges) -> None:
    a = str(tmp_path / "A")
    fill_queue(a, 3)
    bridges.out(a, nats_server.url, "SUBJ", "--create").stop()  # makes the stream, subject chronicle.SUBJ
    r = run_cli("out", a, "--nats", nats_server.url, "--stream", "SUBJ", "--subject", "elsewhere.x")
    assert r.returncode == 2
    assert "does not take subject 'elsewhere.x'" in one_error_line(r)


@pytest.mark.parametrize("args", [["--stream", "a.b"], ["--stream", "S", "--durable", "x y"], ["--stream", "S", "--batch", "0"]])
def test_bad_names_and_values_are_exit_2(tmp_path: Path, args: List[str]) -> None:
    r = run_cli("in", "--to", str(tmp_path / "B"), "--nats", "nats://127.0.0.1:1", *args)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_locked_queue_is_exit_4(tmp_path: Path, nats_server: Any) -> None:
    b = str(tmp_path / "B")
    with Queue.open_publisher(b):  # another publisher holds queue B
        r = run_cli("in", "--to", b, "--nats", nats_server.url, "--stream", "S", "--create")
    assert r.returncode == 4
    assert "pid" in one_error_line(r)


def test_messages_without_origin_headers_are_skipped_and_reported(
    tmp_path: Path, nats_server: Any, bridges: Bridges
) -> None:
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    url = nats_server.url
    fill_queue(a, 100)
    out = bridges.out(a, url, "MIX", "--create")
    inn = bridges.into(b, url, "MIX", "--segment-size", "1M")
    wait_count(b, 100, 30, alive=[out, inn])
    # another client writes to the stream: no headers at all, then a bad seq
    publish_raw([url], "chronicle.MIX", [(b"plain", None), (b"bad", {"Chronicle-Seq": "x", "Chronicle-Type": "1",
                                                                     "Chronicle-Timestamp": "1",
                                                                     "Chronicle-Queue": "00" * 16})])
    fill_queue(a, 100, start=100)  # bridge out resynchronizes past them and goes on
    wait_count(b, 200, 30, alive=[out, inn])
    skipped = [inn.wait_event("skipped"), inn.wait_event("skipped")]
    assert [e["stream_seq"] for e in skipped] == [101, 102]
    assert "no headers" in skipped[0]["reason"] and "unparsable" in skipped[1]["reason"]
    progress = inn.wait_event("progress")
    assert progress["skipped"] == 2 and progress["appended"] == 200
    # they broke bridge out's chain of expectations: it resynchronized, and lost nothing
    assert "wrong last" in out.wait_event("resync")["reason"]
    out.stop()
    assert inn.stop()["appended"] == 200
    assert_exactly_once(a, b, 200)
