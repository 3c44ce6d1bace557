"""Hostile and damaged queue files: random bit flips, truncated and grown
files, zeroed tails and garbage past the tail.

Whatever the damage: a reader returns only intact messages, in order, with
their exact bytes, then reports CorruptQueueError (naming the file) or waits;
nothing crashes the process (a short segment must never raise SIGBUS); and a
publisher either reopens and continues the sequence without a gap, or
refuses with a CorruptQueueError naming the file.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from conftest import spawn_python
from test_crash_support import (
    REC_HDR,
    SEG_HDR,
    SEQ_UNSET,
    SMALL_SEGMENT,
    TESTS_DIR,
    LineReader,
    Segment,
    active_segments,
    append_expected,
    check_dense,
    intact_after_zeroing,
    parse_queue,
    payload_for,
    segment_paths,
    type_for,
    write_at,
)

from chronicle import ChronicleError, CorruptQueueError, Queue, RecoveryWarning, Subscriber

N = 1200          # messages in the pristine queue
MAX_LEN = 600     # payload lengths 0..599: about six 64 KiB segments
COMMITTED = 700   # position committed by reader "pos"
SEED = 90210


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> str:
    q = str(tmp_path_factory.mktemp("pristine") / "queue")
    with Queue.open_publisher(q, segment_size=SMALL_SEGMENT) as pub:
        append_expected(pub, 0, N, MAX_LEN)
    with Queue.open_subscriber(q, "pos") as sub:
        for _ in range(COMMITTED):
            assert sub.next() is not None
        sub.commit()
    # the segment the writer prepared ahead (if it got to it) is not part of
    # the queue's content; drop it so that the damage below is reproducible
    for s in parse_queue(q):
        if s.base_seq == SEQ_UNSET:
            s.path.unlink()
    assert check_dense(q) == N
    return q


def damaged_copy(pristine: str, dest: Path) -> str:
    q = str(dest / "queue")
    shutil.copytree(pristine, q)
    return q


def read_prefix(qdir: str, name: str, seek: Optional[int] = None) -> Tuple[List[int], Optional[CorruptQueueError]]:
    """Read everything a fresh subscriber returns, checking each message's
    bytes; returns the seqs and the CorruptQueueError that stopped it."""
    seqs: List[int] = []
    try:
        sub = Queue.open_subscriber(qdir, name)
    except CorruptQueueError as e:
        assert_names_file(e, qdir)
        return seqs, e
    with sub:
        try:
            if seek is not None:
                sub.seek(seek)
            for _ in range(N + 10):
                msg = sub.next()
                if msg is None:
                    return seqs, None
                assert not seqs or msg.seq == seqs[-1] + 1, f"seq {msg.seq} after {seqs[-1]}"
                assert msg.type_id == type_for(msg.seq), f"seq {msg.seq}: wrong type id returned"
                assert bytes(msg.payload) == payload_for(msg.seq, MAX_LEN), f"seq {msg.seq}: wrong bytes returned"
                seqs.append(msg.seq)
        except CorruptQueueError as e:
            assert_names_file(e, qdir)
            # the reader stays on the bad record: it reports it again, never skips it
            stuck = sub.next_seq
            with pytest.raises(CorruptQueueError):
                sub.next()
            assert sub.next_seq == stuck
            return seqs, e
    pytest.fail("reader returned more messages than were written")


def assert_names_file(e: ChronicleError, qdir: str) -> None:
    path = getattr(e, "path", "") or getattr(e, "filename", "") or ""
    assert path and str(path).startswith(qdir), f"error does not name a file of the queue: {e!r}"
    assert str(path) in str(e), f"message does not name {path}: {e}"


def open_publisher_or_refuse(qdir: str) -> Tuple[Optional[int], bool]:
    """Reopen the publisher: (its next seq, whether recovery warned), or
    (None, False) when it refused with a clear error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pub = Queue.open_publisher(qdir)
        except CorruptQueueError as e:
            assert_names_file(e, qdir)
            return None, False
    warned = any(issubclass(w.category, RecoveryWarning) for w in caught)
    with pub:
        start = pub.next_seq
        append_expected(pub, start, 3, MAX_LEN)
    return start, warned


# ---- bit flips ----------------------------------------------------------------


