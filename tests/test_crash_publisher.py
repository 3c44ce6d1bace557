"""Publisher crashes: kill -9 at random moments, and a crash inside a segment
roll. Every message whose append returned must survive with its exact bytes,
seqs stay dense, the next publisher continues, and a subscriber that stays
open through the crash and the takeover keeps reading without reopening."""
from __future__ import annotations

import random
import subprocess
import time
from typing import List

from conftest import spawn_python
from test_crash_support import (
    SMALL_SEGMENT,
    TESTS_DIR,
    LineReader,
    active_segments,
    append_expected,
    check_dense,
    payload_for,
    read_all,
    type_for,
    write_at,
)

from chronicle import Queue, Subscriber

SEED = 20240531
KILLS = 24

# Appends deterministic messages in random bursts and prints the last seq of
# each burst once its append returned ("ack"). Caps its own output, then
# waits to be killed (stdin closes if the test process dies).
PUBLISHER = """
import random, sys
sys.path.insert(0, sys.argv[1])
from chronicle import Queue
from test_crash_support import SMALL_SEGMENT, payload_for, type_for
qdir, seed = sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
pub = Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT)
seq = pub.next_seq
print("open", seq, flush=True)
limit = seq + 20000
while seq < limit:
    for _ in range(rng.randint(1, 40)):
        got = pub.append(type_for(seq), payload_for(seq))
        if got != seq:
            print("bad", got, seq, flush=True)
            sys.exit(1)
        seq += 1
    print("ack", seq - 1, flush=True)
sys.stdin.read()
"""


def drain(sub: Subscriber, upto: int, what: str) -> None:
    """Read up to and including seq `upto`, checking every message."""
    while sub.next_seq <= upto:
        msg = sub.next()
        if msg is None:
            assert sub.wait(timeout=10), f"{what}: subscriber stalled at seq {sub.next_seq} (target {upto})"
            continue
        assert msg.seq == sub.next_seq - 1
        assert msg.type_id == type_for(msg.seq), f"seq {msg.seq}: wrong type id"
        assert bytes(msg.payload) == payload_for(msg.seq), f"seq {msg.seq}: wrong bytes"


def drain_available(sub: Subscriber) -> None:
    """Read whatever is there now (the publisher is dead: no error allowed)."""
    for msg in sub:
        assert msg.seq == sub.next_seq - 1
        assert bytes(msg.payload) == payload_for(msg.seq) and msg.type_id == type_for(msg.seq)


def test_publisher_kill9_loop(qdir: str, children: List[subprocess.Popen[bytes]]) -> None:
    print(f"seed={SEED}")
    rng = random.Random(SEED)
    live = Queue.open_subscriber(qdir, "live")  # before any publisher exists
    max_acked = -1
    try:
        for i in range(KILLS):
            proc = spawn_python(
                PUBLISHER, TESTS_DIR, qdir, str(rng.randrange(2**32)),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            children.append(proc)
            out = LineReader(proc)
            lines: List[str] = []
            if rng.random() < 0.2:
                # sometimes before it even reports: in start-up or recovery
                time.sleep(rng.random() * 0.05)
            else:
                first = out.line(30)
                if first is None:
                    err = proc.stderr.read()  # type: ignore[union-attr]
                    raise AssertionError(f"publisher failed to open: {err!r}")
                lines.append(first)
                for _ in range(rng.randint(0, 25)):
                    line = out.line(10)
                    assert line is not None
                    lines.append(line)
                time.sleep(rng.random() * 0.002)  # jitter: kill at a random instant
            proc.kill()
            proc.wait(10)
            lines += out.rest()
            for line in lines:
                kind, seq = line.split()
                if kind == "open":
                    # the takeover continues right after everything acknowledged before
                    assert int(seq) > max_acked, f"round {i}: reopened at {seq}, acked up to {max_acked}"
                else:
                    assert kind == "ack", line
                    max_acked = max(max_acked, int(seq))
            # the writer is dead: the live subscriber has every acked message
            # already (no takeover needed) and sees nothing else
            drain_available(live)
            assert live.next_seq > max_acked, f"round {i}: acked {max_acked}, readable {live.next_seq}"

        # the last takeover in this process: continues densely, and the live
        # subscriber follows across whatever segment the dead writer left
        with Queue.open_publisher(qdir) as pub:
            start = pub.next_seq
            assert start > max_acked
            append_expected(pub, start, 300)
            drain(live, start + 299, "final takeover")
        assert live.next() is None
    finally:
        live.close()
    assert check_dense(qdir) == start + 300
    got = read_all(qdir)
    assert [s for s, _, _ in got] == list(range(start + 300))
    assert all(t == type_for(s) and p == payload_for(s) for s, t, p in got)


TAKEOVER = """
import sys
sys.path.insert(0, sys.argv[1])
from chronicle import Queue
from test_crash_support import payload_for, type_for
with Queue.open_publisher(sys.argv[2]) as pub:
    seq = pub.next_seq
    print("open", seq, flush=True)
    for s in range(seq, seq + 50):
        assert pub.append(type_for(s), payload_for(s)) == s
"""


def test_crash_between_activating_and_sealing(qdir: str, children: List[subprocess.Popen[bytes]]) -> None:
    """A roll activates the next segment, then seals the current one. A
    publisher killed between the two leaves an unsealed segment below an
    empty active one; a subscriber waiting at its end must follow the
    takeover into the new segment."""
    live = Queue.open_subscriber(qdir, "live", spin_us=0)
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        n = 0
        while len(active_segments(qdir)) < 3:
            append_expected(pub, n, 1)
            n += 1
    segs = active_segments(qdir)
    prev, last = segs[-2], segs[-1]
    assert prev.end == "eos" and len(last.records) >= 1
    # undo the last segment's records and the previous segment's end marker
    end = last.records[-1].offset + 32 + len(last.records[-1].payload)
    write_at(last.path, 64, bytes(end - 64))
    write_at(prev.path, prev.end_offset, bytes(4))
    base = last.base_seq

    with live:
        drain_available(live)
        assert live.next_seq == base  # waits at the end of the unsealed segment
        proc = spawn_python(TAKEOVER, TESTS_DIR, qdir, stdout=subprocess.PIPE)
        children.append(proc)
        # no reopen: the open subscriber sleeps, the takeover wakes it
        drain(live, base + 49, "after the roll crash")
        line = LineReader(proc).line(10)
        assert line == f"open {base}"
        assert proc.wait(10) == 0
    assert check_dense(qdir) == base + 50
    assert [s for s, _, _ in read_all(qdir)] == list(range(base + 50))
