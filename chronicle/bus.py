"""The bus: where feeds and strategies' order queues live, and which
strategies are alive.

Directory convention under a root (docs/BUS.md has the whole protocol)::

    <root>/market_data/queue/<feed>/              a feed publishes ticks; many strategies read
    <root>/orders/queue/<strategy>/orders_out/    the strategy publishes orders; the router reads
    <root>/orders/queue/<strategy>/orders_in/     the router publishes acks; the strategy reads
    <root>/orders/registry/<strategy>.lock        flock'd by the live strategy (holds its pid)
    <root>/orders/registry/<strategy>.json        its announcement record

A strategy is *announced* while its :class:`StrategyEndpoint` is open: the
endpoint holds an exclusive ``flock`` on ``<strategy>.lock`` and has written
``<strategy>.json``. The kernel releases the lock when the process dies in
any way (exit, exception, SIGTERM, ``kill -9``), so a router tests liveness
with a non-blocking lock attempt instead of waiting for a timeout, and the
same name can start again at once.

Names of feeds, strategies and readers are 1-64 characters of
``A-Z a-z 0-9 _ . -`` not starting with ``.``, so no name can leave its
directory. The root itself is trusted.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from ._binding import PathLike, lib
from ._closing import ClosingContext
from .errors import QueueLockedError
from .queue import Publisher, Queue, Subscriber

__all__ = [
    "Bus",
    "StrategyEndpoint",
    "RouterEndpoint",
    "StrategyInfo",
    "StrategyWatcher",
    "Changes",
    "check_name",
    "wait_any",
]

MARKET_DATA_DIR = ("market_data", "queue")
ORDERS_DIR = ("orders", "queue")
REGISTRY_DIR = ("orders", "registry")
ORDERS_OUT = "orders_out"
ORDERS_IN = "orders_in"
#: Reader name the router uses on every orders_out queue.
ROUTER_READER = "router"

_LOCK_SUFFIX = ".lock"
_RECORD_SUFFIX = ".json"
# a router's liveness probe holds the lock for microseconds; a strategy that
# collides with one retries this long before deciding the name is taken
_CLAIM_RETRY_S = 0.2


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a valid feed, strategy or reader name.

    Raises TypeError for a non-str and ValueError for anything that could
    leave its directory (separators, ``..``, a leading dot, NUL, > 64 chars).
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name.isascii() or "\0" in name or not lib.chron_name_valid(name.encode("ascii")):
        raise ValueError(
            f"invalid {what} {name!r}: use 1-{int(lib.CHRON_MAX_NAME_LEN)} characters of "
            "A-Z a-z 0-9 _ . - , not starting with '.'"
        )
    return name


def _dir_mode(file_mode: int) -> int:
    """Directories get x wherever their files get r."""
    return file_mode | ((file_mode & 0o444) >> 2)


def _makedirs(path: Path, mode: int) -> None:
    """mkdir -p where every created directory (not only the leaf) gets ``mode``."""
    missing: List[Path] = []
    p = path
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
        except FileExistsError:
            if not d.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(d)) from None
            continue
        os.chmod(d, mode)  # the umask may have removed bits asked for


def _fix_mode(fd: int, mode: int) -> None:
    """Give a file we own the requested mode, whatever the umask removed."""
    st = os.fstat(fd)
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class StrategyInfo:
    """A live strategy as its announcement describes it.

    ``token`` is unique per run: a strategy that restarts under the same name
    gets a new one, so a watcher notices the restart even between two scans.
    """

    name: str
    pid: int
    token: str
    started_ns: int
    orders_out: str
    orders_in: str


class Changes(NamedTuple):
    """What one :meth:`StrategyWatcher.poll` found: strategies that appeared
    and strategies that went away (their last known info)."""

    discovered: List[StrategyInfo]
    lost: List[StrategyInfo]


class _Claim:
    """Exclusive ownership of a name in a registry directory.

    Owns ``<name>.lock`` (flock'd, holding our pid) and, once announced,
    ``<name>.json``. Only the owner ever deletes either file, and it deletes
    them while still holding the lock, so a stale file left by a killed owner
    is simply reused by the next one.
    """

    def __init__(self, registry: Path, name: str, file_mode: int, what: str) -> None:
        self._lock_path = registry / (name + _LOCK_SUFFIX)
        self._record_path = registry / (name + _RECORD_SUFFIX)
        self._fd: Optional[int] = None
        self._file_mode = file_mode
        deadline = time.monotonic() + _CLAIM_RETRY_S
        while self._fd is None:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, file_mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    pid = self._holder_pid()
                    raise QueueLockedError(
                        f"{what} {name!r} is already running (pid {pid if pid else 'unknown'}): "
                        f"{self._lock_path} is locked",
                        pid=pid,
                        path=str(self._lock_path),
                    ) from None
                time.sleep(0.002)
                continue
            except BaseException:
                os.close(fd)
                raise
            # the previous owner may have unlinked the file between our open
            # and our flock: then we locked an orphan and must start over
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self._lock_path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self._fd = fd
        try:
            _fix_mode(fd, file_mode)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            # a record left by a killed predecessor must not describe us
            self._unlink(self._record_path)
        except BaseException:
            self.release()
            raise

    def _holder_pid(self) -> Optional[int]:
        try:
            text = self._lock_path.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def announce(self, record: Dict[str, Any]) -> None:
        """Publish the record atomically (write a temp file, rename it)."""
        tmp = self._record_path.with_name(f".{self._record_path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, self._file_mode)
        try:
            _fix_mode(fd, self._file_mode)
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            os.replace(tmp, self._record_path)
        except BaseException:
            self._unlink(tmp)
            raise

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Withdraw the announcement and give the name up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self._unlink(self._record_path)
            self._unlink(self._lock_path)
        finally:
            os.close(fd)


def _probe(registry: Path, name: str) -> Optional[Dict[str, Any]]:
    """The record of ``name`` if its owner is alive, else None."""
    try:
        fd = os.open(registry / (name + _LOCK_SUFFIX), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # held: the owner is alive
    else:
        return None  # nobody holds it: the owner exited or was killed
    finally:
        os.close(fd)  # also drops our shared lock, if we got it
    try:
        with open(registry / (name + _RECORD_SUFFIX), "rb") as f:
            record = json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None  # starting, or stopping: not announced
    if not isinstance(record, dict) or record.get("name") != name:
        return None
    pid = record.get("pid")
    # the lock is held but the record may still be a dead predecessor's for
    # an instant while a new owner starts up: its pid tells them apart
    if not isinstance(pid, int) or not _pid_alive(pid):
        return None
    return record


class StrategyEndpoint(ClosingContext):
    """A strategy's side of the bus, announced while open.

    ``orders_out`` is the :class:`~chronicle.Publisher` of the strategy's
    orders; ``orders_in`` a :class:`~chronicle.Subscriber` of its acks. Close
    it (or leave its ``with`` block) to withdraw the announcement and release
    both queues. Create with :meth:`Bus.strategy`.
    """

    def __init__(self, bus: "Bus", name: str, acks_reader: str, acks_start: str) -> None:
        self._name = check_name(name, "strategy name")
        check_name(acks_reader, "reader name")
        self._claim: Optional[_Claim] = _Claim(bus.registry_dir, name, bus.file_mode, "strategy")
        self.orders_out: Publisher
        self.orders_in: Subscriber
        out_path, in_path = bus.orders_out_path(name), bus.orders_in_path(name)
        opened: List[Any] = []
        try:
            self.orders_out = Queue.open_publisher(
                out_path, segment_size=bus.segment_size, file_mode=bus.file_mode
            )
            opened.append(self.orders_out)
            self.orders_in = Queue.open_subscriber(in_path, acks_reader, start=acks_start, file_mode=bus.file_mode)
            opened.append(self.orders_in)
            self._token = uuid.uuid4().hex
            self._claim.announce(
                {
                    "name": name,
                    "kind": "strategy",
                    "pid": os.getpid(),
                    "token": self._token,
                    "started_ns": time.time_ns(),
                    "orders_out": str(out_path.absolute()),
                    "orders_in": str(in_path.absolute()),
                }
            )
        except BaseException:
            for h in reversed(opened):
                h.close()
            self._claim.release()
            self._claim = None
            raise

    @property
    def name(self) -> str:
        return self._name

    @property
    def token(self) -> str:
        """This run's announcement token (see :class:`StrategyInfo`)."""
        return self._token

    @property
    def closed(self) -> bool:
        return self._claim is None

    def close(self) -> None:
        """Withdraw the announcement, then close both queues (idempotent)."""
        claim, self._claim = self._claim, None
        if claim is None:
            return
        try:
            claim.release()
        finally:
            self.orders_in.close()
            self.orders_out.close()

    def __del__(self) -> None:
        if getattr(self, "_claim", None) is not None:
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2)
            self.close()

    def __repr__(self) -> str:
        return f"<chronicle.bus.StrategyEndpoint {self._name!r} {'closed' if self.closed else 'open'}>"


