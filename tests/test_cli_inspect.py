"""chronicle inspect and chronicle readers on real queues, with live and
dead publishers and lagging readers."""
from __future__ import annotations

import os
import signal
import subprocess
from typing import List

from chronicle import Queue
from conftest import SMALL_SEGMENT, read_line, spawn_python
from test_cli_support import (
    PUBLISHER_CHILD, SUBSCRIBER_CHILD, cli, commit_reader, error_line, segment_paths, write_queue,
)

N = 3000


def _queue_with_readers(qdir: str) -> None:
    write_queue(qdir, N)
    commit_reader(qdir, "slow", 100)
    commit_reader(qdir, "fast", N)
    with Queue.open_subscriber(qdir, "fresh"):
        pass  # registered, never committed


def test_inspect_reports_what_the_queue_holds(qdir: str) -> None:
    _queue_with_readers(qdir)
    r = cli("inspect", qdir, "--json")
    assert r.code == 0, r.err
    s = r.json()
    assert (s["messages"], s["first_seq"], s["last_seq"], s["next_seq"]) == (N, 0, N - 1, N)
    assert s["segment_size"] == SMALL_SEGMENT
    assert s["first_ts_ns"] is not None and s["first_ts_ns"] <= s["last_ts_ns"]
    states = [seg["state"] for seg in s["segments"]]
    assert states.count("active") == 1
    in_use = [seg for seg in s["segments"] if seg["state"] in ("sealed", "active")]
    assert in_use[-1]["state"] == "active" and len(in_use) >= 3  # 3000 messages fill several 64 KiB segments
    assert sum(seg["messages"] for seg in in_use) == N
    assert [seg["base_seq"] for seg in in_use] == sorted(seg["base_seq"] for seg in in_use)
    assert s["disk_bytes"] >= sum(seg["file_size"] for seg in in_use) // 2  # preallocated files occupy disk
    assert s["publisher"]["alive"] is False
    readers = {x["name"]: x for x in s["readers"]}
    assert set(readers) == {"slow", "fast", "fresh"}
    assert (readers["slow"]["next_seq"], readers["slow"]["lag_messages"]) == (100, N - 100)
    assert readers["slow"]["lag_ns"] > 0
    assert (readers["fast"]["lag_messages"], readers["fast"]["lag_ns"]) == (0, 0)
    assert readers["fresh"]["next_seq"] is None and readers["fresh"]["lag_messages"] is None
    assert all(x["open"] is False for x in readers.values())


def test_inspect_text_fits_a_terminal(qdir: str) -> None:
    _queue_with_readers(qdir)
    r = cli("inspect", qdir)
    assert r.code == 0
    assert f"messages   {N} (seq 0..{N - 1})" in r.out
    assert "publisher  not running" in r.out
    lines = r.out.splitlines()
    slow = next(line for line in lines if line.strip().startswith("slow"))
    assert f" 100 " in slow and f" {N - 100} " in slow and "closed" in slow
    for path in segment_paths(qdir):
        assert os.path.basename(path) in r.out
    assert max(len(line) for line in lines) <= 100


def test_inspect_shortens_a_long_segment_list(qdir: str) -> None:
    write_queue(qdir, 16000)  # about 15 segments of 64 KiB
    names = [os.path.basename(p) for p in segment_paths(qdir)]
    assert len(names) > 12
    short = cli("inspect", qdir).out
    assert "more (--all-segments)" in short
    assert names[0] in short and names[-1] in short and names[6] not in short
    full = cli("inspect", qdir, "--all-segments").out
    assert all(n in full for n in names)


def test_inspect_sees_a_live_publisher_and_its_death(qdir: str, children: List[subprocess.Popen]) -> None:
    child = spawn_python(PUBLISHER_CHILD, qdir, str(SMALL_SEGMENT), "50", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    children.append(child)
    assert read_line(child) == "ready"
    s = cli("inspect", qdir, "--json").json()
    assert s["publisher"] == {**s["publisher"], "alive": True, "pid": child.pid}
    assert s["messages"] == 50
    assert f"publisher  alive (pid {child.pid})" in cli("inspect", qdir).out
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    s = cli("inspect", qdir, "--json").json()
    assert s["publisher"]["alive"] is False and s["publisher"]["last_pid"] == child.pid
    assert s["messages"] == 50  # nothing lost with the publisher


def test_inspect_empty_queue(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT):
        pass
    s = cli("inspect", qdir, "--json").json()
    assert (s["messages"], s["first_seq"], s["last_seq"], s["next_seq"]) == (0, None, None, 0)
    assert "messages   0 (next seq 0)" in cli("inspect", qdir).out


def test_readers_lists_lag_and_liveness(qdir: str, children: List[subprocess.Popen]) -> None:
    _queue_with_readers(qdir)
    child = spawn_python(SUBSCRIBER_CHILD, qdir, "slow", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    children.append(child)
    assert read_line(child) == "ready"
    r = cli("readers", qdir, "--json")
    assert r.code == 0
    rows = {x["name"]: x for x in r.json()["readers"]}
    assert rows["slow"]["open"] is True and rows["slow"]["pid"] == child.pid
    assert rows["fast"]["open"] is False
    assert rows["slow"]["lag_messages"] == N - 100
    text = cli("readers", qdir).out.splitlines()
    assert text[0].split()[:3] == ["NAME", "NEXT", "SEQ"]
    assert any(line.startswith("slow") and f"open pid {child.pid}" in line for line in text)


def test_readers_remove(qdir: str, children: List[subprocess.Popen]) -> None:
    _queue_with_readers(qdir)
    pos = os.path.join(qdir, "readers", "fast.pos")
    r = cli("readers", qdir, "--remove", "fast")
    assert r.code == 0
    assert r.out.strip() == f"removed reader fast (it was at seq {N})"
    assert not os.path.exists(pos)
    assert [x["name"] for x in cli("readers", qdir, "--json").json()["readers"]] == ["fresh", "slow"]
    # a reader that is open is never removed
    child = spawn_python(SUBSCRIBER_CHILD, qdir, "slow", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    children.append(child)
    assert read_line(child) == "ready"
    r = cli("readers", qdir, "--remove", "slow")
    assert r.code == 4
    assert f"pid {child.pid}" in error_line(r)
    assert os.path.exists(os.path.join(qdir, "readers", "slow.pos"))
    assert child.stdin is not None
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    assert cli("readers", qdir, "--remove", "slow", "--json").json() == {"removed": [{"name": "slow", "next_seq": 100}]}
    # the name can be used again: it starts as new
    with Queue.open_subscriber(qdir, "slow") as sub:
        assert sub.next_seq == 0
