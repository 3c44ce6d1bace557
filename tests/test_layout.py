"""Layouts: declaring a message type once, encoding and decoding it."""
from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from chronicle import Queue
from chronicle.layout import Layout
from chronicle.messages import LAYOUTS, Ack, Order, Side, Status, Tick, decode

from conftest import ROOT, child_env

Quote = Layout(
    "Quote",
    type_id=7,
    fields=[("ts_ns", "q"), ("symbol", "8s"), ("bid", "d"), ("ask", "d"), ("_reserved", "3x"), ("live", "?"), ("level", "H")],
)


def test_encode_is_packed_little_endian_with_explicit_padding() -> None:
    payload = Quote.encode(1, "BTC", 1.5, 2.5, True, 3)
    assert Quote.size == 8 + 8 + 8 + 8 + 3 + 1 + 2 == len(payload)
    assert payload == struct.pack("<q8sdd3x?H", 1, b"BTC", 1.5, 2.5, True, 3)
    assert Quote.format == "<q8sdd3x?H"


def test_decode_returns_a_named_tuple_without_padding() -> None:
    q = Quote.decode(Quote.encode(1, "BTC", 1.5, 2.5, True, 3))
    assert q == (1, "BTC", 1.5, 2.5, True, 3)
    assert (q.ts_ns, q.symbol, q.bid, q.ask, q.live, q.level) == (1, "BTC", 1.5, 2.5, True, 3)
    assert type(q).__name__ == "Quote" and type(q) is Quote.record
    assert Quote.field_names == ("ts_ns", "symbol", "bid", "ask", "live", "level")


def test_keyword_and_mixed_arguments() -> None:
    a = Quote.encode(ts_ns=1, symbol="ETH", bid=1.0, ask=2.0, live=False, level=9)
    b = Quote.encode(1, "ETH", 1.0, ask=2.0, live=False, level=9)
    assert a == b == Quote.encode(1, "ETH", 1.0, 2.0, False, 9)


@pytest.mark.parametrize(
    "args, kwargs, exc, words",
    [
        ((1, "BTC", 1.0, 2.0, True), {}, TypeError, "missing value for field 'level'"),
        ((1, "BTC", 1.0, 2.0, True, 3, 4), {}, TypeError, "takes 6 values"),
        ((1, "BTC", 1.0, 2.0, True, 3), {"level": 3}, TypeError, "'level' given by position and by name"),
        ((1, "BTC", 1.0, 2.0, True, 3), {"nope": 3}, TypeError, "no field 'nope'"),
        ((1, "BTC", 1.0, 2.0, True), {"levels": 3}, TypeError, "missing value"),
        ((1, "BTC", "x", 2.0, True, 3), {}, TypeError, "Quote.bid"),
        ((1.5, "BTC", 1.0, 2.0, True, 3), {}, TypeError, "Quote.ts_ns"),
        ((2**63, "BTC", 1.0, 2.0, True, 3), {}, ValueError, "Quote.ts_ns"),
        ((1, "BTC", 1.0, 2.0, True, -1), {}, ValueError, "Quote.level"),
        ((1, "BTCBTCBTC", 1.0, 2.0, True, 3), {}, ValueError, "longer than 8 bytes"),
        ((1, "B\0C", 1.0, 2.0, True, 3), {}, ValueError, "NUL"),
        ((1, 42, 1.0, 2.0, True, 3), {}, TypeError, "must be str or bytes"),
    ],
)
def test_bad_values_name_the_field(args: tuple, kwargs: dict, exc: type, words: str) -> None:
    with pytest.raises(exc, match=words.replace("(", r"\(")):
        Quote.encode(*args, **kwargs)


def test_text_fields_take_str_or_bytes_and_utf8() -> None:
    assert Quote.decode(Quote.encode(0, b"ETH", 0.0, 0.0, False, 0)).symbol == "ETH"
    assert Quote.decode(Quote.encode(0, "€€", 0.0, 0.0, False, 0)).symbol == "€€"  # 6 bytes
    assert Quote.decode(Quote.encode(0, "", 0.0, 0.0, False, 0)).symbol == ""
    assert Quote.decode(Quote.encode(0, "ABCDEFGH", 0.0, 0.0, False, 0)).symbol == "ABCDEFGH"


def test_decode_checks_the_size_and_accepts_buffers() -> None:
    payload = Tick.encode(5, "SOL", 150.25, 2.0)
    assert Tick.decode(memoryview(payload)) == Tick.decode(bytearray(payload)) == (5, "SOL", 150.25, 2.0)
    with pytest.raises(ValueError, match="Tick payload must be 32 bytes, got 31"):
        Tick.decode(payload[:-1])
    with pytest.raises(ValueError, match="got 33"):
        Tick.decode(payload + b"\0")


def test_pack_into_and_unpack_from() -> None:
    buf = bytearray(2 * Ack.size + 4)
    Ack.pack_into(buf, 4, 7, Status.ACK)
    Ack.pack_into(buf, 4 + Ack.size, order_id=8, status=Status.REJECT)
    assert Ack.unpack_from(buf, 4) == (7, Status.ACK)
    assert Ack.unpack_from(buf, 4 + Ack.size) == (8, Status.REJECT)
    assert bytes(buf[4 : 4 + Ack.size]) == Ack.encode(7, Status.ACK)
    with pytest.raises(ValueError, match="do not fit at offset"):
        Ack.pack_into(buf, len(buf) - 1, 1, 1)
    with pytest.raises(ValueError, match="no 16-byte record at offset"):
        Ack.unpack_from(buf, len(buf) - 1)


