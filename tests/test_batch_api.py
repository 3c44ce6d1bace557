"""Publisher.append_many / append_rows and Subscriber.next_batch: one C call
for many messages, with the guarantees of the single calls."""
from __future__ import annotations

import array
import glob
import os
from typing import List, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronicle import ClosedError, CorruptQueueError, Message, MessageTooLargeError, Queue

from conftest import SMALL_SEGMENT

Row = Tuple[int, int, int, bytes]  # seq, type_id, timestamp_ns, payload


def drain_next(path: str, name: str) -> List[Row]:
    with Queue.open_subscriber(path, name) as sub:
        return [(m.seq, m.type_id, m.timestamp_ns, bytes(m.payload)) for m in sub]


def drain_batches(path: str, name: str, max_n: int) -> List[Row]:
    out: List[Row] = []
    with Queue.open_subscriber(path, name) as sub:
        while True:
            batch = sub.next_batch(max_n)
            if not batch:
                return out
            assert len(batch) <= max_n
            assert all(isinstance(m, Message) for m in batch)
            out.extend((m.seq, m.type_id, m.timestamp_ns, bytes(m.payload)) for m in batch)


# ---- append_many -------------------------------------------------------------


def test_append_many_writes_each_payload_in_order(qdir: str) -> None:
    payloads = [b"", b"a", b"bc" * 50, bytes(range(256))]
    with Queue.open_publisher(qdir) as pub:
        pub.append(9, b"first")
        assert pub.append_many(3, payloads) == 1
        assert pub.next_seq == 5
    rows = drain_next(qdir, "r")
    assert [(s, t, p) for s, t, _, p in rows] == [(0, 9, b"first")] + [
        (i + 1, 3, p) for i, p in enumerate(payloads)
    ]


def test_append_many_accepts_any_bytes_like_and_iterables(qdir: str) -> None:
    ints = array.array("i", [1, -2, 3])
    items = [bytearray(b"xy"), memoryview(b"hello")[1:4], ints, np.arange(3, dtype="<u2")]
    with Queue.open_publisher(qdir) as pub:
        assert pub.append_many(1, iter(items)) == 0
        assert pub.append_many(1, (b"g%d" % i for i in range(3))) == 4
    got = [p for _, _, _, p in drain_next(qdir, "r")]
    assert got == [b"xy", b"ell", ints.tobytes(), np.arange(3, dtype="<u2").tobytes(), b"g0", b"g1", b"g2"]


