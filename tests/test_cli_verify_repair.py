"""chronicle verify and chronicle repair on healthy, corrupt and torn queues.

Each damaged queue is made by a real publisher and then damaged on disk the
way crashes and bad disks do; repair followed by verify must end clean with
every intact record kept, and the queue must be usable again.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import warnings
from typing import List

import pytest

from chronicle import Queue
from chronicle.cli.common import fmt_size
from chronicle.tools import files
from conftest import SMALL_SEGMENT, read_line, spawn_python
from test_cli_support import (
    PUBLISHER_CHILD, base_seq, cli, commit_reader, end_offset, error_line, flip_byte, payload, read_all, records,
    segment_paths, set_base_seq, set_position, snapshot, type_of, write_at, write_queue,
)

N = 3000


def _expected(n: int) -> list:
    return [(i, type_of(i), payload(i)) for i in range(n)]


def _repair_then_verify_clean(qdir: str, tmp_path: str) -> dict:
    backup = os.path.join(tmp_path, "backup")
    r = cli("repair", qdir, "--backup-dir", backup, "--json")
    assert r.code == 0, r.err
    v = cli("verify", qdir)
    assert v.code == 0, v.out
    assert v.out.rstrip().endswith(": clean")
    return r.json()


def test_healthy_queue_verifies_clean(qdir: str) -> None:
    write_queue(qdir, N)
    commit_reader(qdir, "r", 1234)
    r = cli("verify", qdir)
    assert r.code == 0
    segs = segment_paths(qdir)
    size = fmt_size(sum(os.path.getsize(p) for p in segs))
    assert r.out.strip() == f"{qdir}: {N} records in {len(segs)} segment file(s) ({size}), 1 reader(s): clean"
    j = cli("verify", qdir, "--json").json()
    assert j["clean"] is True and j["problems"] == [] and j["records"] == N and j["next_seq"] == N
    assert cli("repair", qdir).out.strip() == f"{qdir}: nothing to repair (next seq {N})"


def test_verify_beside_a_live_publisher(qdir: str, children: List[subprocess.Popen]) -> None:
    child = spawn_python(PUBLISHER_CHILD, qdir, str(SMALL_SEGMENT), "4000", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    children.append(child)
    assert read_line(child) == "ready"
    j = cli("verify", qdir, "--json").json()
    assert j["clean"] is True and j["publisher_alive"] is True and j["records"] == 4000
    child.send_signal(signal.SIGKILL)  # dead, mid-queue: still clean (nothing was torn)
    child.wait(timeout=30)
    j = cli("verify", qdir, "--json").json()
    assert j["clean"] is True and j["publisher_alive"] is False


def test_flipped_payload_byte_is_found_and_cut(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, N)
    segs = segment_paths(qdir)
    victim = segs[1]
    off, seq, n = next(r for r in records(victim)[40:] if r[2] > 0)
    flip_byte(victim, off + 32)  # first payload byte
    sizes = {p: os.path.getsize(p) for p in segs}
    in_use_later = [os.path.basename(p) for p in segs[2:] if base_seq(p) is not None]
    with open(victim, "rb") as f:
        original = f.read()
    r = cli("verify", qdir)
    assert r.code == 1
    assert f"{victim}:{off}: record checksum mismatch (seq {seq})" in r.out.splitlines()
    assert r.out.rstrip().endswith("1 problem(s)")

    dry = cli("repair", qdir, "--dry-run")
    assert dry.code == 0 and "would remove" in dry.out
    assert not any(name.startswith("queue.repair") for name in os.listdir(tmp_path))

    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    # exactly the records from the damaged one on are gone, and counted
    assert (plan["damaged_records"], plan["records_removed"], plan["end_seq"]) == (1, N - seq, seq)
    assert read_all(qdir) == _expected(seq)
    # never shrunk; the original is in the backup, later segments moved there
    assert os.path.getsize(victim) == sizes[victim]
    backup = plan["backup_dir"]
    with open(os.path.join(backup, os.path.basename(victim)), "rb") as f:
        assert f.read() == original
    for p in segs[2:]:
        if os.path.basename(p) in plan["moved"]:
            assert not os.path.exists(p) and os.path.getsize(os.path.join(backup, os.path.basename(p))) == sizes[p]
    assert plan["moved"] == in_use_later
    assert os.path.exists(os.path.join(backup, "repair.json"))
    # the publisher continues right there, with nothing left to wipe
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Queue.open_publisher(qdir) as pub:
            assert pub.next_seq == seq
            pub.append(9, b"after repair")
    assert read_all(qdir, "check2")[-1] == (seq, 9, b"after repair")
    assert cli("verify", qdir).code == 0


def test_repair_reports_exact_counts(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, 100)
    seg = segment_paths(qdir)[0]
    recs = records(seg)
    off, seq, _n = recs[70]
    flip_byte(seg, off + 16)  # its timestamp: the checksum fails, the length still frames the rest
    tail_end = end_offset(seg)
    r = cli("repair", qdir, "--backup-dir", str(tmp_path / "b"))
    assert r.code == 0
    assert f"removed 30 record(s) (1 damaged, 29 intact) and {tail_end - off} bytes" in r.out
    assert "the queue continues at seq 70" in r.out
    assert f"backup: {tmp_path / 'b'}" in r.out
    assert read_all(qdir) == _expected(70)


@pytest.mark.parametrize("kind", ["garbage", "unpublished"])
def test_torn_tail_after_a_dead_publisher(qdir: str, tmp_path: str, kind: str) -> None:
    write_queue(qdir, N)
    active = [p for p in segment_paths(qdir) if records(p)][-1]
    end = end_offset(active)
    if kind == "garbage":  # random bytes where the next record would be
        torn = bytes((i * 37 + 11) % 251 + 1 for i in range(300))
        write_at(active, end, torn)
    else:  # a record whose payload landed but whose commit word never did
        torn = b"\0" * 4 + b"\x55" * 60
        write_at(active, end, torn)
    r = cli("verify", qdir)
    assert r.code == 1
    assert r.out.splitlines()[0].startswith(f"{active}:{end}: ")
    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    assert plan["records_removed"] == (1 if kind == "garbage" else 0)
    assert plan["bytes_removed"] == (len(torn) + 7) // 8 * 8  # whole 8-byte units from the cut
    assert read_all(qdir) == _expected(N)


def test_repair_refuses_while_a_publisher_is_alive(qdir: str, children: List[subprocess.Popen]) -> None:
    child = spawn_python(PUBLISHER_CHILD, qdir, str(SMALL_SEGMENT), "500", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    children.append(child)
    assert read_line(child) == "ready"
    seg = segment_paths(qdir)[0]
    off = records(seg)[10][0]
    flip_byte(seg, off + 32)
    with open(seg, "rb") as f:
        before = f.read()
    for args in (["repair", qdir], ["repair", qdir, "--dry-run"]):
        r = cli(*args)
        assert r.code == 4
        assert f"publisher is alive (pid {child.pid})" in error_line(r)
    with open(seg, "rb") as f:
        assert f.read() == before  # (the live publisher may be preparing its next segment meanwhile)
    assert sorted(os.listdir(os.path.dirname(qdir))) == ["queue"]  # no backup: nothing was done
    # once it is dead (kill -9), the repair goes ahead
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert cli("repair", qdir).code == 0
    assert cli("verify", qdir).code == 0
    assert [m[0] for m in read_all(qdir)] == list(range(10))


def test_dry_run_changes_nothing(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, N)
    seg = segment_paths(qdir)[2]
    flip_byte(seg, records(seg)[5][0] + 8)
    before = snapshot(qdir)
    r = cli("repair", qdir, "--dry-run", "--json")
    assert r.code == 0
    plan = r.json()
    assert plan["dry_run"] is True and plan["needed"] is True and plan["backup_dir"] is None
    assert snapshot(qdir) == before
    assert sorted(os.listdir(tmp_path)) == ["queue"]


def test_reader_past_the_cut_moves_to_the_new_end(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, N)
    commit_reader(qdir, "ahead", N - 5)
    commit_reader(qdir, "behind", 10)
    seg = segment_paths(qdir)[1]
    off, seq, _n = records(seg)[3]
    flip_byte(seg, off + 4)  # its checksum
    r = cli("verify", qdir)
    assert r.code == 1
    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    fixes = {f["name"]: f for f in plan["readers"]}
    assert set(fixes) == {"ahead"}
    assert (fixes["ahead"]["old_seq"], fixes["ahead"]["new_seq"]) == (N - 5, seq)
    assert os.path.exists(os.path.join(plan["backup_dir"], "readers", "ahead.pos"))
    with Queue.open_publisher(qdir) as pub:
        pub.append(4, b"new")
    with Queue.open_subscriber(qdir, "ahead") as sub:
        m = sub.next()
        assert m is not None and (m.seq, bytes(m.payload)) == (seq, b"new")
    with Queue.open_subscriber(qdir, "behind") as sub:
        assert sub.next_seq == 10


def test_missing_end_marker_is_written(qdir: str, tmp_path: str) -> None:
    """A publisher killed between activating the next segment and sealing
    the last one leaves no end marker; readers would wait there forever."""
    write_queue(qdir, N)
    segs = [p for p in segment_paths(qdir) if records(p)]
    first = segs[0]
    marker = end_offset(first)
    write_at(first, marker, b"\0\0\0\0")
    r = cli("verify", qdir)
    assert r.code == 1
    assert f"{first}:{marker}: segment has no end marker, yet the next segment is in use" in r.out
    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    assert plan["records_removed"] == 0 and plan["cuts"][0]["seal"] is True
    assert read_all(qdir) == _expected(N)


def test_sealed_segment_without_successor_is_reopened(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, N)
    segs = segment_paths(qdir)
    in_use = [p for p in segs if records(p)]
    for p in segs[len(in_use) - 1 :]:
        os.unlink(p)  # the active segment and any made ahead are lost
    keep_end = records(in_use[-2])[-1][1] + 1
    r = cli("verify", qdir)
    assert r.code == 1 and "sealed but no later segment is in use" in r.out
    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    assert plan["end_seq"] == keep_end
    with Queue.open_publisher(qdir) as pub:
        assert pub.next_seq == keep_end
        pub.append(1, b"on")
    assert read_all(qdir) == _expected(keep_end) + [(keep_end, 1, b"on")]


def test_bad_segment_header_cuts_at_the_segment_before(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, N)
    segs = segment_paths(qdir)
    flip_byte(segs[2], 20)  # its segment size: the header checksum fails
    r = cli("verify", qdir)
    assert r.code == 1 and f"{segs[2]}:0: segment header checksum mismatch" in r.out
    end = records(segs[1])[-1][1] + 1
    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    assert plan["end_seq"] == end
    assert os.path.basename(segs[2]) in plan["moved"]
    assert read_all(qdir) == _expected(end)


def test_missing_middle_segment(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, N)
    segs = segment_paths(qdir)
    os.unlink(segs[1])
    r = cli("verify", qdir)
    assert r.code == 1 and f"{segs[2]}:0: segments 1..1 are missing" in r.out
    _repair_then_verify_clean(qdir, str(tmp_path))
    assert read_all(qdir) == _expected(len(records(segs[0])))


def test_stale_data_in_a_prepared_segment(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, N)
    in_use = [p for p in segment_paths(qdir) if records(p)]
    set_base_seq(in_use[-1], 2**64 - 1)  # the active one looks prepared, with records in it
    r = cli("verify", qdir)
    assert r.code == 1 and "prepared ahead holds data" in r.out
    _repair_then_verify_clean(qdir, str(tmp_path))
    end = records(in_use[-2])[-1][1] + 1
    assert read_all(qdir) == _expected(end)


def test_reader_positions_out_of_range(qdir: str, tmp_path: str) -> None:
    write_queue(qdir, 100)
    set_position(qdir, "future", 500)
    r = cli("verify", qdir)
    assert r.code == 1
    assert "reader 'future' is at seq 500, past the end of the queue (next seq 100)" in r.out
    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    assert plan["records_removed"] == 0
    assert [(f["name"], f["new_seq"]) for f in plan["readers"]] == [("future", 100)]


@pytest.mark.parametrize("which, bit", [(0, 40), (2, 40), (2, 63)])
def test_damaged_first_seq_in_a_header_is_restored(qdir: str, tmp_path: str, which: int, bit: int) -> None:
    """base_seq lies outside the header checksum: a flipped bit there (even
    one that puts it out of range) is repaired from the records, and nothing
    is cut."""
    write_queue(qdir, N)
    seg = segment_paths(qdir)[which]
    right = base_seq(seg)
    assert right is not None
    set_base_seq(seg, right ^ (1 << bit))
    r = cli("verify", qdir)
    assert r.code == 1
    plan = _repair_then_verify_clean(qdir, str(tmp_path))
    assert plan["base_fixes"] == [{"segment": os.path.basename(seg), "old": right ^ (1 << bit), "new": right}]
    assert plan["records_removed"] == 0 and plan["moved"] == [] and plan["cuts"] == []
    assert read_all(qdir) == _expected(N)


@pytest.mark.parametrize("seed", range(24))
def test_random_damage_then_repair_keeps_the_intact_prefix(qdir: str, tmp_path: str, seed: int) -> None:
    """Whatever the damage (flipped bytes anywhere, a zeroed range, a
    truncated file), repair then verify ends clean, and the queue holds
    exactly the messages before the first damaged byte, or more (a flip in a
    record's padding changes nothing)."""
    rng = random.Random(seed)
    n = 1500
    write_queue(qdir, n)
    in_use = [p for p in segment_paths(qdir) if base_seq(p) is not None]
    victim = rng.randrange(len(in_use))
    path = in_use[victim]
    end = end_offset(path)
    written = records(path)
    kind = rng.choice(["flip", "flip", "zero", "truncate"])
    if kind == "truncate":
        offset = 0  # an invalid size: the whole segment is unusable
        with open(path, "r+b") as f:
            f.truncate(rng.choice([4096, SMALL_SEGMENT // 2, SMALL_SEGMENT - 100]))
    else:
        offset = rng.randrange(0, end + 64)
        if kind == "flip":
            flip_byte(path, offset)
        else:
            write_at(path, offset, bytes(rng.randrange(1, 200)))
    bases = [base_seq(p) for p in in_use]
    first, seg_base = bases[0], bases[victim]
    assert first is not None and seg_base is not None
    # messages wholly before the first damaged byte
    before = seg_base + (sum(1 for off, _s, ln in written if off + files.rec_size(ln) <= offset) if kind != "truncate" and offset >= 64 else 0)
    r = cli("repair", qdir, "--backup-dir", str(tmp_path / "b"), "--json")
    assert r.code == 0, r.err
    v = cli("verify", qdir)
    assert v.code == 0, (kind, offset, v.out)
    got = read_all(qdir)
    start = got[0][0] if got else first
    assert got == _expected(n)[start : start + len(got)]  # dense, and exactly what was written
    if start > first:
        # an unusable first segment goes alone: everything after it is kept
        assert victim == 0 and got[-1][0] == n - 1, (kind, offset, r.out)
    else:
        assert len(got) >= before, (kind, offset, r.out)
    end_seq = start + len(got)
    with Queue.open_publisher(qdir) as pub:  # and the queue goes on from there
        assert pub.next_seq == end_seq
        pub.append(1, b"next")
    assert read_all(qdir, "after")[-1] == (end_seq, 1, b"next")
