"""SPEC §4, the publisher: open_publisher, append, flush, next_seq, the lock.

Argument policy (tested below): ``type_id`` is any integer object in
0..65535 — ``int``, ``bool`` (an int in Python: True is 1), NumPy integers,
anything with ``__index__``; floats, Decimals, Fractions and strings raise
TypeError even when integral-looking, because accepting them would mean
silently truncating. ``payload`` is any contiguous bytes-like object; a str
raises TypeError (encode it first).
"""
from __future__ import annotations

import array
import errno
import os
import shutil
import signal
import subprocess
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, List

import pytest

import chronicle
from chronicle import ChronicleError, MessageTooLargeError, Queue, QueueLockedError
from conftest import SMALL_SEGMENT, read_line, spawn_python


def read_all(qdir: str, name: str = "check") -> List[chronicle.Message]:
    with Queue.open_subscriber(qdir, name) as sub:
        msgs = list(sub)
    return msgs


def test_append_returns_dense_seqs_from_zero(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        assert pub.next_seq == 0
        seqs = [pub.append(7, b"m%d" % i) for i in range(100)]
        assert pub.next_seq == 100
    assert seqs == list(range(100))
    msgs = read_all(qdir)
    assert [m.seq for m in msgs] == seqs
    assert [bytes(m.payload) for m in msgs] == [b"m%d" % i for i in range(100)]
    assert {m.type_id for m in msgs} == {7}


def test_dense_seqs_across_many_small_segments(qdir: str) -> None:
    sizes = [(i * 7919) % 3000 for i in range(6000)]  # 0..2999 bytes, ~9 MB in all
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for i, n in enumerate(sizes):
            assert pub.append(i % 65536, bytes([i % 251]) * n) == i
    segments = sorted(Path(qdir).glob("*.seg"))
    assert len(segments) > 100
    assert all(p.stat().st_size == SMALL_SEGMENT for p in segments)
    with Queue.open_subscriber(qdir, "all") as sub:
        for i, n in enumerate(sizes):
            msg = sub.next()
            assert msg is not None and msg.seq == i and msg.type_id == i
            assert msg.payload == bytes([i % 251]) * n
        assert sub.next() is None


def test_sequence_continues_across_reopen(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for i in range(10):
            pub.append(1, b"first")
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        assert pub.next_seq == 10
        assert pub.append(1, b"second") == 10
    assert [m.seq for m in read_all(qdir)] == list(range(11))


def test_segment_size_is_fixed_at_creation(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        small_max = pub.max_payload
        pub.append(0, b"x")
    with Queue.open_publisher(qdir, segment_size=4 * SMALL_SEGMENT) as pub:
        assert pub.max_payload == small_max  # the existing queue keeps its size
    assert {p.stat().st_size for p in Path(qdir).glob("*.seg")} == {SMALL_SEGMENT}


@pytest.mark.parametrize("size", [0, 1000, 4096 + 1, 2**20 + 1, -SMALL_SEGMENT])
def test_bad_segment_size_raises_value_error(qdir: str, size: int) -> None:
    with pytest.raises(ValueError):
        Queue.open_publisher(qdir, segment_size=size)


@pytest.mark.parametrize("size", ["65536", 65536.0, [65536]])
def test_segment_size_of_wrong_type_raises_type_error(qdir: str, size: Any) -> None:
    with pytest.raises(TypeError):
        Queue.open_publisher(qdir, segment_size=size)


def test_default_segment_size_is_128_mib(qdir: str) -> None:
    assert Queue.DEFAULT_SEGMENT_SIZE == 128 << 20
    assert Queue.MIN_SEGMENT_SIZE == 64 << 10
    try:
        with Queue.open_publisher(qdir) as pub:
            pub.append(0, b"x")
        assert (Path(qdir) / "00000000000000000000.seg").stat().st_size == 128 << 20
    finally:
        shutil.rmtree(qdir, ignore_errors=True)  # not worth keeping


def test_empty_payload_and_every_bytes_like_type(qdir: str) -> None:
    np = pytest.importorskip("numpy")
    samples: List[Any] = [
        b"",
        b"bytes",
        bytearray(b"bytearray"),
        memoryview(b"memoryview"),
        memoryview(b"xxsliceyy")[2:7],
        array.array("i", [1, 2, 3]),
        np.arange(4, dtype=np.uint16),
        np.zeros((2, 3), dtype=np.uint8),
    ]
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for s in samples:
            pub.append(3, s)
    got = [bytes(m.payload) for m in read_all(qdir)]
    assert got == [memoryview(s).tobytes() for s in samples]


def test_integer_type_ids_of_any_kind(qdir: str) -> None:
    np = pytest.importorskip("numpy")

    class Index:
        def __index__(self) -> int:
            return 42

    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        for t in (0, 65535, True, False, np.uint16(9), np.int64(10), Index()):
            pub.append(t, b"x")
            pub.append(t, memoryview(b"x"))  # the same through the slower path
    assert [m.type_id for m in read_all(qdir)] == [0, 0, 65535, 65535, 1, 1, 0, 0, 9, 9, 10, 10, 42, 42]


BAD_TYPE_IDS = [
    (-1, ValueError),
    (65536, ValueError),
    (2**31, ValueError),
    (2**32 + 1, ValueError),
    (2**70, ValueError),
    (-(2**70), ValueError),
    (1.0, TypeError),
    (float("nan"), TypeError),
    (Decimal("1.5"), TypeError),
    (Decimal(1), TypeError),
    (Fraction(3, 2), TypeError),
    ("1", TypeError),
    (None, TypeError),
    (b"\x01", TypeError),
]

BAD_PAYLOADS = [
    ("text", TypeError),
    ("", TypeError),
    (None, TypeError),
    (123, TypeError),
    ([65, 66], TypeError),
    ((65, 66), TypeError),
    (object(), TypeError),
    (memoryview(b"abcdef")[::2], ValueError),  # not contiguous
]


@pytest.mark.parametrize("type_id,exc", BAD_TYPE_IDS, ids=repr)
def test_bad_type_id_raises_and_writes_nothing(qdir: str, type_id: Any, exc: type) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"before")
        for payload in (b"ok", memoryview(b"ok")):
            with pytest.raises(exc):
                pub.append(type_id, payload)
            assert pub.next_seq == 1
        assert pub.append(1, b"after") == 1
    assert [bytes(m.payload) for m in read_all(qdir)] == [b"before", b"after"]


@pytest.mark.parametrize("payload,exc", BAD_PAYLOADS, ids=repr)
def test_bad_payload_raises_and_writes_nothing(qdir: str, payload: Any, exc: type) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.append(1, b"before")
        with pytest.raises(exc):
            pub.append(1, payload)
        assert pub.next_seq == 1
        assert pub.append(1, b"after") == 1
    assert [bytes(m.payload) for m in read_all(qdir)] == [b"before", b"after"]


def test_payload_length_comes_from_the_buffer_not_len(qdir: str) -> None:
    # a lying __len__ must not make append read past the object (in a child:
    # an out-of-bounds read could crash)
    proc = spawn_python(
        """
        import sys
        from chronicle import Queue

        class Liar(bytes):
            def __len__(self):
                return 60000

        with Queue.open_publisher(sys.argv[1], segment_size=65536) as pub:
            pub.append(1, Liar(b"abc"))
        with Queue.open_subscriber(sys.argv[1], "s") as sub:
            print(bytes(sub.next().payload).decode())
        """,
        qdir,
        stdout=subprocess.PIPE,
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.decode().strip() == "abc"


def test_missing_arguments_raise_type_error(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        with pytest.raises(TypeError):
            pub.append(1)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            pub.append(payload=b"x")  # type: ignore[call-arg]
        assert pub.next_seq == 0


def test_too_large_payload_is_a_value_error_and_writes_nothing(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        limit = pub.max_payload
        assert 0 < limit < SMALL_SEGMENT
        pub.append(1, b"before")
        for size in (limit + 1, SMALL_SEGMENT, 10 * SMALL_SEGMENT):
            with pytest.raises(MessageTooLargeError) as info:
                pub.append(1, b"z" * size)
            assert isinstance(info.value, ValueError)
            assert isinstance(info.value, ChronicleError)
            assert pub.next_seq == 1
        assert pub.append(1, b"y" * limit) == 1  # exactly the limit fits
    msgs = read_all(qdir)
    assert [len(m.payload) for m in msgs] == [6, limit]


def test_flush_and_flush_async(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        pub.flush()  # nothing appended yet
        pub.append(1, b"a")
        assert pub.flush() is None
        pub.append(1, b"b")
        assert pub.flush_async() is None
    assert len(read_all(qdir)) == 2


def test_paths_may_be_str_bytes_or_pathlike(tmp_path: Path) -> None:
    for i, path in enumerate([str(tmp_path / "s"), tmp_path / "p", os.fsencode(tmp_path / "b")]):
        with Queue.open_publisher(path, segment_size=SMALL_SEGMENT) as pub:
            pub.append(i, b"x")
            assert pub.path == os.fsdecode(path)
        with Queue.open_subscriber(path, "r") as sub:
            msg = sub.next()
            assert msg is not None and msg.type_id == i


def test_publisher_creates_missing_parent_directories(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    with Queue.open_publisher(deep, segment_size=SMALL_SEGMENT) as pub:
        pub.append(0, b"x")
    assert (deep / "queue.meta").is_file()


@pytest.mark.parametrize("path", ["", "with\0nul"])
def test_bad_path_raises_value_error(path: str) -> None:
    with pytest.raises(ValueError):
        Queue.open_publisher(path)


def test_path_that_is_a_file_raises_os_error_with_errno_and_path(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_bytes(b"not a queue")
    for path in (f, f / "below"):
        for open_it in (lambda: Queue.open_publisher(path), lambda: Queue.open_subscriber(path, "r")):
            with pytest.raises(OSError) as info:
                open_it()
            assert info.value.errno == errno.ENOTDIR
            assert info.value.filename == str(path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_parent_raises_permission_error(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir(mode=0o500)
    try:
        with pytest.raises(PermissionError) as info:
            Queue.open_publisher(parent / "q")
        assert info.value.errno == errno.EACCES and str(parent / "q") in str(info.value.filename)
    finally:
        parent.chmod(0o700)


def test_second_publisher_is_refused_with_the_holders_pid(qdir: str, children: List[subprocess.Popen]) -> None:
    holder = spawn_python(
        """
        import sys
        from chronicle import Queue
        pub = Queue.open_publisher(sys.argv[1], segment_size=65536)
        pub.append(1, b"x")
        print("open", flush=True)
        sys.stdin.readline()
        pub.close()
        """,
        qdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    children.append(holder)
    assert read_line(holder, timeout=30) == "open"
    with pytest.raises(QueueLockedError) as info:
        Queue.open_publisher(qdir)
    assert info.value.pid == holder.pid
    assert str(holder.pid) in str(info.value)
    assert isinstance(info.value, ChronicleError)
    holder.stdin.close()  # type: ignore[union-attr]
    assert holder.wait(timeout=10) == 0
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:  # released by the clean close
        assert pub.next_seq == 1


def test_second_publisher_in_the_same_process_is_refused(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        with pytest.raises(QueueLockedError) as info:
            Queue.open_publisher(qdir)
        assert info.value.pid == os.getpid()
        pub.append(0, b"still works")
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        assert pub.next_seq == 1


def test_takeover_after_kill_9(qdir: str, children: List[subprocess.Popen]) -> None:
    n = 5000
    writer = spawn_python(
        """
        import sys, time
        from chronicle import Queue
        pub = Queue.open_publisher(sys.argv[1], segment_size=65536)
        for i in range(int(sys.argv[2])):
            last = pub.append(i % 100, i.to_bytes(4, "little") * (i % 50))
        print(last, flush=True)
        time.sleep(600)
        """,
        qdir,
        str(n),
        stdout=subprocess.PIPE,
    )
    children.append(writer)
    assert read_line(writer, timeout=30) == str(n - 1)
    with pytest.raises(QueueLockedError) as info:
        Queue.open_publisher(qdir)
    assert info.value.pid == writer.pid
    os.kill(writer.pid, signal.SIGKILL)
    assert writer.wait(timeout=10) == -signal.SIGKILL
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        assert pub.next_seq == n
        assert pub.append(7, b"after") == n
        assert pub.append(7, b"after") == n + 1
    msgs = read_all(qdir)
    assert [m.seq for m in msgs] == list(range(n + 2))
    for i, m in enumerate(msgs[:n]):
        assert m.type_id == i % 100 and m.payload == i.to_bytes(4, "little") * (i % 50)


def test_timestamps_are_wall_clock_and_never_go_backwards(qdir: str) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT) as pub:
        before = time.time_ns()
        for i in range(1000):
            pub.append(0, b"t")
        after = time.time_ns()
    stamps = [m.timestamp_ns for m in read_all(qdir)]
    assert all(isinstance(t, int) for t in stamps)
    assert stamps == sorted(stamps)
    slack = 5_000_000  # 5 ms: the clock is extrapolated between anchors
    assert before - slack <= stamps[0] and stamps[-1] <= after + slack


def test_public_names() -> None:
    for name in ("Queue", "Publisher", "Subscriber", "Message", "ChronicleError", "QueueLockedError",
                 "CorruptQueueError", "MessageTooLargeError", "ClosedError"):
        assert name in chronicle.__all__ and hasattr(chronicle, name)
    for exc in (QueueLockedError, chronicle.CorruptQueueError, MessageTooLargeError, chronicle.ClosedError):
        assert issubclass(exc, ChronicleError)
    assert issubclass(MessageTooLargeError, ValueError)
    assert (Path(chronicle.__file__).parent / "py.typed").is_file()