def test_append_many_empty_returns_next_seq(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append(1, b"x")
        assert pub.append_many(1, []) == 1
        assert pub.next_seq == 1


@pytest.mark.parametrize(
    "bad, error",
    [
        ("text", TypeError),
        (12, TypeError),
        (None, TypeError),
        (memoryview(b"abcdef")[::2], ValueError),
    ],
)
def test_append_many_bad_element_writes_nothing(qdir: str, bad: object, error: type) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append(1, b"before")
        with pytest.raises(error, match="payload 1"):
            pub.append_many(1, [b"ok", bad, b"never"])
        assert pub.next_seq == 1
        assert pub.append(1, b"after") == 1
    assert [p for _, _, _, p in drain_next(qdir, "r")] == [b"before", b"after"]


def test_append_many_too_large_element_writes_nothing(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        huge = bytes(pub.max_payload + 1)
        with pytest.raises(MessageTooLargeError, match="batch item 2"):
            pub.append_many(1, [b"a", b"b", huge])
        with pytest.raises(MessageTooLargeError):
            pub.append_many(1, [b"a", bytearray(huge)])  # the general path too
        assert pub.next_seq == 0
    assert drain_next(qdir, "r") == []


@pytest.mark.parametrize("type_id, error", [(-1, ValueError), (65536, ValueError), ("1", TypeError), (1.0, TypeError)])
def test_append_many_bad_type_id_writes_nothing(qdir: str, type_id: object, error: type) -> None:
    with Queue.open_publisher(qdir) as pub:
        with pytest.raises(error):
            pub.append_many(type_id, [b"a"])  # type: ignore[arg-type]
        with pytest.raises(error):
            pub.append_rows(type_id, np.zeros((2, 4), np.uint8))  # type: ignore[arg-type]
        assert pub.next_seq == 0


def test_append_many_with_numpy_array_writes_each_row(qdir: str) -> None:
    dt = np.dtype([("px", "<f8"), ("qty", "<i4"), ("side", "u1"), ("pad", "V3")])
    rows = np.zeros(5, dt)
    rows["px"] = [1.5, 2.5, 3.5, 4.5, 5.5]
    rows["qty"] = np.arange(5)
    grid = np.arange(24, dtype=np.uint8).reshape(3, 8)
    with Queue.open_publisher(qdir) as pub:
        assert pub.append_many(7, rows) == 0
        assert pub.append_rows(8, grid) == 5
    got = drain_next(qdir, "r")
    assert [t for _, t, _, _ in got] == [7] * 5 + [8] * 3
    assert [p for _, _, _, p in got[:5]] == [r.tobytes() for r in rows]
    assert [p for _, _, _, p in got[5:]] == [bytes(r) for r in grid]


def test_append_rows_rejects_what_has_no_rows(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        with pytest.raises(ValueError, match="at least one dimension"):
            pub.append_rows(1, np.float64(3.0))
        with pytest.raises(ValueError, match="C-contiguous"):
            pub.append_rows(1, np.zeros((4, 4), np.uint8)[:, ::2])
        with pytest.raises(ValueError, match="C-contiguous"):
            pub.append_many(1, np.zeros((4, 4), np.uint8).T)
        with pytest.raises(TypeError):
            pub.append_rows(1, "text")
        assert pub.append_rows(1, np.zeros((0, 8), np.uint8)) == 0
        assert pub.next_seq == 0


def test_batch_calls_on_closed_handles_raise(qdir: str) -> None:
    pub = Queue.open_publisher(qdir)
    pub.close()
    with pytest.raises(ClosedError):
        pub.append_many(1, [b"a"])
    with pytest.raises(ClosedError):
        pub.append_rows(1, np.zeros((1, 1), np.uint8))
    sub = Queue.open_subscriber(qdir, "r")
    sub.close()
    with pytest.raises(ClosedError):
        sub.next_batch(10)


# ---- next_batch --------------------------------------------------------------


def test_next_batch_bounds_and_bad_arguments(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append_many(1, [b"%d" % i for i in range(10)])
    with Queue.open_subscriber(qdir, "r") as sub:
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError):
                sub.next_batch(bad)  # type: ignore[arg-type]
        assert [bytes(m.payload) for m in sub.next_batch(4)] == [b"0", b"1", b"2", b"3"]
        assert sub.next().seq == 4  # type: ignore[union-attr]
        assert [m.seq for m in sub.next_batch(10**12)] == list(range(5, 10))
        assert sub.next_batch() == []


def test_next_batch_payloads_outlive_the_subscriber(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append_many(1, [bytes([i]) * 1000 for i in range(200)])  # several segments
    kept = []
    with Queue.open_subscriber(qdir, "r") as sub:
        while True:
            batch = sub.next_batch(50)
            if not batch:
                break
            kept.extend(batch)
    assert [bytes(m.payload) for m in kept] == [bytes([i]) * 1000 for i in range(200)]


def test_next_batch_stops_before_a_corrupt_record_then_raises(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append_many(1, [b"A" * 8, b"B" * 8, b"C" * 8])
    # flip a payload byte of the second record (64-byte segment header,
    # 32-byte record headers, 8-byte payloads)
    seg = sorted(glob.glob(os.path.join(qdir, "*.seg")))[0]
    with open(seg, "r+b") as f:
        f.seek(64 + 40 + 32)
        f.write(b"X")
    with Queue.open_subscriber(qdir, "r") as sub:
        assert [bytes(m.payload) for m in sub.next_batch(10)] == [b"A" * 8]
        with pytest.raises(CorruptQueueError):
            sub.next_batch(10)
        with pytest.raises(CorruptQueueError):
            sub.next()  # still before the bad record, never past it


messages = st.lists(
    st.tuples(st.sampled_from([0, 1, 7, 65535]), st.integers(0, 3000)),
    min_size=0,
    max_size=120,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=messages, max_n=st.integers(1, 40), batched_append=st.booleans())
def test_next_batch_returns_exactly_what_next_returns(
    tmp_path_factory: pytest.TempPathFactory, msgs: List[Tuple[int, int]], max_n: int, batched_append: bool
) -> None:
    path = str(tmp_path_factory.mktemp("q") / "queue")
    with Queue.open_publisher(path, segment_size=SMALL_SEGMENT) as pub:
        for i, (type_id, size) in enumerate(msgs):
            payload = bytes([i % 251]) * size
            if batched_append:
                pub.append_many(type_id, [payload])
            else:
                pub.append(type_id, payload)
    expected = drain_next(path, "by_next")
    assert [s for s, _, _, _ in expected] == list(range(len(msgs)))
    assert drain_batches(path, "by_batch", max_n) == expected
