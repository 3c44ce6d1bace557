"""Fixed-size messages as NumPy arrays: Subscriber.read_array, record_view
and read_frame (pandas, polars)."""
from __future__ import annotations

import glob
import importlib.util
import os
import sys
from typing import List, Tuple

import numpy as np
import pytest
from conftest import SMALL_SEGMENT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronicle import ClosedError, CorruptQueueError, Queue
from chronicle.frames import RecordBatch, read_array, read_frame, record_view
from chronicle.layout import Layout
from chronicle.tools.errors import MissingExtraError, NotAQueueError

TICK = np.dtype([("px", "<f8"), ("qty", "<i4"), ("sym", "S4")])  # 16 bytes
Row = Tuple[int, int, int, bytes]  # seq, type_id, timestamp_ns, payload


def ticks(n: int, start: int = 0) -> np.ndarray:
    rows = np.zeros(n, TICK)
    rows["px"] = np.arange(start, start + n) + 0.5
    rows["qty"] = np.arange(start, start + n)
    rows["sym"] = b"BTC"
    return rows


def reference(path: str) -> List[Row]:
    with Queue.open_subscriber(path, "reference") as sub:
        return [(m.seq, m.type_id, m.timestamp_ns, bytes(m.payload)) for m in sub]


def rows_of(batch: RecordBatch) -> List[Row]:
    assert len(batch.records) == len(batch.seqs) == len(batch.timestamps_ns) == len(batch.type_ids) == len(batch)
    assert batch.seqs.dtype == np.uint64 and batch.timestamps_ns.dtype == np.int64
    assert batch.type_ids.dtype == np.uint16
    return [
        (int(s), int(t), int(ts), r.tobytes())
        for s, t, ts, r in zip(batch.seqs, batch.type_ids, batch.timestamps_ns, batch.records)
    ]


# ---- read_array -------------------------------------------------------------


def test_read_array_returns_records_and_headers(qdir: str) -> None:
    data = ticks(300)
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append_rows(5, data)
    expected = reference(qdir)
    with Queue.open_subscriber(qdir, "r") as sub:
        batch = sub.read_array(TICK, 1000)
        assert batch.records.dtype == TICK
        assert np.array_equal(batch.records, data)
        assert rows_of(batch) == expected
        assert sub.next_seq == 300
        assert len(sub.read_array(TICK)) == 0


