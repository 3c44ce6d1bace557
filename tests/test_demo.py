"""End to end: the demo processes (examples/feed.py, strategy.py, router.py
and run_demo.py) as real processes, checked line by line against SPEC §5."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, Pattern

import pytest

from chronicle.bus import Bus

from conftest import ROOT, child_env

EXAMPLES = ROOT / "examples"
TIMEOUT = 30.0  # per expected line: generous, for a loaded 2-core machine

# every line each process may print, exactly (SPEC §5)
FEED = re.compile(r"feed: published symbol=(?P<symbol>[A-Z]+) price=\d+\.\d\d")
ORDER = re.compile(r"strategy (?P<name>\w+): order order_id=(?P<id>\d+) symbol=(?P<symbol>[A-Z]+) qty=1 side=(?P<side>BUY|SELL)")
ACK = re.compile(r"strategy (?P<name>\w+): ack order_id=(?P<id>\d+) status=ACK")
DISCOVERED = re.compile(r"router: discovered (?P<name>\w+) \(orders_out=(?P<out>\S+), orders_in=(?P<in>\S+)\)")
ROUTED = re.compile(
    r"router: order from (?P<name>\w+) \(order_id=(?P<id>\d+) symbol=(?P<symbol>[A-Z]+) qty=1 side=(?P<side>BUY|SELL)\)"
)
LOST = re.compile(r"router: lost (?P<name>\w+)")
GRAMMAR = {"feed": [FEED], "strategy": [ORDER, ACK], "router": [DISCOVERED, ROUTED, LOST]}


class Proc:
    """A demo process whose stdout lines are collected by a thread."""

    def __init__(self, kind: str, script: str, args: List[str]) -> None:
        self.kind = kind
        self.p = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            cwd=ROOT,
            text=True,
        )
        self.lines: List[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def expect(self, pattern: Pattern[str], after: int = 0, timeout: float = TIMEOUT, **groups: str) -> "Match":
        """Wait for a line from index ``after`` on that fullmatches ``pattern``
        with the given named groups; return it with its index."""

        def find() -> Optional[Match]:
            for i in range(after, len(self.lines)):
                m = pattern.fullmatch(self.lines[i])
                if m and all(m.group(k) == v for k, v in groups.items()):
                    return Match(i, m)
            return None

        with self._cond:
            found = self._cond.wait_for(lambda: find() is not None or self._eof, timeout)
            hit = find()
        if hit is None:
            err = self.p.stderr.read() if self._eof and self.p.stderr else ""
            raise AssertionError(
                f"{self.kind}: no line matching {pattern.pattern} {groups} (eof={self._eof}, found={found})\n"
                + "\n".join(self.lines[-30:]) + "\n" + err
            )
        return hit

    def stop(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        self.p.send_signal(sig)
        rc = self.p.wait(timeout)
        self._thread.join(timeout)
        return rc

    def check_grammar(self) -> None:
        for line in self.lines:
            assert any(p.fullmatch(line) for p in GRAMMAR[self.kind]), f"{self.kind} printed {line!r}"


class Match:
    def __init__(self, index: int, m: "re.Match[str]") -> None:
        self.index = index
        self.m = m

    def __getitem__(self, key: str) -> str:
        return self.m.group(key)


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Starts demo processes on a fresh bus; kills leftovers at teardown."""
    procs: List[Proc] = []
    root = str(tmp_path / "demo_bus")

    def start(kind: str, *extra: str) -> Proc:
        script = {"feed": "feed.py", "strategy": "strategy.py", "router": "router.py"}[kind]
        args = ["--bus-root", root, "--segment-size", "65536", *extra]
        if kind == "feed":
            args += ["--rate", "100", "--log-every", "50"]
        if kind == "strategy":
            args += ["--every", "5"]
        p = Proc(kind, script, args)
        procs.append(p)
        return p

    start.root = root  # type: ignore[attr-defined]
    yield start
    for p in procs:
        if p.p.poll() is None:
            p.p.kill()
        p.p.wait()
        for f in (p.p.stdout, p.p.stderr):
            if f:
                f.close()


