"""Order router: discovers strategies on the bus, acks their orders.

    python examples/router.py --bus-root ./demo_bus

Scans the bus registry every --scan-interval seconds: a strategy that
appears is ``discovered`` (the router opens its orders_out and orders_in
queues), one that exits or dies is ``lost`` (its remaining orders are acked
first). Orders are read from every live strategy without waiting on any one
of them; each gets an ACK (or a REJECT if malformed) in that strategy's
orders_in queue. The router's reader position is committed after each ack,
so a restarted router does not ack an order twice. Stops cleanly on Ctrl-C or
SIGTERM.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Dict, List, Optional

from demo_common import Log, StopFlag, add_bus_options, enum_name, run_main

from chronicle.bus import Bus, RouterEndpoint, StrategyInfo, wait_any
from chronicle.messages import Ack, Order, Side, Status

BATCH = 256  # orders taken from one strategy before serving the next


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bus_options(p)
    p.add_argument(
        "--scan-interval", type=float, default=0.1, help="seconds between registry scans (default: 0.1)"
    )
    args = p.parse_args(argv)
    if not 0 < args.scan_interval <= 10:
        p.error("--scan-interval must be in (0, 10]")
    return args


class Router:
    """The live strategies' endpoints and what to do with their orders."""

    def __init__(self, bus: Bus, log: Log) -> None:
        self._bus = bus
        self._log = log
        self._watcher = bus.watch_strategies()
        self.endpoints: Dict[str, RouterEndpoint] = {}

    def scan(self) -> None:
        changes = self._watcher.poll()
        for info in changes.lost:
            self._lose(info)
        for info in changes.discovered:
            self._discover(info)

    def _discover(self, info: StrategyInfo) -> None:
        ep = self._bus.router_endpoint(info.name)
        self.endpoints[info.name] = ep
        self._log(
            f"router: discovered {info.name} "
            f"(orders_out={self._bus.orders_out_path(info.name)}, orders_in={self._bus.orders_in_path(info.name)})"
        )

    def _lose(self, info: StrategyInfo) -> None:
        ep = self.endpoints.pop(info.name, None)
        if ep is not None:
            # everything it appended before it went is in the queue: ack it all
            while self.serve(info.name, ep):
                pass
            ep.close()
        self._log(f"router: lost {info.name}")

    def serve(self, name: str, ep: RouterEndpoint) -> bool:
        """Ack up to BATCH waiting orders of one strategy; True if any."""
        served = False
        for _ in range(BATCH):
            msg = ep.orders_out.next()
            if msg is None:
                break
            served = True
            if msg.type_id != Order.type_id:
                continue
            order = Order.decode(msg.payload)
            self._log(
                f"router: order from {name} (order_id={order.order_id} symbol={order.symbol} "
                f"qty={order.qty} side={enum_name(Side, order.side)})"
            )
            valid = order.qty > 0 and order.side in (Side.BUY, Side.SELL)
            ep.orders_in.append(Ack.type_id, Ack.encode(order.order_id, Status.ACK if valid else Status.REJECT))
            ep.orders_out.commit()
        return served

    def close(self) -> None:
        for ep in self.endpoints.values():
            ep.close()
        self.endpoints.clear()


def run(args: argparse.Namespace, stop: StopFlag, log: Log) -> None:
    bus = Bus(args.bus_root, segment_size=args.segment_size)
    router = Router(bus, log)
    try:
        next_scan = 0.0
        while not stop:
            now = time.monotonic()
            if now >= next_scan:
                router.scan()
                next_scan = now + args.scan_interval
            busy = False
            for name, ep in list(router.endpoints.items()):
                busy |= router.serve(name, ep)
            if not busy:
                subs = [ep.orders_out for ep in router.endpoints.values()]
                wait_any(subs, timeout=max(0.001, next_scan - time.monotonic()))
    finally:
        router.close()


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(lambda _args: "router", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