def test_read_array_honours_max_n_and_to_seq(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(1, ticks(50))
    with Queue.open_subscriber(qdir, "r") as sub:
        assert list(sub.read_array(TICK, 7).seqs) == list(range(7))
        assert list(sub.read_array(TICK, 100, to_seq=9).seqs) == [7, 8, 9]
        assert len(sub.read_array(TICK, 100, to_seq=9)) == 0
        assert sub.next().seq == 10  # type: ignore[union-attr]


def test_wrong_size_raises_value_error_and_leaves_the_message(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(1, ticks(3))
        pub.append(1, b"short")
        pub.append_rows(1, ticks(2))
    with Queue.open_subscriber(qdir, "r") as sub:
        assert len(sub.read_array(TICK)) == 3  # stops before the odd one
        with pytest.raises(ValueError, match="5-byte payload"):
            sub.read_array(TICK)
        with pytest.raises(ValueError):
            sub.read_array(TICK)
        msg = sub.next()
        assert msg is not None and msg.seq == 3 and bytes(msg.payload) == b"short"
        assert list(sub.read_array(TICK).seqs) == [4, 5]


def test_type_filter_skips_or_stops_at_other_types(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(1, ticks(2))
        pub.append(2, b"an order of any size")
        pub.append_rows(1, ticks(2, 2))
    with Queue.open_subscriber(qdir, "stop") as sub:
        assert list(sub.read_array(TICK, type_id=1, skip_others=False).seqs) == [0, 1]
        assert len(sub.read_array(TICK, type_id=1, skip_others=False)) == 0
        assert sub.next().type_id == 2  # type: ignore[union-attr]
        assert list(sub.read_array(TICK, type_id=1, skip_others=False).seqs) == [3, 4]
    with Queue.open_subscriber(qdir, "skip") as sub:
        batch = sub.read_array(TICK, type_id=1)
        assert list(batch.seqs) == [0, 1, 3, 4]
        assert list(batch.records["qty"]) == [0, 1, 2, 3]
    with Queue.open_subscriber(qdir, "any") as sub:
        assert len(sub.read_array(TICK)) == 2
        with pytest.raises(ValueError, match="type 2"):
            sub.read_array(TICK)


def test_read_array_takes_a_layout_and_its_type_id(qdir: str) -> None:
    quote = Layout("Quote", type_id=3, fields=[("symbol", "8s"), ("bid", "d"), ("ask", "d"), ("size", "I")])
    with Queue.open_publisher(qdir) as pub:
        pub.append(quote.type_id, quote.encode(symbol="ETH", bid=1.0, ask=1.5, size=4))
        pub.append(9, b"something else")
        pub.append(quote.type_id, quote.encode(symbol="BTC", bid=2.0, ask=2.5, size=7))
    with Queue.open_subscriber(qdir, "r") as sub:
        batch = sub.read_array(quote)
        assert batch.records.dtype == quote.dtype
        assert list(batch.seqs) == [0, 2]
        assert list(batch.records["symbol"]) == [b"ETH", b"BTC"]
        assert list(batch.records["size"]) == [4, 7]
        assert [quote.decode(r.tobytes()).bid for r in batch.records] == [1.0, 2.0]


@pytest.mark.parametrize(
    "args, error",
    [
        ((TICK, 0), ValueError),
        ((TICK, -5), ValueError),
        ((TICK, 2.5), TypeError),
        ((np.dtype([("o", "O")]),), TypeError),
        (("not a dtype",), TypeError),
    ],
)
def test_read_array_bad_arguments(qdir: str, args: tuple, error: type) -> None:
    with Queue.open_subscriber(qdir, "r") as sub:
        with pytest.raises(error):
            sub.read_array(*args)


def test_read_array_bad_type_and_seq_arguments(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "r") as sub:
        with pytest.raises(ValueError):
            sub.read_array(TICK, type_id=70000)
        with pytest.raises(TypeError):
            sub.read_array(TICK, type_id="1")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            sub.read_array(TICK, to_seq=-1)


def test_read_array_on_closed_subscriber_raises(qdir: str) -> None:
    sub = Queue.open_subscriber(qdir, "r")
    sub.close()
    with pytest.raises(ClosedError):
        sub.read_array(TICK)
    with pytest.raises(ClosedError):
        read_array(sub, TICK)


def test_corrupt_record_raises_and_is_never_returned(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(1, ticks(4))
    # flip a payload byte of the third record: 64-byte segment header, then
    # records of 32 + 16 bytes
    seg = sorted(glob.glob(os.path.join(qdir, "*.seg")))[0]
    with open(seg, "r+b") as f:
        f.seek(64 + 2 * 48 + 32 + 3)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x40]))
    with Queue.open_subscriber(qdir, "r") as sub:
        assert list(sub.read_array(TICK).seqs) == [0, 1]
        with pytest.raises(CorruptQueueError):
            sub.read_array(TICK)
        assert sub.next_seq == 2
    with pytest.raises(CorruptQueueError):
        read_frame(qdir, TICK)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kinds=st.lists(st.sampled_from([1, 2, 3]), max_size=200),
    max_n=st.integers(1, 64),
    mode=st.sampled_from(["filter", "stop", "any"]),
)
def test_read_array_returns_exactly_what_next_returns(
    tmp_path_factory: pytest.TempPathFactory, kinds: List[int], max_n: int, mode: str
) -> None:
    """Types 1 and 2 carry 24-byte records, type 3 a 200-byte blob; 64 KiB
    segments make the 200 messages roll several times."""
    rec = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8")])
    path = str(tmp_path_factory.mktemp("q") / "queue")
    with Queue.open_publisher(path, segment_size=SMALL_SEGMENT) as pub:
        for i, kind in enumerate(kinds):
            if kind == 3:
                pub.append(3, bytes([i % 256]) * 200 + bytes(range(100)) * 3)
            else:
                pub.append(kind, np.array([(i, kind, i * 7)], rec).tobytes())
    expected = reference(path)
    got: List[Row] = []
    with Queue.open_subscriber(path, "arrays") as sub:
        for _ in range(len(kinds) + 2):  # each round takes a message or ends
            if mode == "filter":
                batch = sub.read_array(rec, max_n, type_id=1)
            elif mode == "stop":
                batch = sub.read_array(rec, max_n, type_id=1, skip_others=False)
            else:
                try:
                    batch = sub.read_array(rec, max_n)
                except ValueError:  # a type 3 blob comes next: next() takes it
                    batch = read_array(sub, rec, max_n, type_id=2, skip_others=False)
                    assert len(batch) == 0
            assert len(batch) <= max_n
            if len(batch):
                got.extend(rows_of(batch))
                continue
            msg = sub.next()
            if msg is None:
                break
            assert mode != "filter"
            got.append((msg.seq, msg.type_id, msg.timestamp_ns, bytes(msg.payload)))
    if mode == "filter":
        expected = [r for r in expected if r[1] == 1]
    assert got == expected