@pytest.mark.parametrize("order", [("feed", "strategy", "router"), ("router", "strategy", "feed"), ("strategy", "router", "feed")])
def test_trio_in_any_start_order(demo, order) -> None:  # type: ignore[no-untyped-def]
    procs: Dict[str, Proc] = {}
    for kind in order:
        extra = ["--strategy", "strategy_a", "--symbol", "BTC"] if kind == "strategy" else []
        procs[kind] = demo(kind, *extra)
    feed, strategy, router = procs["feed"], procs["strategy"], procs["router"]
    bus = Bus(demo.root)

    feed.expect(FEED, symbol="BTC")
    feed.expect(FEED, symbol="ETH")
    # the very lines of SPEC §5, for the first order of a fresh bus
    strategy.expect(re.compile(r"strategy strategy_a: order order_id=0 symbol=BTC qty=1 side=BUY"))
    d = router.expect(DISCOVERED, name="strategy_a")
    assert d["out"] == str(bus.orders_out_path("strategy_a"))
    assert d["in"] == str(bus.orders_in_path("strategy_a"))
    router.expect(re.compile(r"router: order from strategy_a \(order_id=0 symbol=BTC qty=1 side=BUY\)"))
    strategy.expect(re.compile(r"strategy strategy_a: ack order_id=0 status=ACK"))
    # orders keep flowing: the next one alternates side and is acked too
    strategy.expect(ORDER, id="1", side="SELL")
    router.expect(ROUTED, name="strategy_a", id="1", side="SELL")
    strategy.expect(ACK, id="1")

    # a strategy that exits is reported lost; every process exits cleanly
    assert strategy.stop(signal.SIGTERM) == 0
    router.expect(LOST, name="strategy_a")
    assert router.stop(signal.SIGINT) == 0
    assert feed.stop(signal.SIGTERM) == 0
    assert os.listdir(bus.registry_dir) == []
    for p in (feed, strategy, router):
        p.check_grammar()
        assert p.p.stderr is not None and p.p.stderr.read() == ""
    # each order was routed exactly once, in order
    routed = [int(ROUTED.fullmatch(l).group("id")) for l in router.lines if ROUTED.fullmatch(l)]  # type: ignore[union-attr]
    sent = [int(ORDER.fullmatch(l).group("id")) for l in strategy.lines if ORDER.fullmatch(l)]  # type: ignore[union-attr]
    assert routed == sent == list(range(len(sent)))


def test_kill_9_of_a_strategy(demo) -> None:  # type: ignore[no-untyped-def]
    router = demo("router")
    a = demo("strategy", "--strategy", "strategy_a", "--symbol", "BTC")
    b = demo("strategy", "--strategy", "strategy_b", "--symbol", "ETH")
    feed = demo("feed")
    for s in (a, b):
        s.expect(ACK, id="1")
    a.p.kill()
    a.p.wait()
    lost = router.expect(LOST, name="strategy_a")
    # everything strategy_a appended before it died was routed before 'lost'
    before = [ROUTED.fullmatch(l) for l in router.lines[: lost.index]]
    routed_a = [int(m.group("id")) for m in before if m and m.group("name") == "strategy_a"]
    assert routed_a == list(range(len(routed_a)))

    # strategy_b keeps trading: an order routed and acked after the loss
    after_b = len(b.lines)
    o = b.expect(ORDER, after=after_b)
    router.expect(ROUTED, after=lost.index, name="strategy_b", id=o["id"])
    b.expect(ACK, after=after_b, id=o["id"])

    # strategy_a comes back under the same name: discovered and acked again,
    # its order ids continuing where the dead run stopped
    a2 = demo("strategy", "--strategy", "strategy_a", "--symbol", "BTC")
    router.expect(DISCOVERED, after=lost.index, name="strategy_a")
    first = a2.expect(ORDER)
    assert int(first["id"]) == len(routed_a)
    router.expect(ROUTED, after=lost.index, name="strategy_a", id=first["id"])
    a2.expect(ACK, id=first["id"])

    for p in (a2, b, router, feed):
        assert p.stop() == 0
        p.check_grammar()
    routed = [(m.group("name"), m.group("id")) for m in map(ROUTED.fullmatch, router.lines) if m]
    assert len(routed) == len(set(routed)), "an order was routed twice"


