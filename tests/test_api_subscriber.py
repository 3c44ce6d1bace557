"""SPEC §4, the subscriber: names, start, next, iteration, commit, seek."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import pytest

from chronicle import ChronicleError, CorruptQueueError, Message, Queue, QueueLockedError, SeqRangeError
from conftest import SMALL_SEGMENT


def publish(qdir: str, payloads: List[bytes], type_id: int = 1) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for p in payloads:
            pub.append(type_id, p)


def payloads_of(msgs: List[Message]) -> List[bytes]:
    return [bytes(m.payload) for m in msgs]


def take(sub: Any, n: int) -> List[Message]:
    out = []
    for _ in range(n):
        msg: Optional[Message] = sub.next()
        assert msg is not None
        out.append(msg)
    return out


def test_next_returns_none_when_nothing_is_ready(qdir: str) -> None:
    publish(qdir, [])
    with Queue.open_subscriber(qdir, "s") as sub:
        assert sub.next() is None
        assert sub.next() is None
        assert sub.next_seq == 0


def test_subscriber_before_any_publisher_creates_an_empty_queue(qdir: str) -> None:
    assert not Path(qdir).exists()
    with Queue.open_subscriber(qdir, "early") as sub:
        assert Path(qdir, "queue.meta").is_file()
        assert sub.next() is None
        assert not sub.wait(0)
        with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
            pub.append(5, b"first")
            msg = sub.next()
            assert msg is not None and (msg.seq, msg.type_id, bytes(msg.payload)) == (0, 5, b"first")


def test_iteration_yields_what_is_available_and_stops(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        with Queue.open_subscriber(qdir, "it") as sub:
            assert list(sub) == []
            for i in range(3):
                pub.append(1, b"%d" % i)
            assert payloads_of(list(sub)) == [b"0", b"1", b"2"]
            assert list(sub) == []
            pub.append(1, b"3")
            assert [m.seq for m in sub] == [3]


def test_start_earliest_and_latest(qdir: str) -> None:
    publish(qdir, [b"old0", b"old1"])
    with Queue.open_publisher(qdir) as pub:
        with Queue.open_subscriber(qdir, "e") as early, Queue.open_subscriber(qdir, "l", start="latest") as late:
            assert late.next_seq == 2
            assert late.next() is None
            pub.append(1, b"new")
            assert payloads_of(list(early)) == [b"old0", b"old1", b"new"]
            assert payloads_of(list(late)) == [b"new"]


def test_start_applies_only_to_a_name_without_committed_position(qdir: str) -> None:
    publish(qdir, [b"a", b"b", b"c"])
    with Queue.open_subscriber(qdir, "s") as sub:
        take(sub, 1)
        sub.commit()
    with Queue.open_subscriber(qdir, "s", start="latest") as sub:
        assert payloads_of(list(sub)) == [b"b", b"c"]


def test_start_latest_on_empty_queue(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "l", start="latest") as sub:
        publish(qdir, [b"x"])
        assert payloads_of(list(sub)) == [b"x"]


@pytest.mark.parametrize("start", ["EARLIEST", "newest", "", None, 0])
def test_bad_start_raises_value_error(qdir: str, start: Any) -> None:
    with pytest.raises(ValueError):
        Queue.open_subscriber(qdir, "s", start=start)


def test_commit_and_resume(qdir: str) -> None:
    publish(qdir, [b"m%d" % i for i in range(10)])
    with Queue.open_subscriber(qdir, "r") as sub:
        take(sub, 4)
        sub.commit()
        take(sub, 3)  # read but not committed: delivered again (at-least-once)
    with Queue.open_subscriber(qdir, "r") as sub:
        assert sub.next_seq == 4
        assert [m.seq for m in sub] == list(range(4, 10))
        sub.commit(sync=True)
    publish(qdir, [b"later"])
    with Queue.open_subscriber(qdir, "r") as sub:
        assert payloads_of(list(sub)) == [b"later"]


def test_commit_before_reading_anything(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "r") as sub:
        sub.commit()
    publish(qdir, [b"x"])
    with Queue.open_subscriber(qdir, "r", start="latest") as sub:
        # the committed position (seq 0) wins over start="latest"
        assert payloads_of(list(sub)) == [b"x"]


def test_commit_across_segments(qdir: str) -> None:
    payloads = [bytes([i % 256]) * 1000 for i in range(500)]  # ~8 segments
    publish(qdir, payloads)
    with Queue.open_subscriber(qdir, "r") as sub:
        take(sub, 333)
        sub.commit()
    with Queue.open_subscriber(qdir, "r") as sub:
        assert payloads_of(list(sub)) == payloads[333:]


def test_names_read_independently(qdir: str) -> None:
    publish(qdir, [b"a", b"b", b"c"])
    with Queue.open_subscriber(qdir, "one") as one, Queue.open_subscriber(qdir, "two") as two:
        take(one, 2)
        one.commit()
        assert payloads_of(list(two)) == [b"a", b"b", b"c"]
        two.commit()
    with Queue.open_subscriber(qdir, "one") as one, Queue.open_subscriber(qdir, "three") as three:
        assert payloads_of(list(one)) == [b"c"]
        assert payloads_of(list(three)) == [b"a", b"b", b"c"]


def test_idle_subscriber_never_blocks_the_publisher(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "idle") as sub:
        publish(qdir, [b"z" * 4000 for _ in range(200)])  # ~13 segments past the reader
        assert len(list(sub)) == 200


def test_same_name_twice_at_once_is_refused(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "dup"):
        with pytest.raises(QueueLockedError):
            Queue.open_subscriber(qdir, "dup")
    with Queue.open_subscriber(qdir, "dup"):
        pass  # free again after close


VALID_NAMES = ["a", "strategy_1", "A-Z.0-9", "x" * 64, "a..b"]
BAD_NAMES = ["", ".", "..", "../x", "a/b", "/abs", "a\\b", "x" * 65, "a\0b", ".hidden", "a b", "é", "a\nb"]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(qdir: str, name: str) -> None:
    with Queue.open_subscriber(qdir, name) as sub:
        assert sub.name == name
        sub.commit()
    assert Path(qdir, "readers", name + ".pos").is_file()


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_raise_value_error_and_create_nothing(tmp_path: Path, name: str) -> None:
    qdir = tmp_path / "q"
    publish(str(qdir), [b"x"])
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ValueError):
        Queue.open_subscriber(qdir, name)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("name", [None, 1, b"bytes_name"])
def test_name_of_wrong_type_raises_type_error(qdir: str, name: Any) -> None:
    with pytest.raises(TypeError):
        Queue.open_subscriber(qdir, name)


def test_seek_replays_from_any_seq(qdir: str) -> None:
    payloads = [bytes([i % 256]) * 700 for i in range(400)]  # several segments
    publish(qdir, payloads)
    with Queue.open_subscriber(qdir, "s") as sub:
        assert len(list(sub)) == 400
        for seq in (0, 1, 93, 250, 399):
            sub.seek(seq)
            assert sub.next_seq == seq
            msg = sub.next()
            assert msg is not None and msg.seq == seq and bytes(msg.payload) == payloads[seq]
        sub.seek(10)
        assert [m.seq for m in sub] == list(range(10, 400))


def test_seek_to_the_next_seq_waits_for_it(qdir: str) -> None:
    publish(qdir, [b"a", b"b"])
    with Queue.open_subscriber(qdir, "s") as sub:
        sub.seek(2)
        assert sub.next() is None
        publish(qdir, [b"c"])
        msg = sub.next()
        assert msg is not None and msg.seq == 2


def test_seek_on_empty_queue(qdir: str) -> None:
    with Queue.open_subscriber(qdir, "s") as sub:
        sub.seek(0)
        with pytest.raises(SeqRangeError):
            sub.seek(1)


@pytest.mark.parametrize("seq", [4, 5, 1000, 2**63, 2**64 - 1])
def test_seek_beyond_the_end_raises(qdir: str, seq: int) -> None:
    publish(qdir, [b"a", b"b", b"c"])
    with Queue.open_subscriber(qdir, "s") as sub:
        take(sub, 1)
        with pytest.raises(SeqRangeError) as info:
            sub.seek(seq)
        assert isinstance(info.value, ChronicleError)
        assert isinstance(info.value, IndexError)
        msg = sub.next()  # the position is unchanged
        assert msg is not None and msg.seq == 1


@pytest.mark.parametrize("seq,exc", [(-1, ValueError), (2**64, (ValueError, OverflowError, SeqRangeError)),
                                     (1.0, TypeError), ("1", TypeError), (None, TypeError)])
def test_seek_bad_argument(qdir: str, seq: Any, exc: Any) -> None:
    publish(qdir, [b"a"])
    with Queue.open_subscriber(qdir, "s") as sub:
        with pytest.raises(exc):
            sub.seek(seq)


def test_corrupt_record_raises_and_is_never_returned(qdir: str) -> None:
    publish(qdir, [b"good-record", b"will-be-corrupted", b"after"])
    seg = Path(qdir, "00000000000000000000.seg")
    data = seg.read_bytes()
    at = data.index(b"will-be-corrupted")
    with open(seg, "r+b") as f:
        f.seek(at)
        f.write(b"W")
    with Queue.open_subscriber(qdir, "s") as sub:
        msg = sub.next()
        assert msg is not None and bytes(msg.payload) == b"good-record"
        for _ in range(2):  # stays on the bad record
            with pytest.raises(CorruptQueueError) as info:
                sub.next()
            assert info.value.path == str(seg)
            assert info.value.offset is not None and 64 <= info.value.offset < at
            assert str(seg) in str(info.value)
        assert sub.next_seq == 1


def test_seek_after_retention_replays_from_the_first_retained_seq(qdir: str) -> None:
    publish(qdir, [bytes([i % 256]) * 1500 for i in range(200)])  # ~5 segments
    segments = sorted(Path(qdir).glob("*.seg"))
    segments[0].unlink()  # what retention does to a sealed segment
    with Queue.open_subscriber(qdir, "s") as sub:
        first = sub.next()
        assert first is not None and first.seq > 0
        with pytest.raises(SeqRangeError):
            sub.seek(first.seq - 1)
        sub.seek(first.seq + 5)
        msg = sub.next()
        assert msg is not None and msg.seq == first.seq + 5
        sub.seek(first.seq)
        assert [m.seq for m in sub] == list(range(first.seq, 200))
