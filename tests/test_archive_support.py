"""Helpers for the archive tests: a realistic tick feed, reading a queue or
an archive back as plain tuples, child processes whose output lines are
awaited, a moto S3 server over real HTTP, and a TCP relay in front of it
that can be taken down and brought back (an S3 outage, as the archiver sees
it: connections refused, open ones cut).

The tests at the bottom check the helpers themselves.
"""
from __future__ import annotations

import io
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import redirect_stderr, redirect_stdout
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from chronicle import Queue
from chronicle.cli import run

from conftest import SMALL_SEGMENT, child_env

Msg = Tuple[int, int, int, bytes]  # seq, type_id, timestamp_ns, payload

TICK = struct.Struct("<IdqIB")  # symbol id, price, exchange time, quantity, side
SYMBOLS = 8


def ticks(n: int, seed: int = 7) -> Iterator[Tuple[int, bytes]]:
    """(type id, payload) of n market ticks: prices walk randomly per symbol."""
    rng = random.Random(seed)
    prices = [100.0 + 10 * s for s in range(SYMBOLS)]
    t = 1_700_000_000_000_000_000
    for _ in range(n):
        s = rng.randrange(SYMBOLS)
        prices[s] = max(0.01, prices[s] + rng.gauss(0.0, 0.05))
        t += rng.randrange(1_000, 200_000)
        yield 1 + (s % 3), TICK.pack(s, round(prices[s], 2), t, rng.randrange(1, 500), rng.randrange(2))


def publish_ticks(path: str, n: int, seed: int = 7, segment_size: int = SMALL_SEGMENT) -> List[Tuple[int, int, bytes]]:
    """Append n ticks; returns (seq, type id, payload) of each, as appended."""
    out = []
    with Queue.open_publisher(path, segment_size=segment_size) as pub:
        for type_id, payload in ticks(n, seed):
            out.append((pub.append(type_id, payload), type_id, payload))
    return out


def read_queue(path: str, name: str = "archive-check") -> List[Msg]:
    """Every message of the queue, through a normal subscriber."""
    with Queue.open_subscriber(path, name) as sub:
        return [(m.seq, m.type_id, m.timestamp_ns, bytes(m.payload)) for m in sub]


def read_archive(url: str) -> List[Msg]:
    from chronicle.archive import open_archive

    with open_archive(url) as reader:
        return [(m.seq, m.type_id, m.timestamp_ns, bytes(m.payload)) for m in reader]


def sealed_segments(path: str) -> List[int]:
    """Numbers of the queue's segments in use before the active one."""
    from chronicle.tools.view import QueueView

    return [s.index for s in QueueView(path).activated()[:-1]]


def cli(*args: str) -> Tuple[int, str, str]:
    """Run the chronicle command in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run(list(args))
    return code, out.getvalue(), err.getvalue()


def spawn_cli(*args: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """`python -m chronicle args...` as a child with piped stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "chronicle", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env or child_env(),
    )


class Lines:
    """Lines a child writes to one of its pipes, awaited with a timeout."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        self.buf = b""
        self.seen: List[str] = []
        self.eof = False

    def _fill(self, timeout: float) -> None:
        if self.eof or not select.select([self.fd], [], [], max(timeout, 0))[0]:
            return
        data = os.read(self.fd, 65536)
        if not data:
            self.eof = True
        self.buf += data

    def next(self, timeout: float = 15.0) -> Optional[str]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return None
            self._fill(left)
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode()
        self.seen.append(text)
        return text

    def wait_for(self, needle: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"no line with {needle!r} within {timeout} s; saw {self.seen[-10:]}")
            if needle in line:
                return line

    def rest(self, timeout: float = 15.0) -> List[str]:
        out = []
        while True:
            line = self.next(timeout)
            if line is None:
                return out
            out.append(line)


def stop_child(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"child {proc.pid} did not exit within {timeout} s of signal {sig}")


def wait_until(cond: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- kill -9 of the archiver while a publisher runs -----------------------

PACED_PUBLISHER = """
import sys, time
from chronicle import Queue
path, n = sys.argv[1], int(sys.argv[2])
with Queue.open_publisher(path, segment_size=65536) as pub:
    for i in range(n):
        pub.append(i % 5, (i * 2654435761 % 2**32).to_bytes(4, "little") * 8)
        if i % 100 == 99:
            time.sleep(0.01)  # about 10 segments a second
