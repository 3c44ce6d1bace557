"""Subscriber crashes: a subscriber that commits after every message is
killed with SIGKILL at random moments. Each restart resumes at the last
committed position: the message in flight may be delivered again, none is
ever skipped."""
from __future__ import annotations

import random
import subprocess
import time
from typing import Dict, List

from conftest import spawn_python
from test_crash_support import SMALL_SEGMENT, TESTS_DIR, LineReader, append_expected, payload_for, type_for

from chronicle import Queue

SEED = 771
KILLS = 20

# Prints "start N" with the first seq it will read, then for each message
# "got SEQ" before committing and "done SEQ" after. Exits at seq `total`.
SUBSCRIBER = """
import sys
sys.path.insert(0, sys.argv[1])
from chronicle import Queue
from test_crash_support import payload_for, type_for
qdir, total = sys.argv[2], int(sys.argv[3])
with Queue.open_subscriber(qdir, "worker") as sub:
    print("start", sub.next_seq, flush=True)
    while sub.next_seq < total:
        msg = sub.next()
        if msg is None:
            if not sub.wait(timeout=10):
                print("stalled", sub.next_seq, flush=True)
                sys.exit(1)
            continue
        ok = bytes(msg.payload) == payload_for(msg.seq) and msg.type_id == type_for(msg.seq)
        print("got" if ok else "bad", msg.seq, flush=True)
        sub.commit()
        print("done", msg.seq, flush=True)
print("end", flush=True)
"""


def test_subscriber_kill9_loop(qdir: str, children: List[subprocess.Popen[bytes]]) -> None:
    print(f"seed={SEED}")
    rng = random.Random(SEED)
    deliveries: Dict[int, int] = {}
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        append_expected(pub, 0, 3000)
        total = 3000 + KILLS * 100
        last_got = last_done = -1
        for i in range(KILLS + 1):
            proc = spawn_python(
                SUBSCRIBER, TESTS_DIR, qdir, str(total), stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            children.append(proc)
            out = LineReader(proc)
            first = out.line(30)
            assert first is not None and first.startswith("start "), first
            start = int(first.split()[1])
            # resumes at the last commit: never before it, never past the
            # message that was in flight
            assert start in (last_done + 1, last_got + 1), (
                f"round {i}: restarted at {start}; last committed {last_done}, last received {last_got}"
            )
            lines: List[str] = []
            if i < KILLS:
                for _ in range(rng.randint(1, 300)):
                    line = out.line(10)
                    if line is None:
                        err = proc.stderr.read()  # type: ignore[union-attr]
                        raise AssertionError(f"subscriber exited early ({proc.wait(10)}): {err!r}")
                    lines.append(line)
                    if line == f"done {pub.next_seq - 1}":
                        break  # caught up: it waits for more now (killed asleep)
                time.sleep(rng.random() * 0.002)  # jitter: kill at a random instant
                proc.kill()
                proc.wait(10)
                lines += out.rest()
                # more messages while it is down: the next one also waits at the tail
                append_expected(pub, pub.next_seq, 100)
            else:
                lines += out.rest(30)
                assert proc.wait(10) == 0 and lines[-1] == "end", lines[-3:]
                lines.pop()
            expect = start
            for line in lines:
                kind, seq_text = line.split()
                seq = int(seq_text)
                assert kind != "bad", f"seq {seq} delivered with wrong bytes"
                if kind == "got":
                    assert seq == expect, f"round {i}: got {seq}, expected {expect}"
                    deliveries[seq] = deliveries.get(seq, 0) + 1
                    last_got = seq
                    expect += 1
                else:
                    assert kind == "done" and seq == last_got, line
                    last_done = seq
    assert sorted(deliveries) == list(range(total))
    again = [s for s, n in deliveries.items() if n > 1]
    print("redelivered", again)
    assert all(deliveries[s] == 2 for s in again) and len(again) <= KILLS
