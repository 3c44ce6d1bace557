"""Archiving to a local directory: the round trip, replay without restoring,
restore, verify, idempotent and resumed runs, corrupted objects, the tools
reading archives, the --follow sidecar, and the missing-extra messages."""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import List

import pytest

from chronicle import CorruptQueueError, Queue, SeqRangeError
from chronicle.archive import open_archive
from chronicle.archive.archiver import Archiver
from chronicle.archive.manifest import entry_key, object_key
from chronicle.tools.errors import MissingExtraError

from test_archive_support import (
    Lines, cli, publish_ticks, read_archive, read_queue, sealed_segments, spawn_cli, stop_child, ticks,
)

N = 9000  # about 7 segments of 64 KiB


@pytest.fixture
def queue(tmp_path: Path) -> str:
    path = str(tmp_path / "q")
    publish_ticks(path, N)
    return path


def entries(archive: str) -> List[dict]:
    folder = Path(archive) / "manifest"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_round_trip_every_message_identical(tmp_path: Path) -> None:
    q, arch = str(tmp_path / "q"), str(tmp_path / "arch")
    appended = publish_ticks(q, N)
    live = read_queue(q)
    assert [(s, t, p) for s, t, _ts, p in live] == appended
    code, out, err = cli("archive", q, "--to", arch, "--json")
    assert code == 0, err
    summary = json.loads(out)
    sealed = sealed_segments(q)
    assert len(sealed) >= 5
    assert [a["segment"] for a in summary["archived"]] == sealed  # never the active segment
    assert summary["compressed_bytes"] < summary["raw_bytes"]
    last_archived = summary["archived"][-1]["last_seq"]
    replayed = read_archive(arch)
    assert replayed == live[: last_archived + 1]
    for e in entries(arch):
        assert e["format"] == 1 and e["compression"] == "zstd"
        assert e["last_seq"] - e["first_seq"] + 1 == e["records"]
        assert e["first_timestamp_ns"] == live[e["first_seq"]][2]
        assert e["last_timestamp_ns"] == live[e["last_seq"]][2]
        assert e["raw_size"] <= e["segment_size"] and e["checksum"].startswith("sha256:")


def test_reader_seek_and_message_fields(queue: str, tmp_path: Path) -> None:
    arch = str(tmp_path / "arch")
    assert cli("archive", queue, "--to", arch)[0] == 0
    live = read_queue(queue)
    with open_archive(arch) as r:
        assert r.first_seq == 0
        end = r.end_seq
        assert end == r.segments[-1].end_seq == sum(e.records for e in r.segments)
        for seq in (end - 1, 0, 1234, 1235, end // 2):
            r.seek(seq)
            m = r.next()
            assert m is not None
            assert (m.seq, m.type_id, m.timestamp_ns, bytes(m.payload)) == live[seq]
            assert m.payload.readonly
        r.seek(end)
        assert r.next() is None
        with pytest.raises(SeqRangeError):
            r.seek(end + 1)
        r.seek(10)
        kept = r.next()
        assert kept is not None
        rest = list(r)  # iteration continues after the seek and crosses segments
        assert [m.seq for m in rest] == list(range(11, end))
        assert bytes(kept.payload) == live[10][3]  # payloads stay readable after moving on
    assert r.closed and "closed" in repr(r)


def test_rerun_is_idempotent_and_archives_new_seals(queue: str, tmp_path: Path) -> None:
    arch = str(tmp_path / "arch")
    assert cli("archive", queue, "--to", arch)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in (Path(arch) / "segments").iterdir()}
    code, out, _ = cli("archive", queue, "--to", arch, "--json")
    assert code == 0
    s = json.loads(out)
    assert s["archived"] == [] and s["already_archived"] == len(before)
    assert {p.name: p.stat().st_mtime_ns for p in (Path(arch) / "segments").iterdir()} == before
    with Queue.open_publisher(queue) as pub:  # more seals
        for type_id, payload in ticks(3000, seed=8):
            pub.append(type_id, payload)
    code, out, _ = cli("archive", queue, "--to", arch, "--json")
    s = json.loads(out)
    assert s["archived"] and s["already_archived"] == len(before)
    assert [e["segment"] for e in entries(arch)] == sealed_segments(queue)
    assert read_archive(arch) == read_queue(queue)[: entries(arch)[-1]["last_seq"] + 1]


