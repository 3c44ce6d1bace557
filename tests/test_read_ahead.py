"""next() reads ahead while it is called back to back. Whatever else is
called in between (commit, next_seq, seek, next_batch, read_array, wait,
close) must see the position after the last message *returned*, never after
what was read ahead."""
from __future__ import annotations

import itertools
from typing import List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SMALL_SEGMENT

from chronicle import Queue

N = 3000  # about 8 segments of 64 KiB: read-ahead meets segment rolls
_names = itertools.count()  # a fresh reader name for every example


@pytest.fixture
def filled(qdir: str) -> str:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for i in range(N):
            pub.append(i % 5, i.to_bytes(4, "little") * 4)
    return qdir


def _check(msg, seq: int) -> None:  # type: ignore[no-untyped-def]
    assert msg is not None and msg.seq == seq
    assert bytes(msg.payload) == seq.to_bytes(4, "little") * 4 and msg.type_id == seq % 5


def test_commit_after_a_run_of_next_resumes_after_the_last_returned(filled: str) -> None:
    with Queue.open_subscriber(filled, "r") as sub:
        for seq in range(100):  # long enough for the read-ahead to grow
            _check(sub.next(), seq)
        assert sub.next_seq == 100
        sub.commit()
    with Queue.open_subscriber(filled, "r") as sub:
        assert sub.next_seq == 100
        _check(sub.next(), 100)


def test_close_in_the_middle_of_a_read_ahead(filled: str) -> None:
    sub = Queue.open_subscriber(filled, "r")
    kept = [sub.next() for _ in range(50)]
    sub.commit()
    kept.append(sub.next())  # returned, not committed
    sub.close()
    assert [bytes(m.payload) for m in kept][-1] == (50).to_bytes(4, "little") * 4  # payloads outlive close
    with Queue.open_subscriber(filled, "r") as sub:
        _check(sub.next(), 50)  # at-least-once: the uncommitted one again


def test_a_loop_over_the_subscriber_sees_what_is_called_inside_it(filled: str) -> None:
    with Queue.open_subscriber(filled, "r") as sub:
        seen: List[int] = []
        for msg in sub:
            seen.append(msg.seq)
            if len(seen) == 61:
                sub.commit()  # gives the read-ahead back in the middle of the loop
            if len(seen) == 101:
                sub.seek(30)
            if len(seen) == 200:
                break
        assert seen == list(range(101)) + list(range(30, 129))
        sub.commit()
    with Queue.open_subscriber(filled, "r") as sub:
        _check(sub.next(), 129)


def test_every_method_sees_the_returned_position(filled: str) -> None:
    np = pytest.importorskip("numpy")
    dtype = np.dtype([("v", "<u4", (4,))])
    with Queue.open_subscriber(filled, "r") as sub:
        for seq in range(40):
            _check(sub.next(), seq)
        batch = sub.next_batch(5)
        assert [m.seq for m in batch] == [40, 41, 42, 43, 44]
        for seq in range(45, 80):
            _check(sub.next(), seq)
        assert sub.ready() and sub.wait(0)
        arr = sub.read_array(dtype, 3, type_id=None)
        assert list(arr.seqs) == [80, 81, 82]
        for seq in range(83, 120):
            _check(sub.next(), seq)
        sub.seek(10)
        _check(sub.next(), 10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.sampled_from(["next", "next", "next", "iter", "iter", "batch", "commit", "next_seq", "reopen",
                                     "seek_back"]), max_size=120))
def test_interleavings_never_skip_or_repeat(filled: str, ops: List[str]) -> None:
    name = f"h{next(_names)}"
    sub = Queue.open_subscriber(filled, name)
    it = iter(sub)  # one iteration kept going across the other calls
    expected = 0  # the seq the next message must have
    committed = 0
    try:
        for op in ops:
            if op in ("next", "iter"):
                m = sub.next() if op == "next" else next(it, None)
                if expected < N:
                    _check(m, expected)
                    expected += 1
                else:
                    assert m is None
                    it = iter(sub)  # an iteration ends when nothing is ready
            elif op == "batch":
                got = [m.seq for m in sub.next_batch(7)]
                assert got == list(range(expected, expected + len(got))) and (got or expected == N)
                expected += len(got)
            elif op == "commit":
                sub.commit()
                committed = expected
            elif op == "next_seq":
                assert sub.next_seq == expected
            elif op == "reopen":
                sub.close()
                sub = Queue.open_subscriber(filled, name)
                it = iter(sub)
                expected = committed
                assert sub.next_seq == expected
            elif op == "seek_back":
                expected = max(0, expected - 3)
                sub.seek(expected)
    finally:
        sub.close()