# ---- record_view ------------------------------------------------------------


def test_record_view_is_zero_copy_and_read_only(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(1, ticks(1, 41))
    with Queue.open_subscriber(qdir, "r") as sub:
        msg = sub.next()
        assert msg is not None
    rec = record_view(msg, TICK)  # after close: the payload keeps its mapping
    assert (rec["px"], rec["qty"], rec["sym"]) == (41.5, 41, b"BTC")
    assert record_view(msg.payload, TICK)["qty"] == 41
    arr = np.frombuffer(msg.payload, TICK)
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        rec["qty"] = 1  # a view of the mapped file, which is read-only
    assert record_view(bytearray(8), "<f8") == 0.0


def test_record_view_wrong_size_raises(qdir: str) -> None:
    with pytest.raises(ValueError, match="does not hold"):
        record_view(b"x" * 15, TICK)
    with pytest.raises(ValueError, match="does not hold"):
        record_view(b"x" * 17, TICK)


# ---- read_frame ---------------------------------------------------------------


@pytest.fixture
def mixed_queue(qdir: str) -> str:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for i in range(0, 3000, 100):
            pub.append_rows(1, ticks(100, i))
            pub.append(2, b"heartbeat")
    return qdir


def test_read_frame_pandas(mixed_queue: str) -> None:
    pd = pytest.importorskip("pandas")
    df = read_frame(mixed_queue, TICK, type_id=1)
    assert len(df) == 3000
    assert df.index.name == "seq"
    assert list(df.columns) == ["timestamp", "type_id", "px", "qty", "sym"]
    assert list(df["qty"]) == list(range(3000))
    assert (df["sym"] == "BTC").all()
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert df.index[100] == 101  # the heartbeat at seq 100 is not a row
    assert df["timestamp"].is_monotonic_increasing
    part = read_frame(mixed_queue, TICK, from_seq=95, to_seq=105, type_id=1)
    assert list(part.index) == [95, 96, 97, 98, 99, 101, 102, 103, 104, 105]
    assert isinstance(part, pd.DataFrame)


def test_read_frame_leaves_no_reader_behind(mixed_queue: str) -> None:
    before = sorted(os.listdir(os.path.join(mixed_queue, "readers"))) if os.path.isdir(
        os.path.join(mixed_queue, "readers")
    ) else []
    read_frame(mixed_queue, TICK, type_id=1)
    after = sorted(os.listdir(os.path.join(mixed_queue, "readers")))
    assert after == before


def test_read_frame_polars(mixed_queue: str) -> None:
    pl = pytest.importorskip("polars")
    df = read_frame(mixed_queue, TICK, to_seq=99, type_id=1, library="polars")
    assert isinstance(df, pl.DataFrame)
    assert df.columns == ["seq", "timestamp", "type_id", "px", "qty", "sym"]
    assert df["seq"].to_list() == list(range(100))
    assert df["sym"].to_list() == ["BTC"] * 100
    assert str(df.schema["timestamp"].time_zone) == "UTC"


def test_read_frame_from_a_subscriber_and_field_name_clashes(qdir: str) -> None:
    pytest.importorskip("pandas")
    dt = np.dtype([("seq", "<u8"), ("timestamp", "<i8"), ("levels", "<f4", (2,))])
    rows = np.zeros(3, dt)
    rows["seq"] = [10, 11, 12]
    rows["levels"] = [[1, 2], [3, 4], [5, 6]]
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(4, rows)
    with Queue.open_subscriber(qdir, "research") as sub:
        df = read_frame(sub, dt, from_seq=1)
        assert sub.next_seq == 3
    assert df.index.name == "msg_seq"
    assert list(df.columns) == ["msg_timestamp", "type_id", "seq", "timestamp", "levels_0", "levels_1"]
    assert list(df["seq"]) == [11, 12]
    assert list(df["levels_1"]) == [4.0, 6.0]


def test_read_frame_errors(tmp_path: "os.PathLike[str]", qdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = os.path.join(str(tmp_path), "nothing")
    with pytest.raises(NotAQueueError):
        read_frame(missing, TICK)
    assert not os.path.exists(missing)  # research never creates a queue
    with Queue.open_publisher(qdir) as pub:
        pub.append(1, b"short")
    with pytest.raises(ValueError, match="5-byte payload"):
        read_frame(qdir, TICK)
    with pytest.raises(ValueError, match="library"):
        read_frame(qdir, TICK, library="excel")
    with pytest.raises(ValueError, match="after"):
        read_frame(qdir, TICK, from_seq=5, to_seq=4)
    monkeypatch.setitem(sys.modules, "polars", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"chronicle-mq\[polars\]"):
        read_frame(qdir, TICK, library="polars")


def test_read_frame_empty_queue(qdir: str) -> None:
    pytest.importorskip("pandas")
    Queue.open_subscriber(qdir, "creator").close()
    df = read_frame(qdir, TICK)
    assert len(df) == 0
    assert list(df.columns) == ["timestamp", "type_id", "px", "qty", "sym"]


# ---- the bus's message layouts as NumPy records ---------------------------------


def test_bus_layouts_read_as_arrays_and_frames(qdir: str) -> None:
    from chronicle.messages import Order, Side, Tick

    assert Tick.dtype.itemsize == Tick.size and Order.dtype.itemsize == Order.size
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for i in range(1500):  # interleaved, across segment rolls
            pub.append(Tick.type_id, Tick.encode(ts_ns=i, symbol="ETH" if i % 3 else "BTC", price=100.0 + i, size=1.0))
            if i % 10 == 0:
                pub.append(Order.type_id, Order.encode(order_id=i, symbol="BTC", price=1.0, qty=i, side=Side.SELL))
    with Queue.open_subscriber(qdir, "ticks") as sub:
        got = []
        while True:
            batch = sub.read_array(Tick, 256)
            if not len(batch):
                break
            assert set(batch.type_ids) == {Tick.type_id}
            got.append(batch.records)
        ticks_read = np.concatenate(got)
    assert list(ticks_read["ts_ns"]) == list(range(1500))
    assert list(ticks_read["price"][:3]) == [100.0, 101.0, 102.0]
    # each record equals what the layout decodes from the same bytes
    first = Tick.decode(ticks_read[1].tobytes())
    assert (first.symbol, first.price) == ("ETH", 101.0)
    with Queue.open_subscriber(qdir, "orders") as sub:
        orders = sub.read_array(Order, 1000)
        assert list(orders.records["order_id"]) == list(range(0, 1500, 10))
        assert set(orders.records["side"]) == {int(Side.SELL)}
        sub.seek(int(orders.seqs[1]))
        msg = sub.next()
        assert msg is not None
        view = record_view(msg, Order)
        assert (view["order_id"], view["qty"]) == (10, 10)
    if importlib.util.find_spec("pandas") is not None:
        df = read_frame(qdir, Tick)
        assert list(df.columns) == ["timestamp", "type_id", "ts_ns", "symbol", "price", "size"]
        assert df["symbol"].value_counts().to_dict() == {"ETH": 1000, "BTC": 500}


def test_numpy_integers_are_accepted_as_seqs_and_type_ids(qdir: str) -> None:
    pytest.importorskip("pandas")
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(1, ticks(10))
    with Queue.open_subscriber(qdir, "r") as sub:
        batch = sub.read_array(TICK, 4, type_id=np.uint16(1))
        later = sub.read_array(TICK, to_seq=batch.seqs[-1] + np.uint64(2))
        assert list(later.seqs) == [4, 5]
    df = read_frame(qdir, TICK, from_seq=batch.seqs[1], to_seq=later.seqs[0], type_id=batch.type_ids[0])
    assert list(df.index) == [1, 2, 3, 4]


def test_read_frame_text_fields_decode_utf8_and_strip_padding(qdir: str) -> None:
    pytest.importorskip("pandas")
    dt = np.dtype([("name", "S8"), ("n", "<u4")])
    rows = np.array([("é".encode(), 1), (b"abc", 2), (b"\xff", 3)], dt)
    with Queue.open_publisher(qdir) as pub:
        pub.append_rows(1, rows[1:2])  # an ASCII-only frame first
        pub.append_rows(1, rows)
    assert list(read_frame(qdir, dt, to_seq=0)["name"]) == ["abc"]
    assert list(read_frame(qdir, dt, from_seq=1)["name"]) == ["é", "abc", "\ufffd"]


def test_read_frame_from_an_archive(tmp_path: "os.PathLike[str]", qdir: str) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("zstandard")
    from chronicle.archive.archiver import Archiver

    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append_rows(1, ticks(8000))  # several segments: all but the last sealed
    url = os.path.join(str(tmp_path), "archive")
    with Archiver(qdir, url) as archiver:
        archived = archiver.run_pass().archived
    assert len(archived) >= 2
    last = archived[-1].last_seq
    df = read_frame(url, TICK, from_seq=10, to_seq=last)
    assert list(df.index) == list(range(10, last + 1))
    assert list(df["qty"]) == list(range(10, last + 1))
    assert sorted(os.listdir(str(tmp_path))) == ["archive", "queue"]  # nothing left behind
