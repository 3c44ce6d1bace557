"""chronicle tail: ranges, filters, formats, and --follow on a live queue."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import List

from chronicle import Queue
from conftest import SMALL_SEGMENT, child_env, read_line
from test_cli_support import cli, error_line, flip_byte, payload, records, segment_paths, type_of, write_queue

N = 2000


def _seqs(out: str) -> List[int]:
    return [int(line.split()[0]) for line in out.splitlines()]


def test_default_is_the_last_ten(qdir: str) -> None:
    write_queue(qdir, N)
    r = cli("tail", qdir)
    assert r.code == 0
    assert _seqs(r.out) == list(range(N - 10, N))
    assert _seqs(cli("tail", qdir, "--last", "3").out) == [N - 3, N - 2, N - 1]
    assert cli("tail", qdir, "-n", "0").out == ""


def test_range_spans_segments(qdir: str) -> None:
    write_queue(qdir, N)
    assert len([p for p in segment_paths(qdir) if records(p)]) >= 2
    assert _seqs(cli("tail", qdir, "--from", "0", "--until", str(N - 1)).out) == list(range(N))
    assert _seqs(cli("tail", qdir, "--from", "500", "--until", "504").out) == [500, 501, 502, 503, 504]
    assert _seqs(cli("tail", qdir, "--from", str(N - 2), "--until", str(N + 50)).out) == [N - 2, N - 1]
    assert cli("tail", qdir, "--from", str(N)).out == ""  # the end itself is a valid start


def test_type_filter(qdir: str) -> None:
    write_queue(qdir, N)
    out = cli("tail", qdir, "--from", "0", "--type", "2", "--json").out
    got = [json.loads(line) for line in out.splitlines()]
    assert [m["seq"] for m in got] == [i for i in range(N) if type_of(i) == 2]
    both = _seqs(cli("tail", qdir, "--from", "0", "--until", "20", "--type", "0", "--type", "1").out)
    assert both == [i for i in range(21) if type_of(i) in (0, 1)]


def test_formats(qdir: str) -> None:
    write_queue(qdir, 30)
    msgs = [json.loads(line) for line in cli("tail", qdir, "--from", "20", "--format", "json").out.splitlines()]
    assert [m["seq"] for m in msgs] == list(range(20, 30))
    m = msgs[3]
    assert bytes.fromhex(m["payload_hex"]) == payload(23) and m["length"] == len(payload(23))
    assert m["type_id"] == type_of(23) and m["time"].endswith("Z") and m["timestamp_ns"] > 0
    assert cli("tail", qdir, "--from", "20", "--json").out == cli("tail", qdir, "--from", "20", "--format", "json").out
    raw = cli("tail", qdir, "--from", "20", "--format", "raw").raw
    assert raw == b"".join(payload(i) for i in range(20, 30))
    text = cli("tail", qdir, "--from", "23", "--until", "23").out
    assert text.startswith("23  ") and f"type={type_of(23)}" in text and payload(23).decode() in text
    hexed = cli("tail", qdir, "--from", "23", "--until", "23", "--format", "hex").out.splitlines()
    assert hexed[0].startswith("23  ")
    assert hexed[1].split()[:3] == ["00000000", f"{payload(23)[0]:02x}", f"{payload(23)[1]:02x}"]


def test_text_escapes_binary_and_keeps_long_lines_in_pipes(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(7, b"a\x00b\nc\xff")
        pub.append(7, b"x" * 500)
    lines = cli("tail", qdir).out.splitlines()
    assert lines[0].endswith(r"a\x00b\nc\xff")
    assert lines[1].endswith("x" * 500)  # piped output is never cut


def test_corrupt_record_prints_what_is_intact_then_exits_1(qdir: str) -> None:
    write_queue(qdir, 100)
    seg = segment_paths(qdir)[0]
    off, seq, _n = records(seg)[60]
    flip_byte(seg, off + 8)  # its seq field
    r = cli("tail", qdir, "--from", "0")
    assert r.code == 1
    assert _seqs(r.out) == list(range(60))
    assert f"{seg}:{off}:" in error_line(r)


def _follow(qdir: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "chronicle", "tail", qdir, "--follow", "--format", "json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
    )


def test_follow_prints_new_messages_until_ctrl_c(qdir: str, children: List[subprocess.Popen]) -> None:
    write_queue(qdir, 5)
    readers_before = os.listdir(os.path.join(qdir, "readers")) if os.path.isdir(os.path.join(qdir, "readers")) else []
    p = _follow(qdir, "--last", "2")
    children.append(p)
    assert [json.loads(read_line(p))["seq"] for _ in range(2)] == [3, 4]
    with Queue.open_publisher(qdir) as pub:
        for round_ in range(3):  # each wakes the sleeping follower, across segment rolls too
            first = pub.next_seq
            pub.append_many(2, [b"z" * 1000] * 100)
            got = [json.loads(read_line(p)) for _ in range(100)]
            assert [m["seq"] for m in got] == list(range(first, first + 100))
            assert all(bytes.fromhex(m["payload_hex"]) == b"z" * 1000 for m in got)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == 0
    assert p.stderr is not None and b"Traceback" not in p.stderr.read()
    readers_dir = os.path.join(qdir, "readers")
    after = os.listdir(readers_dir) if os.path.isdir(readers_dir) else []
    assert after == readers_before  # following registers no reader


def test_follow_waits_for_the_first_publisher_and_stops_at_until(qdir: str, children: List[subprocess.Popen]) -> None:
    with Queue.open_subscriber(qdir, "creator"):
        pass  # an empty queue: no segment yet
    p = _follow(qdir, "--from", "0", "--until", "2")
    children.append(p)
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for i in range(3):
            pub.append(1, b"m%d" % i)
        assert [json.loads(read_line(p))["seq"] for _ in range(3)] == [0, 1, 2]
        assert p.wait(timeout=30) == 0  # --until reached: it stops by itself
