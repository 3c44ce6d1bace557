"""chronicle retain: deletes only sealed segments every reader has passed,
unless age or size limits say otherwise, and never the active segment."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Dict, List

import pytest

from chronicle import Queue
from chronicle.tools.retention import RetentionPolicy, retain
from conftest import SMALL_SEGMENT, child_env, read_line
from test_cli_support import cli, commit_reader, read_all, set_position, write_queue

N = 6000


def _segments(qdir: str) -> List[Dict]:
    return cli("inspect", qdir, "--json", "--all-segments").json()["segments"]


def _in_use(qdir: str) -> List[Dict]:
    return [s for s in _segments(qdir) if s["state"] in ("sealed", "active")]


def _files(qdir: str) -> List[str]:
    return sorted(n for n in os.listdir(qdir) if n.endswith(".seg"))


@pytest.fixture
def queue(qdir: str) -> str:
    write_queue(qdir, N)
    assert len(_in_use(qdir)) >= 4
    return qdir


def test_deletes_exactly_what_every_reader_passed(queue: str) -> None:
    segs = _in_use(queue)
    set_position(queue, "ahead", segs[3]["base_seq"])  # passed 0, 1, 2
    set_position(queue, "behind", segs[2]["base_seq"])  # passed 0, 1 exactly
    r = cli("retain", queue)
    assert r.code == 0, r.err
    assert [line.split()[1] for line in r.out.splitlines() if line.startswith("deleted ")] == [
        segs[0]["file"], segs[1]["file"]
    ]
    assert f"first retained seq {segs[2]['base_seq']}" in r.out
    assert "kept: segment" in r.out and "behind" in r.out
    assert segs[0]["file"] not in _files(queue) and segs[2]["file"] in _files(queue)
    assert cli("verify", queue).code == 0
    with Queue.open_subscriber(queue, "behind") as sub:
        m = sub.next()
        assert m is not None and m.seq == segs[2]["base_seq"]
    assert cli("retain", queue, "--json").json()["deleted"] == []  # nobody moved on: nothing more goes


def test_one_short_of_the_next_segment_keeps_it(queue: str) -> None:
    segs = _in_use(queue)
    set_position(queue, "r", segs[2]["base_seq"] - 1)
    deleted = cli("retain", queue, "--json").json()["deleted"]
    assert [d["segment"] for d in deleted] == [segs[0]["file"]]


def test_without_readers_or_limits_nothing_goes(queue: str) -> None:
    before = _files(queue)
    r = cli("retain", queue)
    assert r.code == 0
    assert "deleted 0 segment(s)" in r.out and "no readers" in r.out
    assert _files(queue) == before


def test_a_reader_with_no_commit_holds_everything(queue: str) -> None:
    segs = _in_use(queue)
    set_position(queue, "done", N)
    with Queue.open_subscriber(queue, "new"):
        pass
    res = cli("retain", queue, "--json").json()
    assert res["deleted"] == [] and "new" in res["kept_because"]
    assert segs[0]["file"] in _files(queue)


def test_age_limit_deletes_unread_unless_keep_unread(queue: str) -> None:
    segs = _in_use(queue)
    set_position(queue, "slow", segs[1]["base_seq"])  # passed segment 0 only
    kept = cli("retain", queue, "--max-age", "0s", "--keep-unread", "--json").json()
    assert [d["segment"] for d in kept["deleted"]] == [segs[0]["file"]]
    assert "--keep-unread" in kept["kept_because"]
    assert cli("retain", queue, "--max-age", "7d", "--json").json()["deleted"] == []  # all younger than 7 days
    r = cli("retain", queue, "--max-age", "0s")
    assert r.code == 0 and "unread by slow" in r.out
    assert [s["file"] for s in _in_use(queue)] == [segs[-1]["file"]]  # only the active one is left
    # the lagging reader lost messages, and verify says so
    v = cli("verify", queue)
    assert v.code == 1 and "before the first retained seq" in v.out


def test_size_limit_deletes_oldest_until_under(queue: str) -> None:
    segs = _segments(queue)
    total = sum(s["file_size"] for s in segs)
    limit = total - 2 * SMALL_SEGMENT  # two segments over
    res = cli("retain", queue, "--max-bytes", str(limit), "--json").json()
    in_use = [s for s in segs if s["state"] in ("sealed", "active")]
    assert [d["segment"] for d in res["deleted"]] == [in_use[0]["file"], in_use[1]["file"]]
    assert all(d["reason"] == "over the size limit" for d in res["deleted"])
    assert sum(os.path.getsize(os.path.join(queue, n)) for n in _files(queue)) <= limit


def test_active_and_prepared_segments_are_never_deleted(queue: str) -> None:
    before = _segments(queue)
    keep = [s["file"] for s in before if s["state"] in ("active", "prepared")]
    cli("retain", queue, "--max-age", "0s", "--max-bytes", "0")
    assert _files(queue) == sorted(keep)
    with Queue.open_publisher(queue) as pub:
        assert pub.next_seq == N
        pub.append_many(1, [b"x" * 200] * 1000)  # rolls on into fresh segments
    msgs = read_all(queue)
    assert msgs[0][0] == next(s["base_seq"] for s in before if s["state"] == "active")
    assert msgs[-1][0] == N + 999
    assert cli("verify", queue).code == 0


def test_dry_run_deletes_nothing(queue: str) -> None:
    before = _files(queue)
    r = cli("retain", queue, "--max-age", "0s", "--dry-run")
    assert r.code == 0 and r.out.startswith("would delete ")
    assert _files(queue) == before


def test_library_call_applies_a_policy(queue: str) -> None:
    segs = _in_use(queue)
    commit_reader(queue, "r", segs[1]["base_seq"])
    res = retain(queue, RetentionPolicy())
    assert [d.segment for d in res.deleted] == [segs[0]["file"]] and res.first_seq == segs[1]["base_seq"]
    with pytest.raises(ValueError):
        RetentionPolicy(max_bytes=-1)


def test_follow_applies_the_policy_as_the_publisher_rolls(qdir: str, children: List[subprocess.Popen]) -> None:
    write_queue(qdir, 10)
    p = subprocess.Popen(
        [sys.executable, "-m", "chronicle", "retain", qdir, "--follow", "--every", "0.2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
    )
    children.append(p)
    with Queue.open_publisher(qdir) as pub, Queue.open_subscriber(qdir, "consumer") as sub:
        for _ in range(3):
            pub.append_many(1, [b"y" * 500] * 300)  # more than two segments
            for _m in sub:
                pass
            sub.commit()
            report = json.loads(read_line(p, timeout=30))
            assert report["deleted"], report
            assert all(d["end_seq"] <= sub.next_seq for d in report["deleted"])
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == 0
    assert cli("verify", qdir).code == 0
