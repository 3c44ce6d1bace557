"""chronicle export (Parquet, Arrow, NumPy; raw or decoded payloads) and
chronicle stats (rate, sizes, plot)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from chronicle import Queue
from conftest import SMALL_SEGMENT
from test_cli_support import cli, error_line, payload, type_of, write_queue

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

N = 2500
TICK = np.dtype([("price", "<f8"), ("qty", "<i4"), ("side", "u1"), ("sym", "S3")])


def test_parquet_holds_every_message(qdir: str, tmp_path: Path) -> None:
    write_queue(qdir, N)
    out = tmp_path / "all.parquet"
    r = cli("export", qdir, "--to", str(out))
    assert r.code == 0, r.err
    assert r.out.strip() == f"exported {N} message(s), seq 0..{N - 1}, to {out}"
    t = pq.read_table(out)
    assert t.column_names == ["seq", "timestamp", "type_id", "payload"]
    assert str(t.schema.field("timestamp").type) == "timestamp[ns, tz=UTC]"
    assert t.column("seq").to_pylist() == list(range(N))
    assert t.column("type_id").to_pylist() == [type_of(i) for i in range(N)]
    assert t.column("payload").to_pylist() == [payload(i) for i in range(N)]
    ts = t.column("timestamp").cast(pa.int64()).to_pylist()
    assert ts == sorted(ts) and ts[0] > 0


def test_arrow_range_and_type_filter(qdir: str, tmp_path: Path) -> None:
    write_queue(qdir, N)
    out = tmp_path / "part.arrow"
    r = cli("export", qdir, "--to", str(out), "--from", "100", "--until", "199", "--type", "2", "--json")
    assert r.code == 0
    want = [i for i in range(100, 200) if type_of(i) == 2]
    assert r.json() == {"to": str(out), "format": "arrow", "messages": len(want), "first_seq": want[0], "last_seq": want[-1]}
    with pa.memory_map(str(out)) as src:
        t = pa.ipc.open_file(src).read_all()
    assert t.column("seq").to_pylist() == want


def test_npy_raw_payloads(qdir: str, tmp_path: Path) -> None:
    write_queue(qdir, 50)
    out = tmp_path / "raw.npy"
    assert cli("export", qdir, "--to", str(out)).code == 0
    a = np.load(out)
    assert a.dtype.names == ("seq", "timestamp", "type_id", "length", "payload")
    assert a["seq"].tolist() == list(range(50))
    assert [bytes(p)[:n] for p, n in zip(a["payload"], a["length"])] == [payload(i) for i in range(50)]
    assert a["timestamp"].dtype == np.dtype("M8[ns]")


def test_decoded_through_a_structured_dtype(qdir: str, tmp_path: Path) -> None:
    rows = np.zeros(300, dtype=TICK)
    rows["price"] = np.arange(300) * 0.5
    rows["qty"] = np.arange(300) % 17
    rows["side"] = np.arange(300) % 2
    rows["sym"] = [b"BTC", b"ETH", b"SOL"] * 100
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(9, b"not a tick")
        pub.append_rows(5, rows)
    spec = "price:f8,qty:i4,side:u1,sym:S3"
    out = tmp_path / "ticks.npy"
    assert cli("export", qdir, "--to", str(out), "--type", "5", "--dtype", spec).code == 0
    a = np.load(out)
    for name in TICK.names:
        assert (a[name] == rows[name]).all()
    assert a["seq"].tolist() == list(range(1, 301))
    pout = tmp_path / "ticks.parquet"
    assert cli("export", qdir, "--to", str(pout), "--type", "5", "--dtype", spec).code == 0
    t = pq.read_table(pout)
    assert t.column_names == ["seq", "timestamp", "type_id", "price", "qty", "side", "sym"]
    assert t.column("price").to_pylist() == rows["price"].tolist()
    assert t.column("sym").to_pylist()[:3] == [b"BTC", b"ETH", b"SOL"]
    # the other layout does not decode: one clear line, no file
    bad = tmp_path / "bad.npy"
    r = cli("export", qdir, "--to", str(bad), "--dtype", spec)
    assert r.code == 2
    assert "seq 0 (type 9) has 10 bytes, the dtype needs 16" in error_line(r)
    assert not bad.exists()


def test_empty_range_exports_an_empty_file(qdir: str, tmp_path: Path) -> None:
    write_queue(qdir, 10)
    out = tmp_path / "none.parquet"
    r = cli("export", qdir, "--to", str(out), "--type", "77")
    assert r.code == 0 and "exported 0 messages" in r.out
    assert pq.read_table(out).num_rows == 0


def test_stats_counts_rate_and_sizes(qdir: str) -> None:
    write_queue(qdir, N)
    r = cli("stats", qdir, "--json")
    assert r.code == 0
    s = r.json()
    sizes = [len(payload(i)) for i in range(N)]
    assert (s["messages"], s["first_seq"], s["last_seq"]) == (N, 0, N - 1)
    assert (s["size_min"], s["size_max"], s["payload_bytes"]) == (min(sizes), max(sizes), sum(sizes))
    assert s["size_percentiles"]["p50"] == sorted(sizes)[N // 2]
    assert s["types"] == {str(t): sum(1 for i in range(N) if type_of(i) == t) for t in range(3)}
    assert sum(b["messages"] for b in s["rate"]) == N
    assert sum(b["messages"] for b in s["sizes"]) == N
    assert all(b["min"] <= b["max"] for b in s["sizes"])
    zero = next(b for b in s["sizes"] if b["max"] == 0)
    assert zero["messages"] == sizes.count(0)
    assert len(s["rate"]) <= 20 and s["bucket_ns"] > 0
    starts = [b["start_ns"] for b in s["rate"]]
    assert starts == sorted(starts) and starts[0] <= s["first_ts"] < starts[0] + s["bucket_ns"]


def test_stats_text_and_filters(qdir: str) -> None:
    write_queue(qdir, N)
    r = cli("stats", qdir, "--from", "10", "--until", "109", "--type", "1", "--buckets", "5")
    assert r.code == 0
    want = [i for i in range(10, 110) if type_of(i) == 1]
    assert r.out.startswith(f"messages   {len(want)} (seq {want[0]}..{want[-1]})")
    assert "rate (messages per " in r.out and "sizes (payload bytes)" in r.out
    assert "█" in r.out
    assert max(len(line) for line in r.out.splitlines()) <= 80  # fits the default terminal


def test_stats_plot(qdir: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    write_queue(qdir, 500)
    out = tmp_path / "stats.png"
    r = cli("stats", qdir, "--plot", str(out))
    assert r.code == 0 and f"plot: {out}" in r.out
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(out) > 1000


def test_stats_on_an_empty_queue(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT):
        pass
    r = cli("stats", qdir)
    assert r.code == 0 and r.out.strip() == "messages   0"


def test_stats_without_numpy_gives_the_same_answer(qdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from chronicle.tools import stats as statistics

    write_queue(qdir, N)
    with_numpy = cli("stats", qdir, "--json", "--type", "1", "--from", "7").json()
    monkeypatch.setattr(statistics, "_numpy", lambda: None)
    assert cli("stats", qdir, "--json", "--type", "1", "--from", "7").json() == with_numpy
