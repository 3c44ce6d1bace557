"""One publisher process, four subscriber processes, 300 000 messages over
many segment rolls: every subscriber sees every seq exactly once, in order,
with the right bytes (compared through a digest of seq, type id and payload
that the publisher computes over what it appended)."""
from __future__ import annotations

import json
import subprocess
from typing import List

from conftest import spawn_python
from test_crash_support import TESTS_DIR, LineReader

from chronicle import Queue

COUNT = 300_000
READERS = 4
SEGMENT = 256 * 1024  # about 70 rolls

SUBSCRIBER = """
import hashlib, json, struct, sys
sys.path.insert(0, sys.argv[1])
from chronicle import Queue
qdir, name, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
digest = hashlib.blake2b()
expect, error = 0, None
with Queue.open_subscriber(qdir, name, start="earliest") as sub:
    print("ready", flush=True)
    while expect < count and error is None:
        batch = sub.next_batch(4096)
        if not batch:
            if not sub.wait(timeout=20):
                error = "stalled at %d" % expect
            continue
        for m in batch:
            if m.seq != expect:
                error = "got seq %d, expected %d" % (m.seq, expect)
                break
            digest.update(struct.pack("<QH", m.seq, m.type_id))
            digest.update(m.payload)
            expect += 1
    extra = sub.next() if error is None else None
print(json.dumps({"count": expect, "digest": digest.hexdigest(), "error": error,
                  "extra": None if extra is None else extra.seq}), flush=True)
"""

PUBLISHER = """
import hashlib, struct, sys
sys.path.insert(0, sys.argv[1])
from chronicle import Queue
from test_crash_support import payload_for
qdir, count, segment = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
digest = hashlib.blake2b()
with Queue.open_publisher(qdir, segment_size=segment) as pub:
    for seq in range(count):
        payload = payload_for(seq, 96)
        type_id = seq & 0xFFFF
        assert pub.append(type_id, payload) == seq
        digest.update(struct.pack("<QH", seq, type_id))
        digest.update(payload)
print(digest.hexdigest(), flush=True)
"""


def test_one_publisher_four_subscribers(qdir: str, children: List[subprocess.Popen[bytes]]) -> None:
    Queue.open_subscriber(qdir, "init").close()  # the queue exists before anyone reads
    subs = []
    for i in range(READERS):
        proc = spawn_python(SUBSCRIBER, TESTS_DIR, qdir, f"reader{i}", str(COUNT), stdout=subprocess.PIPE)
        children.append(proc)
        subs.append(LineReader(proc))
    for out in subs:
        assert out.line(30) == "ready"
    pub = spawn_python(PUBLISHER, TESTS_DIR, qdir, str(COUNT), str(SEGMENT), stdout=subprocess.PIPE)
    children.append(pub)
    expected = LineReader(pub).line(120)
    assert pub.wait(30) == 0 and expected
    for i, out in enumerate(subs):
        line = out.line(120)
        assert line is not None
        result = json.loads(line)
        assert result["error"] is None, f"reader{i}: {result['error']}"
        assert result["count"] == COUNT and result["extra"] is None
        assert result["digest"] == expected, f"reader{i}: wrong bytes"
        assert out.proc.wait(30) == 0