def test_rerun_finishes_what_an_interrupted_run_left(queue: str, tmp_path: Path) -> None:
    arch = str(tmp_path / "arch")
    assert cli("archive", queue, "--to", arch)[0] == 0
    # an object written but never recorded, a temporary file, an object cut short
    os.unlink(Path(arch) / entry_key(2))
    leftover = Path(arch) / "segments" / ".00000000000000000003.seg.zst.999.abcd1234.tmp"
    leftover.write_bytes(b"partial")
    cut = Path(arch) / object_key(4)
    cut.write_bytes(cut.read_bytes()[:100])
    code, out, _ = cli("verify", arch)
    assert code == 1 and object_key(4) in out  # the manifest claims more than the object holds
    code, out, err = cli("archive", queue, "--to", arch, "--json")
    assert code == 0, err
    s = json.loads(out)
    assert [a["segment"] for a in s["archived"]] == [2, 4]
    assert s["written_again"] == [4]
    assert "leftover" in err and not leftover.exists()
    assert cli("verify", arch)[0] == 0


def test_verify_and_replay_catch_a_corrupted_object(queue: str, tmp_path: Path) -> None:
    arch = str(tmp_path / "arch")
    assert cli("archive", queue, "--to", arch)[0] == 0
    bad = Path(arch) / object_key(3)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x40
    bad.write_bytes(bytes(data))
    code, out, _ = cli("verify", arch)
    assert code == 1
    assert f"{bad}: object checksum mismatch" in out
    assert "1 problem(s)" in out
    code, out, _ = cli("verify", arch, "--json")
    report = json.loads(out)
    assert code == 1 and not report["clean"] and [p["object"] for p in report["problems"]] == [str(bad)]
    e3 = entries(arch)[3]
    seen: List[int] = []
    with open_archive(arch) as r:
        with pytest.raises(CorruptQueueError) as info:
            for m in r:
                seen.append(m.seq)
        assert str(bad) in str(info.value)
        assert seen == list(range(e3["first_seq"]))  # nothing of the bad segment came out
        r.seek(e3["first_seq"] + 5)
        with pytest.raises(CorruptQueueError):
            r.next()
    code, _out, err = cli("tail", arch, "--from", str(e3["first_seq"]))
    assert code == 1 and "checksum mismatch" in err


def test_a_forged_object_is_caught_by_the_record_checksums(queue: str, tmp_path: Path) -> None:
    """An object rewritten with a valid zstd frame and matching manifest
    checksums still fails: every record's CRC32C is checked."""
    import hashlib

    import zstandard

    arch = str(tmp_path / "arch")
    assert cli("archive", queue, "--to", arch)[0] == 0
    obj, ekey = Path(arch) / object_key(1), Path(arch) / entry_key(1)
    raw = bytearray(zstandard.ZstdDecompressor().decompress(obj.read_bytes()))
    raw[64 + 32 + 3] ^= 0x01  # a payload byte of the first record
    packed = zstandard.ZstdCompressor(write_checksum=True).compress(bytes(raw))
    obj.write_bytes(packed)
    e = json.loads(ekey.read_text())
    e.update(compressed_size=len(packed), checksum="sha256:" + hashlib.sha256(packed).hexdigest(),
             raw_checksum="sha256:" + hashlib.sha256(raw).hexdigest())
    ekey.write_text(json.dumps(e))
    code, out, _ = cli("verify", arch)
    assert code == 1 and "record checksum mismatch" in out
    with open_archive(arch) as r:
        r.seek(e["first_seq"])
        with pytest.raises(CorruptQueueError, match="record checksum mismatch"):
            r.next()


def test_verify_names_a_malformed_manifest_entry_and_orphans(queue: str, tmp_path: Path) -> None:
    arch = str(tmp_path / "arch")
    assert cli("archive", queue, "--to", arch)[0] == 0
    (Path(arch) / entry_key(0)).write_text("{not json")
    os.unlink(Path(arch) / entry_key(5))  # its object is now an orphan: harmless
    code, out, _ = cli("verify", arch)
    assert code == 1
    assert f"{Path(arch) / entry_key(0)}: not valid JSON" in out
    assert "not in the manifest" in out and object_key(5) in out


def test_tail_and_export_read_an_archive(queue: str, tmp_path: Path) -> None:
    arch = str(tmp_path / "arch")
    assert cli("archive", queue, "--to", arch)[0] == 0
    live = read_queue(queue)
    code, out, _ = cli("tail", arch, "--from", "100", "--until", "104", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["seq"], r["type_id"], r["timestamp_ns"], bytes.fromhex(r["payload_hex"])) for r in rows] == live[100:105]
    np = pytest.importorskip("numpy")
    out_file = str(tmp_path / "x.npy")
    code, _out, err = cli("export", arch, "--to", out_file, "--from", "10", "--until", "2999")
    assert code == 0, err
    a = np.load(out_file)
    assert a["seq"].tolist() == list(range(10, 3000))
    assert a["timestamp"].view("i8").tolist() == [m[2] for m in live[10:3000]]


