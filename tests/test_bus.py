"""The bus: directory convention, name validation, endpoints and the
announcement lifecycle (in this process and in killed children)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import List

import pytest

from chronicle import Publisher, Queue, QueueLockedError, Subscriber
from chronicle.bus import Bus, StrategyEndpoint, _Claim, check_name, wait_any
from chronicle.messages import Ack, Order, Side, Status, Tick

from conftest import SMALL_SEGMENT, spawn_python

# a child that announces a strategy, says so, then blocks until killed or
# until its stdin closes
ANNOUNCE = """
import sys
from chronicle.bus import Bus
bus = Bus(sys.argv[1], segment_size=65536)
with bus.strategy(sys.argv[2]) as ep:
    print("ready", ep.token, flush=True)
    sys.stdin.read()
print("closed", flush=True)
"""


@pytest.fixture
def bus(tmp_path: Path) -> Bus:
    return Bus(tmp_path / "bus", segment_size=SMALL_SEGMENT)


def announce_in_child(bus: Bus, name: str, children: List[subprocess.Popen]) -> subprocess.Popen:
    p = spawn_python(ANNOUNCE, str(bus.root), name, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children.append(p)
    line = p.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("ready"), line
    p.token = line.split()[1]  # type: ignore[attr-defined]
    return p


# ---- layout -----------------------------------------------------------------


def test_bus_creates_the_directory_convention(tmp_path: Path) -> None:
    bus = Bus(tmp_path / "a" / "bus")
    for sub in ("market_data/queue", "orders/queue", "orders/registry"):
        d = tmp_path / "a" / "bus" / sub
        assert d.is_dir()
        assert stat.S_IMODE(d.stat().st_mode) == 0o700  # owner-only by default
    assert stat.S_IMODE((tmp_path / "a" / "bus").stat().st_mode) == 0o700
    root = tmp_path / "a" / "bus"
    assert bus.root == root
    assert bus.feed_path("binance") == root / "market_data" / "queue" / "binance"
    assert bus.strategy_path("strategy_a") == root / "orders" / "queue" / "strategy_a"
    assert bus.orders_out_path("strategy_a") == root / "orders" / "queue" / "strategy_a" / "orders_out"
    assert bus.orders_in_path("strategy_a") == root / "orders" / "queue" / "strategy_a" / "orders_in"
    assert bus.registry_dir == root / "orders" / "registry"
    Bus(root)  # opening an existing bus is fine


def test_bus_root_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(OSError):
        Bus(tmp_path / "f")


def test_handles_create_queues_in_place_and_are_listed(bus: Bus) -> None:
    assert bus.feeds() == [] and bus.strategies() == []
    with bus.feed_publisher("binance") as pub:
        assert isinstance(pub, Publisher)
        assert (bus.feed_path("binance") / "queue.meta").is_file()
    with bus.strategy("strategy_a") as ep:
        assert isinstance(ep.orders_out, Publisher) and isinstance(ep.orders_in, Subscriber)
        assert ep.orders_out.path == str(bus.orders_out_path("strategy_a"))
        assert ep.orders_in.path == str(bus.orders_in_path("strategy_a"))
        assert ep.orders_in.name == "strategy_a"
    assert bus.feeds() == ["binance"]
    assert bus.strategies() == ["strategy_a"]


def test_file_mode_applies_to_queues_and_registry(tmp_path: Path) -> None:
    bus = Bus(tmp_path / "bus", segment_size=SMALL_SEGMENT, file_mode=0o640)
    assert stat.S_IMODE(bus.registry_dir.stat().st_mode) == 0o750
    with bus.strategy("s") as _:
        assert stat.S_IMODE((bus.registry_dir / "s.lock").stat().st_mode) == 0o640
        assert stat.S_IMODE((bus.orders_out_path("s") / "queue.meta").stat().st_mode) == 0o640
    with pytest.raises(ValueError):
        Bus(tmp_path / "x", file_mode=0o1777)


# ---- names ------------------------------------------------------------------

BAD_NAMES = ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "a\0b", "x" * 65, "é", "a b", "a\\b", "..\\.."]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_everywhere(bus: Bus, tmp_path: Path, name: str) -> None:
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for call in (
        lambda: bus.feed_path(name),
        lambda: bus.strategy_path(name),
        lambda: bus.orders_out_path(name),
        lambda: bus.orders_in_path(name),
        lambda: bus.feed_publisher(name),
        lambda: bus.feed_subscriber("feed", name),
        lambda: bus.feed_subscriber(name, "reader"),
        lambda: bus.strategy(name),
        lambda: bus.strategy("ok", acks_reader=name),
        lambda: bus.router_endpoint(name),
        lambda: bus.router_endpoint("ok", reader=name),
    ):
        with pytest.raises(ValueError, match="invalid"):
            call()
    after = sorted(str(p) for p in tmp_path.rglob("*"))
    # nothing was created for the bad name, inside the root or outside it
    assert [p for p in after if p not in before and name and name in p] == []
    assert not (tmp_path / "x").exists() and not Path("/abs").exists()


@pytest.mark.parametrize("name", [None, 5, b"abc", Path("a")])
def test_non_str_names_are_type_errors(bus: Bus, name: object) -> None:
    with pytest.raises(TypeError):
        bus.feed_path(name)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.strategy(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a", "x" * 64, "strategy_A.v2-beta", "0"])
def test_good_names(bus: Bus, name: str) -> None:
    assert check_name(name) == name
    assert bus.feed_path(name).parent == bus.root / "market_data" / "queue"


# ---- data flow -------------------------------------------------------------


def test_feed_fans_out_to_every_subscriber(bus: Bus) -> None:
    with bus.feed_subscriber("demo", "s1") as s1, bus.feed_subscriber("demo", "s2") as s2:
        with bus.feed_publisher("demo") as pub:
            for i in range(10):
                pub.append(Tick.type_id, Tick.encode(i, "BTC", 100.0 + i, 1.0))
        for sub in (s1, s2):
            assert [Tick.decode(m.payload).ts_ns for m in sub] == list(range(10))


def test_feed_subscriber_starts_at_latest_by_default(bus: Bus) -> None:
    with bus.feed_publisher("demo") as pub:
        pub.append(Tick.type_id, Tick.encode(0, "BTC", 1.0, 1.0))
        with bus.feed_subscriber("demo", "late") as late, bus.feed_subscriber("demo", "replay", start="earliest") as replay:
            pub.append(Tick.type_id, Tick.encode(1, "BTC", 1.0, 1.0))
            assert [Tick.decode(m.payload).ts_ns for m in late] == [1]
            assert [Tick.decode(m.payload).ts_ns for m in replay] == [0, 1]


def test_orders_and_acks_flow_between_endpoints(bus: Bus) -> None:
    with bus.strategy("strategy_a") as ep, bus.router_endpoint("strategy_a") as router:
        seq = ep.orders_out.append(Order.type_id, Order.encode(0, "BTC", 1.0, 1, Side.BUY))
        assert seq == 0
        msg = router.orders_out.next()
        assert msg is not None and Order.decode(msg.payload).order_id == 0
        router.orders_in.append(Ack.type_id, Ack.encode(0, Status.ACK))
        router.orders_out.commit()
        ack = ep.orders_in.next()
        assert ack is not None and Ack.decode(ack.payload) == (0, Status.ACK)
    # the router's reader resumes after its commit; no order is seen twice
    with bus.strategy("strategy_a") as ep, bus.router_endpoint("strategy_a") as router:
        assert ep.orders_out.next_seq == 1
        ep.orders_out.append(Order.type_id, Order.encode(1, "BTC", 1.0, 1, Side.SELL))
        msg = router.orders_out.next()
        assert msg is not None and msg.seq == 1
        # the acks reader had not committed: the ack is delivered again
        ack = ep.orders_in.next()
        assert ack is not None and ack.seq == 0


def test_a_second_router_is_refused(bus: Bus) -> None:
    with bus.router_endpoint("s"):
        with pytest.raises(QueueLockedError):
            bus.router_endpoint("s")


def test_wait_any(bus: Bus) -> None:
    assert wait_any([], timeout=0) is False
    with pytest.raises(ValueError):
        wait_any([], timeout=None)
    with bus.feed_publisher("f1") as p1, bus.feed_publisher("f2") as p2, \
            bus.feed_subscriber("f1", "r") as s1, bus.feed_subscriber("f2", "r") as s2:
        assert wait_any([s1, s2], timeout=0) is False
        assert wait_any([s1, s2], timeout=0.01) is False
        assert wait_any([s1], timeout=0.01) is False
        p2.append(1, b"x")
        assert wait_any([s1, s2], timeout=0) is True
        assert s1.next() is None and s2.next() is not None  # nothing was consumed by waiting
        # a message published while we wait wakes us
        t = threading.Thread(target=p1.append, args=(1, b"y"))
        t.start()
        try:
            assert wait_any([s2, s1], timeout=10.0) is True
        finally:
            t.join()
        assert s1.next() is not None


# ---- announcements ------------------------------------------------------------


def test_announcement_lifecycle_in_process(bus: Bus) -> None:
    assert bus.live_strategies() == {}
    ep = bus.strategy("strategy_a")
    live = bus.live_strategies()
    assert list(live) == ["strategy_a"]
    info = live["strategy_a"]
    assert info.pid == os.getpid() and info.token == ep.token
    assert info.orders_out == str(bus.orders_out_path("strategy_a").absolute())
    assert info.orders_in == str(bus.orders_in_path("strategy_a").absolute())
    record = json.loads((bus.registry_dir / "strategy_a.json").read_text())
    assert record["pid"] == os.getpid() and record["kind"] == "strategy"
    assert (bus.registry_dir / "strategy_a.lock").read_text().strip() == str(os.getpid())
    ep.close()
    assert ep.closed and ep.orders_out.closed and ep.orders_in.closed
    ep.close()  # idempotent
    assert bus.live_strategies() == {}
    assert os.listdir(bus.registry_dir) == []


def test_announcement_is_withdrawn_on_exception(bus: Bus) -> None:
    with pytest.raises(RuntimeError):
        with bus.strategy("strategy_a"):
            assert "strategy_a" in bus.live_strategies()
            raise RuntimeError("boom")
    assert bus.live_strategies() == {}
    assert os.listdir(bus.registry_dir) == []


def test_same_name_twice_is_refused_then_free_again(bus: Bus) -> None:
    with bus.strategy("strategy_a"):
        with pytest.raises(QueueLockedError) as e:
            bus.strategy("strategy_a")
        assert e.value.pid == os.getpid()
        assert "already running" in str(e.value)
        with bus.strategy("strategy_b"):
            assert sorted(bus.live_strategies()) == ["strategy_a", "strategy_b"]
        # the failed attempt did not disturb the live announcement
        assert list(bus.live_strategies()) == ["strategy_a"]
    with bus.strategy("strategy_a"):
        assert list(bus.live_strategies()) == ["strategy_a"]


def test_failed_open_leaves_no_announcement(bus: Bus) -> None:
    # another process-level holder of the strategy's acks reader name makes
    # the endpoint fail after it claimed the name
    with Queue.open_subscriber(bus.orders_in_path("strategy_a"), "strategy_a"):
        with pytest.raises(QueueLockedError):
            bus.strategy("strategy_a")
    assert bus.live_strategies() == {}
    assert os.listdir(bus.registry_dir) == []
    with bus.strategy("strategy_a"):
        assert list(bus.live_strategies()) == ["strategy_a"]


def test_killed_child_is_detected_and_the_name_is_reusable(bus: Bus, children: List[subprocess.Popen]) -> None:
    p = announce_in_child(bus, "strategy_a", children)
    live = bus.live_strategies()
    assert live["strategy_a"].pid == p.pid and live["strategy_a"].token == p.token  # type: ignore[attr-defined]
    with pytest.raises(QueueLockedError) as e:
        bus.strategy("strategy_a")
    assert e.value.pid == p.pid
    p.kill()
    p.wait()
    # the kernel released its lock: gone at once, though its files remain
    assert bus.live_strategies() == {}
    assert sorted(os.listdir(bus.registry_dir)) == ["strategy_a.json", "strategy_a.lock"]
    with bus.strategy("strategy_a") as ep:
        assert bus.live_strategies()["strategy_a"].token == ep.token
        assert ep.orders_out.next_seq == 0
    assert os.listdir(bus.registry_dir) == []


def test_sigterm_and_clean_exit_of_a_child(bus: Bus, children: List[subprocess.Popen]) -> None:
    p = announce_in_child(bus, "a", children)
    q = announce_in_child(bus, "b", children)
    assert sorted(bus.live_strategies()) == ["a", "b"]
    p.terminate()  # default SIGTERM: no Python clean-up runs at all
    p.wait()
    assert sorted(bus.live_strategies()) == ["b"]
    q.stdin.close()  # type: ignore[union-attr]
    assert q.stdout.readline() == "closed\n"  # type: ignore[union-attr]
    assert q.wait(10) == 0
    assert bus.live_strategies() == {}
    assert sorted(os.listdir(bus.registry_dir)) == ["a.json", "a.lock"]  # only the killed one's leftovers


def test_a_held_lock_without_a_record_is_not_live_yet(bus: Bus) -> None:
    claim = _Claim(bus.registry_dir, "starting", 0o600, "strategy")
    try:
        assert bus.live_strategies() == {}
        # a dead predecessor's record next to a live owner's lock is not trusted
        dead = subprocess.Popen(["true"])
        dead.wait()
        stale = {"name": "starting", "pid": dead.pid, "token": "t", "started_ns": 0, "orders_out": "", "orders_in": ""}
        (bus.registry_dir / "starting.json").write_text(json.dumps(stale))
        assert bus.live_strategies() == {}
        claim.announce(dict(stale, pid=os.getpid()))
        assert list(bus.live_strategies()) == ["starting"]
    finally:
        claim.release()
    assert bus.live_strategies() == {}


def test_garbage_in_the_registry_is_ignored(bus: Bus) -> None:
    (bus.registry_dir / "junk.json").write_text("{not json")
    (bus.registry_dir / "..json").write_text("{}")
    (bus.registry_dir / "other.txt").write_text("")
    claim = _Claim(bus.registry_dir, "wrong", 0o600, "strategy")
    try:
        claim.announce({"name": "someone_else", "pid": os.getpid()})
        with bus.strategy("real"):
            assert list(bus.live_strategies()) == ["real"]
    finally:
        claim.release()


def test_watcher_reports_appear_leave_and_restart(bus: Bus, children: List[subprocess.Popen]) -> None:
    w = bus.watch_strategies()
    assert w.poll() == ([], [])
    a = bus.strategy("a")
    changes = w.poll()
    assert [i.name for i in changes.discovered] == ["a"] and changes.lost == []
    assert w.poll() == ([], [])
    assert list(w.live) == ["a"]
    # a restart between two polls is a loss and a discovery
    first = a.token
    a.close()
    a = bus.strategy("a")
    changes = w.poll()
    assert [i.token for i in changes.lost] == [first]
    assert [i.token for i in changes.discovered] == [a.token]
    # a killed process is lost
    p = announce_in_child(bus, "b", children)
    assert [i.name for i in w.poll().discovered] == ["b"]
    p.kill()
    p.wait()
    changes = w.poll()
    assert changes.discovered == [] and [(i.name, i.pid) for i in changes.lost] == [("b", p.pid)]
    a.close()
    assert [i.name for i in w.poll().lost] == ["a"]
    assert w.live == {}


def test_unclosed_endpoint_warns_and_withdraws(bus: Bus) -> None:
    ep: StrategyEndpoint = bus.strategy("a")
    with pytest.warns(ResourceWarning):
        ep.__del__()
    assert bus.live_strategies() == {}


def test_claims_exclude_each_other_under_contention(bus: Bus) -> None:
    """Threads claiming and releasing one name in a tight loop (each claim is
    its own open file, as in separate processes): never two holders."""
    holders: List[int] = []
    errors: List[str] = []
    guard = threading.Lock()

    def worker(n: int) -> None:
        for _ in range(150):
            try:
                claim = _Claim(bus.registry_dir, "contended", 0o600, "strategy")
            except QueueLockedError:
                continue
            with guard:
                holders.append(n)
                if len(holders) > 1:
                    errors.append(f"holders {holders}")
            # the file we hold is the one at the path (not an unlinked orphan)
            if not os.path.samestat(os.fstat(claim._fd), os.stat(bus.registry_dir / "contended.lock")):  # type: ignore[arg-type]
                errors.append("holding an orphaned lock file")
            with guard:
                holders.remove(n)
            claim.release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert os.listdir(bus.registry_dir) == []