@pytest.mark.parametrize(
    "fields, exc, words",
    [
        ([("a", "3d")], ValueError, "unsupported format"),
        ([("a", "z")], ValueError, "unsupported format"),
        ([("a", "0s")], ValueError, "unsupported format"),
        ([("a", "<d")], ValueError, "unsupported format"),
        ([("a", "d"), ("a", "q")], ValueError, "duplicate field"),
        ([("class", "d")], ValueError, "field name"),
        ([("_a", "d")], ValueError, "field name"),
        ([("_pad", "4x")], ValueError, "no value fields"),
        ([("a",)], TypeError, "pair"),
        ([("a", 5)], TypeError, "must be str"),
    ],
)
def test_bad_declarations(fields: list, exc: type, words: str) -> None:
    with pytest.raises(exc, match=words):
        Layout("Bad", type_id=1, fields=fields)


@pytest.mark.parametrize("type_id, exc", [(-1, ValueError), (65536, ValueError), (True, TypeError), ("1", TypeError)])
def test_type_id_range(type_id: object, exc: type) -> None:
    with pytest.raises(exc):
        Layout("Bad", type_id=type_id, fields=[("a", "d")])  # type: ignore[arg-type]


def test_bus_message_types_are_fixed() -> None:
    assert (Tick.type_id, Tick.size, Tick.format) == (1, 32, "<q8sdd")
    assert (Order.type_id, Order.size, Order.format) == (2, 40, "<Q8sdqB7x")
    assert (Ack.type_id, Ack.size, Ack.format) == (3, 16, "<QB7x")
    assert LAYOUTS == {1: Tick, 2: Order, 3: Ack}
    o = Order.decode(Order.encode(0, "BTC", 64000.5, 1, Side.BUY))
    assert (o.order_id, o.symbol, o.price, o.qty, Side(o.side)) == (0, "BTC", 64000.5, 1, Side.BUY)


def test_messages_through_a_queue(qdir: str) -> None:
    with Queue.open_publisher(qdir) as pub:
        pub.append(Tick.type_id, Tick.encode(1, "BTC", 1.0, 0.5))
        pub.append(Order.type_id, Order.encode(0, "BTC", 1.0, 1, Side.SELL))
        pub.append(Ack.type_id, Ack.encode(0, Status.ACK))
        pub.append(99, b"other")
    with Queue.open_subscriber(qdir, "t") as sub:
        msgs = list(sub)
    assert [type(decode(m)).__name__ for m in msgs[:3]] == ["Tick", "Order", "Ack"]
    assert Order.decode_message(msgs[1]).side == Side.SELL
    with pytest.raises(ValueError, match="type id 1, not 2"):
        Order.decode_message(msgs[0])
    with pytest.raises(ValueError, match="not a bus message type"):
        decode(msgs[3])


def test_numpy_is_imported_only_on_demand() -> None:
    code = "import sys, chronicle.layout, chronicle.messages; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_numpy_dtype_matches_the_bytes() -> None:
    np = pytest.importorskip("numpy")
    dt = Quote.dtype
    assert dt.itemsize == Quote.size
    assert dt.names == Quote.field_names
    assert [dt.fields[n][1] for n in dt.names] == [0, 8, 16, 24, 35, 36]
    rows = Quote.frombuffer(Quote.encode(1, "BTC", 1.5, 2.5, True, 3) + Quote.encode(2, "ETH", 3.5, 4.5, False, 4))
    assert rows["ts_ns"].tolist() == [1, 2]
    assert rows["symbol"].tolist() == [b"BTC", b"ETH"]
    assert rows["ask"].tolist() == [2.5, 4.5]
    assert rows["level"].tolist() == [3, 4]
    with pytest.raises(ValueError, match="not a whole number"):
        Quote.frombuffer(b"\0" * (Quote.size + 1))
    arr = np.zeros(2, dtype=dt)
    arr["bid"] = [7.0, 8.0]
    assert Quote.decode(arr.tobytes()[: Quote.size]).bid == 7.0


def test_from_dtype_keeps_offsets_and_padding() -> None:
    np = pytest.importorskip("numpy")
    dt = np.dtype([("flag", "u1"), ("price", "<f8"), ("sym", "S4")], align=True)
    lay = Layout.from_dtype("Aligned", 9, dt)
    assert lay.size == dt.itemsize == 24
    assert lay.format == "<B7xd4s4x"
    arr = np.zeros(1, dtype=dt)
    arr[0] = (1, 2.5, b"AB")
    assert lay.decode(arr.tobytes()) == (1, 2.5, "AB")
    assert lay.encode(1, 2.5, "AB") == arr.tobytes()
    with pytest.raises(ValueError, match="unsupported type"):
        Layout.from_dtype("Big", 1, np.dtype([("a", ">f8")]))
    with pytest.raises(ValueError, match="structured"):
        Layout.from_dtype("Plain", 1, np.dtype("f8"))
