"""A publisher applying its own retention policy, off the append path."""
from __future__ import annotations

import os
import time

from conftest import SMALL_SEGMENT

from chronicle import Queue
from chronicle.tools.retention import RetentionPolicy


def _segments(qdir: str) -> list:
    return sorted(n for n in os.listdir(qdir) if n.endswith(".seg"))


def _wait_for(cond, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return bool(cond())


def test_size_limit_applied_while_publishing(qdir: str) -> None:
    policy = RetentionPolicy(max_bytes=4 * SMALL_SEGMENT)
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT, retention=policy, retention_interval=0.05) as pub:
        for i in range(20000):  # about 40 segments of 64 KiB
            pub.append(1, i.to_bytes(8, "little") * 3)
        assert _wait_for(lambda: len(_segments(qdir)) <= 6), _segments(qdir)
        last = pub.append(1, b"still appending")
    # what is left is the newest data, readable and dense from the first retained seq
    with Queue.open_subscriber(qdir, "check") as sub:
        seqs = [m.seq for m in sub]
    assert seqs[-1] == last and seqs == list(range(seqs[0], last + 1)) and seqs[0] > 0


def test_reader_that_has_not_passed_keeps_its_segments(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"first")
    with Queue.open_subscriber(qdir, "slow") as sub:
        assert sub.next() is not None
        sub.commit()  # committed at seq 1: it still needs everything after
    policy = RetentionPolicy(max_bytes=2 * SMALL_SEGMENT, keep_unread=True)
    with Queue.open_publisher(qdir, retention=policy, retention_interval=0.02) as pub:
        for i in range(10000):
            pub.append(1, b"x" * 24)
        runner = pub._retention
        assert runner is not None
        seen = runner.passes
        assert _wait_for(lambda: runner.passes >= seen + 2)  # a full pass after all appends
        assert runner.deleted_segments == 0 and runner.last_error is None
        assert _segments(qdir)[0] == "00000000000000000000.seg"
    with Queue.open_subscriber(qdir, "slow") as sub:
        assert sub.next_seq == 1 and sub.next() is not None
