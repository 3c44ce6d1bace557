"""The whole demo in one terminal: a feed, a router and two strategies on
different symbols, their output interleaved and prefixed by process.

    python examples/run_demo.py [--duration 10] [--bus-root DIR]

Starts the processes in a mixed order (a strategy before the router and the
feed, to show that order does not matter), kills one strategy with SIGKILL
halfway and restarts it (the router reports it lost, then discovers it
again), and after --duration seconds (or on Ctrl-C) stops everything with
SIGTERM, waits for each process and deletes the bus directory it created.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
LABEL_WIDTH = 10


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds to run (default: 10)")
    p.add_argument("--bus-root", default=None, help="bus directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the bus directory afterwards")
    p.add_argument("--no-crash", action="store_true", help="do not kill and restart a strategy halfway")
    p.add_argument("--rate", type=float, default=20.0, help="feed ticks per second per symbol (default: 20)")
    return p.parse_args(argv)


def _die_with_parent() -> None:
    """Runs in each child before exec: on Linux, ask for SIGTERM when the demo
    dies, so no process outlives it even if it is killed with SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class Child:
    """One demo process (started again by ``start`` after it died)."""

    def __init__(self, label: str, script: str, args: List[str]) -> None:
        self.label = label
        self.argv = [sys.executable, str(HERE / script), *args]
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def started(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None, f"{self.label} was never started"
        return self.proc


class Pipe:
    """The output pipe of one run of a child, and its unfinished line."""

    def __init__(self, child: Child, file: IO[bytes]) -> None:
        self.child = child
        self.file = file
        self.buf = b""


class Demo:
    """Multiplexes the children's output onto our stdout, one line at a time."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.children: Dict[str, Child] = {}
        self.seen: List[str] = []  # every line printed, without its prefix

    def say(self, label: str, line: str) -> None:
        print(f"{label:<{LABEL_WIDTH}} | {line}", flush=True)

    def start(self, child: Child) -> None:
        child.start()
        out = child.started.stdout
        assert out is not None
        os.set_blocking(out.fileno(), False)
        self.sel.register(out, selectors.EVENT_READ, Pipe(child, out))
        self.children[child.label] = child

    def pump(self, seconds: float, until: Optional[Callable[[], bool]] = None) -> None:
        """Relay output for ``seconds``, or until ``until()`` holds."""
        deadline = time.monotonic() + seconds
        while True:
            if until is not None and until():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not self.sel.get_map():
                time.sleep(min(left, 0.05))
                continue
            for key, _ in self.sel.select(timeout=min(left, 0.1)):
                self._read(key.data)

    def _read(self, pipe: Pipe) -> None:
        try:
            data = os.read(pipe.file.fileno(), 65536)
        except BlockingIOError:
            return
        if not data:  # the process exited
            self.sel.unregister(pipe.file)
            pipe.file.close()
            if pipe.buf:
                self._emit(pipe.child, pipe.buf)
            return
        pipe.buf += data
        *lines, pipe.buf = pipe.buf.split(b"\n")
        for raw in lines:
            self._emit(pipe.child, raw)

    def _emit(self, child: Child, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self.seen.append(line)
        self.say(child.label, line)

    def _open_pipes(self) -> List[IO[bytes]]:
        return [k.data.file for k in self.sel.get_map().values()]

    def stop(self, labels: Sequence[str], timeout: float = 5.0) -> None:
        """SIGTERM the named children and wait for them (SIGKILL after
        timeout), relaying their last lines."""
        procs = [self.children[n].started for n in labels if self.children[n].running]
        for p in procs:
            p.send_signal(signal.SIGTERM)
        self.pump(timeout, until=lambda: all(p.poll() is not None for p in procs))
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        outs = [p.stdout for p in procs]
        self.pump(1.0, until=lambda: not any(f in outs for f in self._open_pipes()))


def run(args: argparse.Namespace, root: str, demo: Demo) -> None:
    common = ["--bus-root", root]
    strategy_a = Child("strategy_a", "strategy.py", [*common, "--strategy", "strategy_a", "--symbol", "BTC"])
    strategy_b = Child("strategy_b", "strategy.py", [*common, "--strategy", "strategy_b", "--symbol", "ETH"])
    router = Child("router", "router.py", common)
    feed = Child("feed", "feed.py", [*common, "--rate", str(args.rate), "--log-every", str(max(1, int(args.rate)))])
    began = time.monotonic()

    def at(t: float) -> None:
        demo.pump(began + t - time.monotonic())

    # a mixed start order: nothing depends on which process comes first
    for i, child in enumerate((strategy_a, router, feed, strategy_b)):
        at(0.3 * i)
        demo.start(child)
    if not args.no_crash and args.duration >= 4:
        at(args.duration * 0.5)
        if strategy_b.running:
            demo.say("demo", f"kill -9 strategy_b (pid {strategy_b.started.pid})")
            strategy_b.started.kill()
            strategy_b.started.wait()
        at(args.duration * 0.5 + 1.0)
        demo.say("demo", "restart strategy_b")
        demo.start(strategy_b)
    at(args.duration)


def shutdown(demo: Demo) -> None:
    """Strategies first, so the router reports them lost; then the rest."""
    strategies = [n for n in ("strategy_a", "strategy_b") if n in demo.children]
    live = [n for n in strategies if demo.children[n].running]
    mark = len(demo.seen)
    demo.stop(strategies)
    if "router" in demo.children and demo.children["router"].running:
        demo.pump(2.0, until=lambda: all(f"router: lost {n}" in demo.seen[mark:] for n in live))
    demo.stop([n for n in ("router", "feed") if n in demo.children])


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    created = args.bus_root is None or not os.path.exists(args.bus_root)
    root = args.bus_root or tempfile.mkdtemp(prefix="chronicle-demo-")
    demo = Demo()
    # Ctrl-C and SIGTERM stop the demo early (even if started with SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    demo.say("demo", f"bus root {root}; running for {args.duration:g} s (Ctrl-C stops)")
    try:
        try:
            run(args, root, demo)
        except KeyboardInterrupt:
            demo.say("demo", "interrupted")
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        shutdown(demo)
    finally:
        for child in demo.children.values():
            if child.running:
                child.started.kill()
                child.started.wait()
        if created and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            demo.say("demo", f"removed {root}")
    codes = {c.label: c.proc.returncode for c in demo.children.values() if c.proc is not None}
    failed = {k: v for k, v in codes.items() if v not in (0, -signal.SIGKILL)}
    if failed:
        demo.say("demo", f"processes failed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