def classify(segs: List[Segment], path: Path, offset: int) -> Tuple[str, int]:
    """What a byte of the pristine queue holds: ("record", seq) for bytes a
    record's checksum covers, ("eos", index) for an end marker, ("header",
    index) / ("base", index) for a segment header, ("tail", index) for the
    commit word where the next record would go, or ("spare", -1)."""
    for s in segs:
        if s.path.name != path.name:
            continue
        if offset < 56:
            return "header", s.index
        if offset < SEG_HDR:
            return "base", s.index
        for r in s.records:
            if r.offset <= offset < r.offset + REC_HDR + len(r.payload):
                return "record", r.seq
        if s.end_offset <= offset < s.end_offset + 4:
            return ("eos" if s.end == "eos" else "tail"), s.index
        return "spare", -1
    return path.name, -1


def test_random_bit_flips(pristine: str, tmp_path: Path) -> None:
    print(f"seed={SEED}")
    rng = random.Random(SEED)
    segs = active_segments(pristine)
    last = segs[-1]
    ends = {s.index: s.base_seq + len(s.records) for s in segs}
    offsets = {r.seq: r.offset for s in segs for r in s.records}
    kinds_seen = set()
    for i in range(48):
        # mostly records, sometimes headers, ends, the meta and position files
        roll = rng.random()
        if roll < 0.6:
            seg = rng.choice(segs)
            rec = rng.choice(seg.records)
            rel, offset = seg.path.name, rec.offset + rng.randrange(REC_HDR + max(1, len(rec.payload)))
        elif roll < 0.75:
            seg = rng.choice(segs)
            rel, offset = seg.path.name, rng.choice([rng.randrange(SEG_HDR), seg.end_offset + rng.randrange(4)])
        elif roll < 0.85:
            rel, offset = "queue.meta", rng.randrange(72)
        elif roll < 0.95:
            rel, offset = "readers/pos.pos", rng.randrange(192)
        else:
            seg = rng.choice(segs)
            rel, offset = seg.path.name, rng.randrange(seg.end_offset, SMALL_SEGMENT)
        q = damaged_copy(pristine, tmp_path / f"flip{i}")
        target = Path(q) / rel
        data = bytearray(target.read_bytes()[offset : offset + 1])
        data[0] ^= 1 << rng.randrange(8)
        write_at(target, offset, bytes(data))
        kind, where = classify(segs, Path(rel), offset)
        kinds_seen.add(kind)
        what = f"flip {i}: {rel}+{offset} ({kind} {where})"
        print(what)

        seqs, err = read_prefix(q, "fresh")
        if kind == "record":
            # every record before the damaged one, then an error naming its
            # offset (or, if the flip zeroed a commit word, the reader waits)
            assert seqs == list(range(where)), what
            assert err is None or err.offset == offsets[where], what
        elif kind == "eos":
            assert seqs == list(range(ends[where])) and err is not None, what
        elif kind == "tail":
            assert seqs == list(range(N)), what
        elif kind in ("spare", "pos.pos"):
            assert seqs == list(range(N)) and err is None, what
        elif kind in ("header", "base"):
            assert err is not None and len(seqs) <= N, what
        else:  # queue.meta: its header is checked, the rest is shared state
            assert err is not None or seqs == list(range(N)), what

        # the committed reader resumes at its commit, or earlier (a damaged
        # slot falls back), never later
        pos_seqs, _ = read_prefix(q, "pos")
        if pos_seqs:
            assert pos_seqs[0] in (0, COMMITTED), what

        start, warned = open_publisher_or_refuse(q)
        in_last = rel == last.path.name
        if start is not None:
            if kind == "record" and in_last:
                # Kafka-style: the active segment is cut at its first bad
                # record, and recovery says so
                assert start == where and warned, what
            else:
                # damage elsewhere is left for readers to report
                assert start == N, what
            # the new messages follow at once, readable after the old ones
            got, err = read_prefix(q, "after", seek=start)
            if kind == "header" and where == segs[0].index:
                # where the queue starts is unknown: subscribers refuse to open
                assert got == [] and err is not None, what
            else:
                assert got == [start, start + 1, start + 2], what
        else:
            # refused: only for a damaged meta header or active segment header
            assert kind in ("header", "base", "queue.meta") and (in_last or kind == "queue.meta"), what
    assert {"record", "header", "queue.meta", "pos.pos"} <= kinds_seen


# ---- truncated and grown files ---------------------------------------------------


TRUNCATIONS = [
    ("last", 0), ("last", 10), ("last", 63), ("last", 64), ("last", 4096), ("last", 61440),
    ("last", 2 * SMALL_SEGMENT), ("first", 0), ("first", 32768), ("middle", 65536 - 4096),
    ("middle", 2 * SMALL_SEGMENT), ("queue.meta", 0), ("queue.meta", 100), ("queue.meta", 4095),
    ("readers/pos.pos", 100),
]