def test_restore_rebuilds_a_queue_subscribers_read(queue: str, tmp_path: Path) -> None:
    arch, back = str(tmp_path / "arch"), str(tmp_path / "back")
    assert cli("archive", queue, "--to", arch)[0] == 0
    live = read_queue(queue)
    code, out, err = cli("restore", arch, "--to", back, "--from", "1500", "--until", "7000", "--json")
    assert code == 0, err
    assert json.loads(out)["messages"] == 5501
    assert read_queue(back) == live[1500:7001]
    assert cli("verify", back)[0] == 0
    with Queue.open_publisher(back) as pub:  # the restored queue goes on from --until
        assert pub.append(9, b"after") == 7001
    assert read_queue(back, "later")[-1][:2] == (7001, 9)
    whole = str(tmp_path / "whole")
    assert cli("restore", arch, "--to", whole)[0] == 0
    assert read_queue(whole) == read_archive(arch)
    code, _out, err = cli("restore", arch, "--to", whole)
    assert code == 2 and "already exists" in err
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary left


def test_follow_archives_each_seal_and_stops_on_sigterm(tmp_path: Path, children: list) -> None:
    q, arch = str(tmp_path / "q"), str(tmp_path / "arch")
    with Queue.open_publisher(q, segment_size=64 * 1024) as pub:
        pub.append(1, b"first")
        child = spawn_cli("archive", q, "--to", arch, "--follow", "--json", "--every", "30")
        children.append(child)
        out, err = Lines(child.stdout), Lines(child.stderr)
        err.wait_for("as segments seal")
        for type_id, payload in ticks(4000):
            pub.append(type_id, payload)
        sealed = sealed_segments(q)
        assert len(sealed) >= 3
        got = [json.loads(out.next(20) or "null")["segment"] for _ in sealed]
        assert got == sealed  # each within a roll, not at the --every pause
        assert stop_child(child, signal.SIGTERM) == 0
        summary = json.loads(out.rest()[-1])
        assert [a["segment"] for a in summary["archived"]] == sealed
    assert cli("verify", arch)[0] == 0


def test_one_archiver_per_queue_and_one_queue_per_archive(queue: str, tmp_path: Path) -> None:
    arch = str(tmp_path / "arch")
    with Archiver(queue, arch):
        code, _out, err = cli("archive", queue, "--to", arch)
        assert code == 4 and "another archiver" in err
    other = str(tmp_path / "other")
    publish_ticks(other, 100)
    code, _out, err = cli("archive", other, "--to", arch)
    assert code == 2 and "belongs to another queue" in err
    code, _out, err = cli("archive", queue, "--to", os.path.join(queue, "inside"))
    assert code == 2 and "inside the queue" in err
    code, _out, err = cli("archive", queue, "--to", str(tmp_path))  # not empty, not an archive
    assert code == 2


def test_missing_extras_are_named(queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(MissingExtraError, match=r"chronicle-mq\[archive\]"):
        Archiver(queue, str(tmp_path / "arch"))
    code, _out, err = cli("archive", queue, "--to", str(tmp_path / "arch"))
    assert code == 5 and "pip install 'chronicle-mq[archive]'" in err
    monkeypatch.setitem(sys.modules, "boto3", None)
    code, _out, err = cli("verify", "s3://bucket/prefix")
    assert code == 5 and "chronicle-mq[s3]" in err


def test_archiving_streams_a_segment_in_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    q, arch = str(tmp_path / "q"), str(tmp_path / "arch")
    with Queue.open_publisher(q, segment_size=16 << 20) as pub:  # incompressible: 16 MiB in, 16 MiB out
        for _ in range(16 * 16 + 4):
            pub.append(3, os.urandom(64 << 10))
    tracemalloc.start()
    try:
        with Archiver(q, arch) as archiver:
            result = archiver.run_pass()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [a.segment for a in result.archived] == [0] and result.archived[0].raw_size > 15 << 20
    assert peak < 6 << 20  # pieces of the segment, never the segment (nor its compressed copy)
    replayed = read_archive(arch)
    assert replayed == read_queue(q)[: len(replayed)]