"""


def kill_archiver_repeatedly(
    queue: str, target: str, kills: int, seed: int, interrupted: Optional[Callable[[], bool]] = None,
    messages: int = 60_000, level: int = 19,
) -> Tuple[subprocess.Popen, int]:
    """Run `chronicle archive --follow` beside a paced publisher and kill -9
    it at random moments after it started working (a slow compression level
    keeps it busy most of the time): `kills` times, and more (up to three
    times as many) until at least two kills cut an archiving short, as
    `interrupted()` tells (default: a directory archive holds an object its
    manifest does not name, or a temporary file). Returns the publisher
    (still running or done) and how many kills cut an archiving short."""
    probe = interrupted or (lambda: _dir_interrupted(target))
    rng = random.Random(seed)
    cut_short = 0
    publisher = subprocess.Popen(
        [sys.executable, "-c", PACED_PUBLISHER, queue, str(messages)], env=child_env(),
    )
    try:
        wait_until(lambda: len(sealed_segments_quiet(queue)) >= 2, what="the first sealed segments")
        done = 0
        while done < kills or (cut_short < 2 and done < 3 * kills):
            child = spawn_cli("archive", queue, "--to", target, "--follow", "--level", str(level))
            try:
                Lines(child.stderr).wait_for("as segments seal", timeout=30)
                if rng.random() < 0.5:  # somewhere in its life
                    time.sleep(rng.uniform(0.0, 0.3))
                else:  # in the middle of archiving the backlog its start found
                    Lines(child.stdout).wait_for("archived segment", timeout=30)
                    time.sleep(rng.uniform(0.0, 0.02))
            finally:
                child.kill()
                child.wait()
                child.stdout.close()  # type: ignore[union-attr]
                child.stderr.close()  # type: ignore[union-attr]
            done += 1
            cut_short += probe()
    except BaseException:
        publisher.kill()
        publisher.wait()
        raise
    return publisher, cut_short


def _dir_interrupted(target: str) -> bool:
    try:
        objects = os.listdir(os.path.join(target, "segments"))
        named = {n.split(".")[0] for n in os.listdir(os.path.join(target, "manifest"))}
    except FileNotFoundError:
        return False
    return any(n.startswith(".") or n.split(".")[0] not in named for n in objects)


def sealed_segments_quiet(path: str) -> List[int]:
    """sealed_segments, or [] while the queue is not there yet."""
    from chronicle.tools.errors import NotAQueueError

    try:
        return sealed_segments(path)
    except (NotAQueueError, FileNotFoundError):
        return []


# ---- S3 ------------------------------------------------------------------


class MotoServer:
    """moto's standalone S3 server on 127.0.0.1, spoken to over HTTP."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env(),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto server did not start")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def aws_env(endpoint: str, tmp: str) -> Dict[str, str]:
    """Standard AWS settings pointing at `endpoint`, isolated from the
    machine's own AWS configuration."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.path.join(tmp, "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "aws-credentials"),
    }


def new_bucket(client: Any) -> str:
    name = f"chronicle-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


class Relay:
    """A TCP relay from a local port to `target_port`; stop() refuses new
    connections and cuts the open ones, start() serves again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._socks: List[socket.socket] = []
        self._listener: Optional[socket.socket] = None
        self.start()

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return  # closed by stop()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(), which close() alone would not
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# ---- the helpers' own tests ---------------------------------------------------


def test_ticks_are_a_random_walk_not_zeros() -> None:
    prices = [TICK.unpack(p)[1] for _t, p in ticks(2000)]
    assert len(set(prices)) > 500
    assert all(p > 0 for p in prices)
    assert ticks(5, 1).__next__() == ticks(5, 1).__next__()


def test_relay_refuses_while_stopped_and_serves_again() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        relay = Relay(server.getsockname()[1])
        try:
            c = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
            s, _ = server.accept()
            c.sendall(b"ping")
            assert s.recv(4) == b"ping"
            relay.stop()
            assert c.recv(4) == b""  # the open connection is cut
            c.close()
            s.close()
            try:
                socket.create_connection(("127.0.0.1", relay.port), timeout=5).close()
                refused = False
            except ConnectionRefusedError:
                refused = True
            assert refused
            relay.start()
            c = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
            s, _ = server.accept()
            c.sendall(b"pong")
            assert s.recv(4) == b"pong"
            c.close()
            s.close()
        finally:
            relay.stop()