class RouterEndpoint(ClosingContext):
    """The router's side of one strategy: ``orders_out`` is a
    :class:`~chronicle.Subscriber` of its orders (reader ``"router"`` by
    default, resuming after its last commit), ``orders_in`` the
    :class:`~chronicle.Publisher` of its acks. Create with
    :meth:`Bus.router_endpoint`."""

    def __init__(self, bus: "Bus", strategy: str, reader: str) -> None:
        self._strategy = check_name(strategy, "strategy name")
        check_name(reader, "reader name")
        self.orders_out: Subscriber = Queue.open_subscriber(
            bus.orders_out_path(strategy), reader, start="earliest", file_mode=bus.file_mode
        )
        try:
            self.orders_in: Publisher = Queue.open_publisher(
                bus.orders_in_path(strategy), segment_size=bus.segment_size, file_mode=bus.file_mode
            )
        except BaseException:
            self.orders_out.close()
            raise

    @property
    def strategy(self) -> str:
        return self._strategy

    @property
    def closed(self) -> bool:
        return self.orders_out.closed

    def close(self) -> None:
        """Close both queues (idempotent)."""
        self.orders_out.close()
        self.orders_in.close()

    def __repr__(self) -> str:
        return f"<chronicle.bus.RouterEndpoint {self._strategy!r} {'closed' if self.closed else 'open'}>"


