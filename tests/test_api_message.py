"""SPEC §4, Message: its fields, and a payload that is a zero-copy, read-only
view which stays safe to use however long it is kept.

Cases that would segfault if the view outlived its mapping run in a child
process, so that a crash fails the test instead of killing pytest.
"""
from __future__ import annotations

import mmap
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from chronicle import Message, Queue
from conftest import SMALL_SEGMENT, spawn_python


def run_isolated(code: str, *args: str) -> str:
    """Run `code` in a child Python; fail unless it exits 0. Returns stdout."""
    proc = spawn_python(code, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"child exited {proc.returncode}\n{err.decode()}"
    return out.decode()


def test_message_fields(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        before = time.time_ns()
        pub.append(65535, b"payload")
        after = time.time_ns()
    with Queue.open_subscriber(qdir, "s") as sub:
        msg = sub.next()
    assert isinstance(msg, Message)
    assert (msg.seq, msg.type_id, bytes(msg.payload)) == (0, 65535, b"payload")
    assert type(msg.seq) is int and type(msg.type_id) is int and type(msg.timestamp_ns) is int
    assert before - 5_000_000 <= msg.timestamp_ns <= after + 5_000_000
    text = repr(msg)
    assert "seq=0" in text and "type_id=65535" in text and "7 bytes" in text


def test_payload_is_a_read_only_memoryview(qdir: str) -> None:
    np = pytest.importorskip("numpy")
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, bytes(range(16)))
    with Queue.open_subscriber(qdir, "s") as sub:
        msg = sub.next()
        assert msg is not None
        p = msg.payload
        assert isinstance(p, memoryview)
        assert p.readonly and p.nbytes == len(p) == 16 and p.format == "B"
        assert p == bytes(range(16)) and p.tobytes() == bytes(range(16))
        assert memoryview(p)[3] == 3
        assert p.cast("I")[0] == int.from_bytes(bytes(range(4)), "little")
        arr = np.frombuffer(p, dtype=np.uint8)
        assert arr.tolist() == list(range(16)) and not arr.flags.writeable
        with pytest.raises(TypeError):
            p[0] = 1  # type: ignore[index]
        with pytest.raises(ValueError):
            arr[0] = 1


def test_payload_is_zero_copy_view_of_the_file(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"before-change")
        pub.append(1, b"second")
    with Queue.open_subscriber(qdir, "s") as sub:
        first, second = sub.next(), sub.next()
        assert first is not None and second is not None
        assert isinstance(first.payload.obj, mmap.mmap)
        assert first.payload.obj is second.payload.obj  # one mapping, no copies
        seg = Path(qdir, "00000000000000000000.seg")
        at = seg.read_bytes().index(b"before-change")
        fd = os.open(seg, os.O_WRONLY)
        try:
            os.pwrite(fd, b"AFTER!", at)
        finally:
            os.close(fd)
        assert bytes(first.payload) == b"AFTER!-change"  # the view sees the file


def test_payload_kept_after_next_moved_on_across_segments(qdir: str) -> None:
    run_isolated(
        """
        import sys
        from chronicle import Queue
        path = sys.argv[1]
        with Queue.open_publisher(path, segment_size=65536) as pub:
            for i in range(300):
                pub.append(1, bytes([i % 256]) * 1500)   # ~7 segments
        kept = []
        with Queue.open_subscriber(path, "s") as sub:
            for msg in sub:
                kept.append(msg.payload)
            assert len(kept) == 300
            for i, p in enumerate(kept):
                assert p == bytes([i % 256]) * 1500, i
        """,
        qdir,
    )


def test_payload_kept_after_close_and_deletion_stays_readable(qdir: str) -> None:
    run_isolated(
        """
        import gc, shutil, sys
        from pathlib import Path
        from chronicle import Queue
        path = sys.argv[1]
        pub = Queue.open_publisher(path, segment_size=65536)
        for i in range(300):
            pub.append(1, bytes([i % 256]) * 1500)
        sub = Queue.open_subscriber(path, "s")
        kept = [m.payload for m in sub]
        last = kept[-1]
        sub.close()
        gc.collect()
        for i, p in enumerate(kept):
            assert bytes(p) == bytes([i % 256]) * 1500, i
        # retention: sealed segments deleted while views into them are kept
        sealed = sorted(Path(path).glob("*.seg"))[:-2]
        assert len(sealed) >= 4
        for f in sealed:
            f.unlink()
        pub.close()
        shutil.rmtree(path)
        gc.collect()
        for i, p in enumerate(kept):
            assert bytes(p) == bytes([i % 256]) * 1500, i
            assert p.tobytes()[:1] == bytes([i % 256])
        del kept
        gc.collect()
        assert bytes(last) == bytes([299 % 256]) * 1500
        print("ok")
        """,
        qdir,
    )


def test_payload_kept_by_a_message_after_everything_is_gone(qdir: str) -> None:
    out = run_isolated(
        """
        import gc, sys
        from chronicle import Queue
        path = sys.argv[1]
        with Queue.open_publisher(path, segment_size=65536) as pub:
            pub.append(3, b"survivor")
        with Queue.open_subscriber(path, "s") as sub:
            msg = sub.next()
        del sub
        gc.collect()
        print(msg.type_id, bytes(msg.payload).decode(), msg.payload[-1])
        """,
        qdir,
    )
    assert out.split() == ["3", "survivor", str(ord("r"))]


def test_reader_reaching_a_retired_segment_raises(qdir: str) -> None:
    out = run_isolated(
        """
        import sys
        from pathlib import Path
        from chronicle import Queue, SegmentRetiredError
        path = sys.argv[1]
        with Queue.open_publisher(path, segment_size=65536) as pub:
            for i in range(200):
                pub.append(1, bytes([i % 256]) * 1500)
        with Queue.open_subscriber(path, "s") as sub:
            held = sub.next().payload
            segs = sorted(Path(path).glob("*.seg"))
            segs[1].unlink()   # the next one this reader needs
            try:
                for msg in sub:
                    pass
            except SegmentRetiredError as e:
                print("retired", e)
            assert bytes(held) == bytes(1500)
        """,
        qdir,
    )
    assert out.startswith("retired")


def test_message_equality(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"x")
    with Queue.open_subscriber(qdir, "a") as a, Queue.open_subscriber(qdir, "b") as b:
        ma, mb = a.next(), b.next()
    assert ma == mb and ma is not mb
    other: Any = ma
    assert other != "not a message"


def test_a_message_built_from_any_buffer() -> None:
    """Archives (and users' own tests) build messages from any bytes-like
    payload; it reads back as the same read-only bytes."""
    msg = Message(7, 2, 123, bytearray(b"abc"))
    assert (msg.seq, msg.type_id, msg.timestamp_ns) == (7, 2, 123)
    assert bytes(msg.payload) == b"abc" and msg.payload.readonly
    assert msg == Message(7, 2, 123, b"abc") and msg != Message(7, 2, 123, b"abd")
    assert repr(msg) == "Message(seq=7, type_id=2, timestamp_ns=123, payload=<3 bytes>)"
    with pytest.raises(TypeError):
        Message(1, 1, 1, "text")