@pytest.mark.parametrize("which,size", TRUNCATIONS)
def test_truncated_or_grown_file(pristine: str, tmp_path: Path, which: str, size: int) -> None:
    q = damaged_copy(pristine, tmp_path)
    segs = active_segments(q)
    pick = {"last": segs[-1], "first": segs[0], "middle": segs[len(segs) // 2]}
    target = pick[which].path if which in pick else Path(q) / which
    os.truncate(target, size)  # nothing has it mapped: no SIGBUS anywhere

    seqs, err = read_prefix(q, "fresh")
    if which in pick:
        seg = pick[which]
        if seg.index == 0:
            assert seqs == [] and err is not None
        else:
            # every record before the damaged segment, then its name
            assert seqs == list(range(seg.base_seq)) and err is not None
        assert err.path == str(target)
        if which == "middle":
            # a seek into the damaged segment names it; one past it works
            with Queue.open_subscriber(q, "seeker") as sub:
                with pytest.raises(CorruptQueueError) as info:
                    sub.seek(seg.base_seq + 1)
                assert info.value.path == str(target)
                after = segs[segs.index(seg) + 1].base_seq
                sub.seek(after)
                msg = sub.next()
                assert msg is not None and msg.seq == after and bytes(msg.payload) == payload_for(after, MAX_LEN)
    elif which == "queue.meta":
        assert err is not None and err.path == str(target)
    else:
        assert seqs == list(range(N))
        with pytest.raises(CorruptQueueError) as info:
            Queue.open_subscriber(q, "pos")
        assert info.value.path == str(target)

    start, _ = open_publisher_or_refuse(q)
    if which in ("last", "queue.meta"):
        assert start is None
    else:
        assert start == N


# ---- zeroed tails ------------------------------------------------------------------


def test_zeroed_tail_of_active_segment(pristine: str, tmp_path: Path) -> None:
    """Pages lost at the end of the active segment (a torn write-back): the
    intact records stay, the next publisher continues right after them."""
    rng = random.Random(SEED + 1)
    last = active_segments(pristine)[-1]
    for i in range(8):
        q = damaged_copy(pristine, tmp_path / f"z{i}")
        cut = rng.randrange(SEG_HDR, last.end_offset + 1)
        if i == 0:
            cut = last.records[len(last.records) // 2].offset  # exactly at a record
        expect = last.base_seq + intact_after_zeroing(last, cut)
        write_at(Path(q) / last.path.name, cut, bytes(SMALL_SEGMENT - cut))

        seqs, err = read_prefix(q, "fresh")
        assert seqs == list(range(expect))
        start, _ = open_publisher_or_refuse(q)
        assert start == expect
        assert check_dense(q) == expect + 3


# ---- garbage past the tail while the publisher is dead ---------------------------

# Appends `count` messages, waits until the segment after its active one is
# prepared, says so, and waits to be killed.
DEAD_PUBLISHER = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from chronicle import Queue
from test_crash_support import SMALL_SEGMENT, append_expected, active_segments
qdir, count = sys.argv[2], int(sys.argv[3])
pub = Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT)
append_expected(pub, pub.next_seq, count)
nxt = os.path.join(qdir, "%020d.seg" % (active_segments(qdir)[-1].index + 1))
deadline = time.monotonic() + 10
while not os.path.exists(nxt) and time.monotonic() < deadline:
    time.sleep(0.001)
print("ready", pub.next_seq, flush=True)
sys.stdin.read()
"""


def garbage(kind: str, rng: random.Random, tail: Segment) -> bytes:
    noise = rng.randbytes(rng.randrange(64, 3000))
    if kind == "random":
        return (0x80000000 | 200).to_bytes(4, "little") + noise  # a plausible commit word
    if kind == "torn":
        return bytes(4) + noise  # commit still zero, junk after it (a torn page)
    if kind == "eos":
        return b"\xff\xff\xff\xff" + noise
    # a stale but intact record: right checksum, wrong seq
    rec = tail.records[0]
    raw = tail.path.read_bytes()[rec.offset : rec.offset + REC_HDR + len(rec.payload)]
    return raw


@pytest.mark.parametrize("kind", ["random", "torn", "eos", "stale"])
def test_garbage_past_tail_with_dead_publisher(
    qdir: str, children: List[subprocess.Popen[bytes]], kind: str
) -> None:
    rng = random.Random(kind)
    live = Queue.open_subscriber(qdir, "live")
    with live:
        proc = spawn_python(DEAD_PUBLISHER, TESTS_DIR, qdir, "150", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        children.append(proc)
        assert LineReader(proc).line(30) == "ready 150"
        proc.kill()
        proc.wait(10)
        read_upto(live, 149)
        tail = active_segments(qdir)[-1]
        write_at(tail.path, tail.end_offset, garbage(kind, rng, tail))

        # the publisher is dead: the subscriber waits or reports corruption,
        # and stays where it is
        for _ in range(3):
            try:
                assert live.next() is None
            except CorruptQueueError as e:
                assert_names_file(e, qdir)
            assert live.next_seq == 150

        # takeover: garbage gone (or taken as the segment's end), the same
        # subscriber continues without reopening
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecoveryWarning)
            pub = Queue.open_publisher(qdir)
        with pub:
            assert pub.next_seq == 150
            append_expected(pub, 150, 200)
            read_upto(live, 349)
    assert check_dense(qdir) == 350


def read_upto(sub: Subscriber, last: int) -> None:
    while sub.next_seq <= last:
        msg = sub.next()
        if msg is None:
            assert sub.wait(timeout=10), f"stalled at seq {sub.next_seq}"
            continue
        assert bytes(msg.payload) == payload_for(msg.seq) and msg.type_id == type_for(msg.seq)


def test_foreign_and_unknown_files_are_refused(pristine: str, tmp_path: Path) -> None:
    """A segment of another queue, an unknown format version, a file that is
    not a queue: CorruptQueueError naming the file, never a misread."""
    other = str(tmp_path / "other")
    with Queue.open_publisher(other, segment_size=SMALL_SEGMENT) as pub:
        append_expected(pub, 0, 10, MAX_LEN)
    q = damaged_copy(pristine, tmp_path / "foreign")
    victim = segment_paths(q)[1]
    shutil.copyfile(segment_paths(other)[0], victim)
    seqs, err = read_prefix(q, "fresh")
    assert err is not None and err.path == str(victim)
    assert "another queue" in str(err)

    q = damaged_copy(pristine, tmp_path / "version")
    write_at(Path(q) / "queue.meta", 4, (99).to_bytes(2, "little"))
    with pytest.raises(CorruptQueueError, match="version") as info:
        Queue.open_subscriber(q, "fresh")
    assert info.value.path == str(Path(q) / "queue.meta")
    with pytest.raises(CorruptQueueError, match="version"):
        Queue.open_publisher(q)

    not_queue = tmp_path / "notaqueue"
    not_queue.mkdir()
    (not_queue / "queue.meta").write_bytes(b"x" * 4096)
    with pytest.raises(CorruptQueueError, match="magic") as info:
        Queue.open_publisher(str(not_queue))
    assert info.value.path == str(not_queue / "queue.meta")


# ---- a damaged base seq ------------------------------------------------------------


@pytest.mark.parametrize("base", [5, 2**40, SEQ_UNSET - 1])
def test_damaged_base_seq_of_active_segment(pristine: str, tmp_path: Path, base: int) -> None:
    """The first seq of the active segment (outside the header checksum) is
    wrong: the publisher must not wipe the segment's intact records nor
    continue at a wrong seq; it refuses, naming the file."""
    q = damaged_copy(pristine, tmp_path)
    last = active_segments(q)[-1]
    write_at(last.path, 56, base.to_bytes(8, "little"))
    before = last.path.read_bytes()
    start, _ = open_publisher_or_refuse(q)
    assert start is None
    assert last.path.read_bytes() == before


@pytest.mark.parametrize("empty_base", ["right", "wrong"])
def test_empty_active_segment_after_sealed_one(pristine: str, tmp_path: Path, empty_base: str) -> None:
    """An activated but empty segment above the last one: a publisher that
    died right after activating it (right base), or a damaged header of a
    segment made ahead (wrong base). The sequence continues from the real
    end either way, or the publisher refuses."""
    q = damaged_copy(pristine, tmp_path)
    last = active_segments(q)[-1]
    nxt = Path(q) / f"{last.index + 1:020d}.seg"
    # a segment made ahead: the last one's header with the next index
    hdr = bytearray(last.path.read_bytes()[:SEG_HDR])
    hdr[8:16] = (last.index + 1).to_bytes(8, "little")
    from chronicle._binding import lib

    hdr[52:56] = lib.chron_crc32c(0, bytes(hdr[:52]), 52).to_bytes(4, "little")
    base = N if empty_base == "right" else N + 7
    hdr[56:64] = base.to_bytes(8, "little")
    nxt.write_bytes(bytes(hdr) + bytes(SMALL_SEGMENT - SEG_HDR))
    start, _ = open_publisher_or_refuse(q)
    if empty_base == "right":
        assert start == N
        assert check_dense(q) == N + 3
    else:
        assert start is None
