"""Helpers for the chronicle command's tests: running it, and writing real
queues in the states the tools must handle (healthy, corrupt, torn, with
live and dead publishers, with lagging readers)."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from chronicle import Queue
from chronicle.cli import run
from chronicle.tools import files

from conftest import SMALL_SEGMENT, child_env


@dataclass
class Result:
    code: int
    out: str
    err: str
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.out)


def cli(*args: str) -> Result:
    """Run the chronicle command in this process, capturing its output."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", write_through=True)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = run([str(a) for a in args])
        out.flush()
        err.flush()
    finally:
        sys.stdout, sys.stderr = saved
    raw = out_bytes.getvalue()
    return Result(code, raw.decode("utf-8", "replace"), err_bytes.getvalue().decode("utf-8", "replace"), raw)


def cli_process(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run `python -m chronicle args...` as a separate process."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("timeout", 60)
    return subprocess.run([sys.executable, "-m", "chronicle", *args], env=child_env(), **kwargs)


def payload(i: int) -> bytes:
    """Message i's payload: varied sizes (0..~60 bytes), text with a seq."""
    return (b"msg-%d|" % i) * (i % 7)


def type_of(i: int) -> int:
    return i % 3


def write_queue(path: str, n: int, start: int = 0, segment_size: int = SMALL_SEGMENT) -> None:
    """Append messages start..start+n-1 (payload(i), type_of(i)) and close."""
    with Queue.open_publisher(path, segment_size=segment_size) as pub:
        for i in range(start, start + n):
            pub.append(type_of(i), payload(i))


def commit_reader(path: str, name: str, count: int) -> None:
    """Reader `name` reads `count` messages and commits."""
    with Queue.open_subscriber(path, name) as sub:
        for _ in range(count):
            assert sub.next() is not None
        sub.commit()


def read_all(path: str, name: str = "check") -> List[Tuple[int, int, bytes]]:
    """(seq, type, payload) of every message, via a real subscriber."""
    out = []
    with Queue.open_subscriber(path, name) as sub:
        for m in sub:
            out.append((m.seq, m.type_id, bytes(m.payload)))
    return out


def segment_paths(path: str) -> List[str]:
    return [os.path.join(path, name) for _i, name in files.list_segment_files(path)]


def records(seg_path: str) -> List[Tuple[int, int, int]]:
    """(offset, seq, payload length) of each published record of a segment."""
    with open(seg_path, "rb") as f:
        data = f.read()
    out, pos = [], files.SEG_HDR_SIZE
    while pos + files.REC_HDR_SIZE <= len(data):
        commit, _crc, seq, _ts, _t, _r16, _r32 = files.REC_HDR.unpack_from(data, pos)
        if commit == 0 or commit == files.COMMIT_EOS:
            break
        n = commit & 0x7FFFFFFF
        out.append((pos, seq, n))
        pos += files.rec_size(n)
    return out


def end_offset(seg_path: str) -> int:
    """Offset just after the last record (where the end marker or tail is)."""
    recs = records(seg_path)
    if not recs:
        return files.SEG_HDR_SIZE
    off, _seq, n = recs[-1]
    return off + files.rec_size(n)


def flip_byte(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def write_at(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def base_seq(seg_path: str) -> Optional[int]:
    """A segment's first seq, or None while it is prepared ahead."""
    with open(seg_path, "rb") as f:
        f.seek(56)
        (base,) = struct.unpack("<Q", f.read(8))
    return None if base == files.SEQ_UNSET else base


def set_base_seq(seg_path: str, base: int) -> None:
    write_at(seg_path, 56, struct.pack("<Q", base))


def set_position(path: str, name: str, next_seq: int) -> None:
    """Give reader `name` a committed position, as a commit would."""
    pos_path = os.path.join(path, files.READERS_DIR, name + files.POS_SUFFIX)
    if not os.path.exists(pos_path):
        with Queue.open_subscriber(path, name):
            pass
    with open(pos_path, "rb") as f:
        pf = files.parse_position_file(f.read())
    gen = (pf.position.generation if pf.position else 0) + 1
    write_at(pos_path, 64 + 64 * (gen & 1), files.position_slot(gen, next_seq, 0, 0, 1))


def snapshot(path: str) -> Dict[str, bytes]:
    """Every file of the queue and its bytes."""
    out = {}
    for root, _dirs, names in os.walk(path):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, path)] = f.read()
    return out


PUBLISHER_CHILD = """
import sys
from chronicle import Queue
pub = Queue.open_publisher(sys.argv[1], segment_size=int(sys.argv[2]))
for i in range(int(sys.argv[3])):
    pub.append(1, b"live-%d" % i)
print("ready", flush=True)
sys.stdin.read()  # hold the queue until the test closes our stdin or kills us
pub.close()
"""

SUBSCRIBER_CHILD = """
import sys
from chronicle import Queue
sub = Queue.open_subscriber(sys.argv[1], sys.argv[2])
print("ready", flush=True)
sys.stdin.read()
sub.close()
"""


def error_line(r: Result) -> str:
    """The single error line a failing command printed (asserts it is one)."""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err
    return lines[0]