def test_a_stalled_strategy_blocks_nobody(demo) -> None:  # type: ignore[no-untyped-def]
    router = demo("router")
    feed = demo("feed")
    a = demo("strategy", "--strategy", "strategy_a", "--symbol", "BTC")
    b = demo("strategy", "--strategy", "strategy_b", "--symbol", "ETH")
    a.expect(ACK, id="0")
    b.expect(ACK, id="0")
    a.p.send_signal(signal.SIGSTOP)  # alive but reading nothing
    try:
        mark_feed, mark_b = len(feed.lines), len(b.lines)
        # the feed keeps publishing and strategy_b keeps trading meanwhile
        feed.expect(FEED, after=mark_feed + 3)
        o = b.expect(ORDER, after=mark_b)
        b.expect(ACK, after=mark_b, id=o["id"])
        o = b.expect(ORDER, after=b.expect(ACK, after=mark_b, id=o["id"]).index)
        b.expect(ACK, after=mark_b, id=o["id"])
        assert not any(LOST.fullmatch(line) for line in router.lines), "a stopped process is still alive"
    finally:
        a.p.send_signal(signal.SIGCONT)
    mark_a = len(a.lines)
    o = a.expect(ORDER, after=mark_a)
    a.expect(ACK, after=mark_a, id=o["id"])
    for p in (a, b, router, feed):
        assert p.stop() == 0


def test_duplicate_strategy_name_is_refused(demo) -> None:  # type: ignore[no-untyped-def]
    a = demo("strategy", "--strategy", "strategy_a", "--symbol", "BTC")
    router = demo("router")
    router.expect(DISCOVERED, name="strategy_a")
    dup = demo("strategy", "--strategy", "strategy_a", "--symbol", "ETH")
    assert dup.p.wait(TIMEOUT) == 1
    assert dup.p.stderr is not None
    assert re.search(r"strategy 'strategy_a' is already running \(pid \d+\)", dup.p.stderr.read())
    assert a.p.poll() is None
    assert a.stop() == 0 and router.stop() == 0


def test_make_demo_script(tmp_path: Path) -> None:
    root = tmp_path / "bus"
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_demo.py"), "--duration", "8", "--bus-root", str(root), "--rate", "50"],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    by_label: Dict[str, List[str]] = {}
    for line in lines:
        label, sep, text = line.partition(" | ")
        assert sep, f"unprefixed line {line!r}"
        by_label.setdefault(label.strip(), []).append(text)
    assert set(by_label) == {"demo", "feed", "router", "strategy_a", "strategy_b"}
    for label, kind in (("feed", "feed"), ("router", "router"), ("strategy_a", "strategy"), ("strategy_b", "strategy")):
        for text in by_label[label]:
            assert any(p.fullmatch(text) for p in GRAMMAR[kind]), f"{label} printed {text!r}"
    router_lines = by_label["router"]
    for name, symbol in (("strategy_a", "BTC"), ("strategy_b", "ETH")):
        assert f"strategy {name}: order order_id=0 symbol={symbol} qty=1 side=BUY" in by_label[name]
        assert f"strategy {name}: ack order_id=0 status=ACK" in by_label[name]
        assert any(DISCOVERED.fullmatch(t) and name in t for t in router_lines)
        assert f"router: order from {name} (order_id=0 symbol={symbol} qty=1 side=BUY)" in router_lines
        assert f"router: lost {name}" in router_lines
    # strategy_b was killed and restarted halfway: lost, then discovered again
    lost_b = router_lines.index("router: lost strategy_b")
    assert any(DISCOVERED.fullmatch(t) and "strategy_b" in t for t in router_lines[lost_b:])
    assert any(t.startswith("kill -9 strategy_b") for t in by_label["demo"])
    assert not root.exists(), "the demo left its bus directory behind"