class StrategyWatcher:
    """Tracks which strategies are alive across calls to :meth:`poll`.

    Each poll scans the registry (a directory listing plus one non-blocking
    lock attempt per announced name, no waiting), so calling it every
    100-200 ms costs next to nothing. Create with :meth:`Bus.watch_strategies`.
    """

    def __init__(self, bus: "Bus") -> None:
        self._bus = bus
        self._known: Dict[str, StrategyInfo] = {}

    @property
    def live(self) -> Dict[str, StrategyInfo]:
        """The strategies alive at the last poll, by name."""
        return dict(self._known)

    def poll(self) -> Changes:
        """Scan once: strategies that appeared or restarted since the last
        poll (``discovered``) and those that exited, died or restarted
        (``lost``; a restart is reported as lost, then discovered)."""
        now = self._bus.live_strategies()
        lost = [
            old for name, old in sorted(self._known.items())
            if name not in now or now[name].token != old.token
        ]
        discovered = [
            info for name, info in sorted(now.items())
            if name not in self._known or self._known[name].token != info.token
        ]
        self._known = now
        return Changes(discovered, lost)


class Bus:
    """The directory convention under ``root``, and handles into it.

    Creating a Bus creates ``root`` and its ``market_data/queue``,
    ``orders/queue`` and ``orders/registry`` directories if absent.
    ``segment_size`` applies to queues its publishers create (default: the
    queue default, 128 MiB); ``file_mode`` is the mode of every file created
    (default 0o600; directories also get x where files get r).
    """

    def __init__(
        self,
        root: PathLike,
        *,
        segment_size: Optional[int] = None,
        file_mode: Optional[int] = None,
    ) -> None:
        self._root = Path(os.fsdecode(os.fspath(root)))
        self._segment_size = segment_size
        self._file_mode = 0o600 if file_mode is None else file_mode
        if not isinstance(self._file_mode, int) or not 0 < self._file_mode <= 0o777:
            raise ValueError("file_mode must be an int permission mode such as 0o600")
        mode = _dir_mode(self._file_mode)
        for parts in (MARKET_DATA_DIR, ORDERS_DIR, REGISTRY_DIR):
            _makedirs(self._root.joinpath(*parts), mode)

    # ---- paths -----------------------------------------------------------

    @property
    def root(self) -> Path:
        return self._root

    @property
    def segment_size(self) -> Optional[int]:
        return self._segment_size

    @property
    def file_mode(self) -> int:
        return self._file_mode

    @property
    def registry_dir(self) -> Path:
        """Where strategies announce themselves."""
        return self._root.joinpath(*REGISTRY_DIR)

    def feed_path(self, feed: str) -> Path:
        """``<root>/market_data/queue/<feed>``."""
        return self._root.joinpath(*MARKET_DATA_DIR, check_name(feed, "feed name"))

    def strategy_path(self, strategy: str) -> Path:
        """``<root>/orders/queue/<strategy>``."""
        return self._root.joinpath(*ORDERS_DIR, check_name(strategy, "strategy name"))

    def orders_out_path(self, strategy: str) -> Path:
        """The strategy's order queue (strategy publishes, router reads)."""
        return self.strategy_path(strategy) / ORDERS_OUT

    def orders_in_path(self, strategy: str) -> Path:
        """The strategy's ack queue (router publishes, strategy reads)."""
        return self.strategy_path(strategy) / ORDERS_IN

    def feeds(self) -> List[str]:
        """Names of the feed queues that exist (live or not)."""
        return self._queue_names(self._root.joinpath(*MARKET_DATA_DIR), ("",))

    def strategies(self) -> List[str]:
        """Names of the strategies with order queues (live or not)."""
        return self._queue_names(self._root.joinpath(*ORDERS_DIR), (ORDERS_OUT, ORDERS_IN))

    @staticmethod
    def _queue_names(base: Path, subdirs: Sequence[str]) -> List[str]:
        try:
            entries = os.listdir(base)
        except FileNotFoundError:
            return []
        names = []
        for name in entries:
            try:
                check_name(name)
            except ValueError:
                continue
            if any((base / name / sub / "queue.meta").is_file() for sub in subdirs):
                names.append(name)
        return sorted(names)

    # ---- handles ---------------------------------------------------------

    def feed_publisher(self, feed: str) -> Publisher:
        """The publisher of a feed (one per feed; a second raises QueueLockedError)."""
        return Queue.open_publisher(self.feed_path(feed), segment_size=self._segment_size, file_mode=self._file_mode)

    def feed_subscriber(
        self, feed: str, reader: str, *, start: str = "latest", spin_us: Optional[float] = None
    ) -> Subscriber:
        """A named subscriber of a feed. ``start`` applies to a reader with no
        committed position; it defaults to "latest" because a live consumer
        of market data wants fresh ticks (pass "earliest" to replay)."""
        return Queue.open_subscriber(
            self.feed_path(feed), check_name(reader, "reader name"), start=start, spin_us=spin_us,
            file_mode=self._file_mode,
        )

    def strategy(self, name: str, *, acks_reader: Optional[str] = None, acks_start: str = "earliest") -> StrategyEndpoint:
        """Open a strategy's endpoint and announce it (see :class:`StrategyEndpoint`).

        The acks subscriber is named ``acks_reader`` (default: the strategy's
        name), so a restarted strategy resumes after the last ack it
        committed. A second live strategy of the same name raises
        :class:`~chronicle.QueueLockedError` with the holder's pid.
        """
        return StrategyEndpoint(self, name, name if acks_reader is None else acks_reader, acks_start)

    def router_endpoint(self, strategy: str, *, reader: str = ROUTER_READER) -> RouterEndpoint:
        """Open the router's side of a strategy's order queues."""
        return RouterEndpoint(self, strategy, reader)

    # ---- discovery -------------------------------------------------------

    def live_strategies(self) -> Dict[str, StrategyInfo]:
        """The strategies alive now, by name (one registry scan)."""
        registry = self.registry_dir
        try:
            entries = os.listdir(registry)
        except FileNotFoundError:
            return {}
        live: Dict[str, StrategyInfo] = {}
        for entry in entries:
            if not entry.endswith(_RECORD_SUFFIX) or entry.startswith("."):
                continue
            name = entry[: -len(_RECORD_SUFFIX)]
            try:
                check_name(name)
            except ValueError:
                continue
            record = _probe(registry, name)
            if record is None:
                continue
            try:
                live[name] = StrategyInfo(
                    name=name,
                    pid=int(record["pid"]),
                    token=str(record["token"]),
                    started_ns=int(record["started_ns"]),
                    orders_out=str(record["orders_out"]),
                    orders_in=str(record["orders_in"]),
                )
            except (KeyError, TypeError, ValueError):
                continue  # not a record this version wrote
        return live

    def watch_strategies(self) -> StrategyWatcher:
        """A :class:`StrategyWatcher` over this bus (nothing known yet)."""
        return StrategyWatcher(self)

    def __repr__(self) -> str:
        return f"<chronicle.bus.Bus {str(self._root)!r}>"


def wait_any(
    subscribers: Sequence[Subscriber], timeout: Optional[float], *, slice_s: float = 0.001
) -> bool:
    """Wait until any of ``subscribers`` has a message ready: True when one
    has, False at ``timeout`` (seconds; None waits forever).

    With one subscriber this is its futex :meth:`~chronicle.Subscriber.wait`.
    With several it waits on each in turn for ``slice_s``, so a message on
    one is noticed within about ``slice_s`` times their number; nothing is
    ever consumed. With none it sleeps out the timeout (which must be given).
    """
    for s in subscribers:
        if s.ready():
            return True
    if timeout is not None and timeout <= 0:
        return False
    if len(subscribers) == 1:
        return subscribers[0].wait(timeout)
    if not subscribers:
        if timeout is None:
            raise ValueError("wait_any with no subscribers and no timeout would never return")
        time.sleep(timeout)
        return False
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for s in subscribers:
            left = slice_s if deadline is None else min(slice_s, deadline - time.monotonic())
            if left <= 0:
                return False
            if s.wait(left):
                return True

