"""Trading strategy: reads ticks for one symbol, sends orders, prints acks.

    python examples/strategy.py --bus-root ./demo_bus --strategy strategy_a --symbol BTC [--feed demo]

Announces itself on the bus while it runs, so a router discovers it. Every
--every ticks of its symbol (starting with the first) it sends an order of
--qty: a BUY when flat, a SELL when long, so it stays near flat. Order ids
are the seq of the order in its orders_out queue, unique across restarts.
Acks of orders sent before a restart are still delivered after it (its acks
reader commits as it goes). Stops cleanly on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional

from demo_common import DEFAULT_FEED, Log, StopFlag, add_bus_options, enum_name, run_main

from chronicle.bus import Bus, StrategyEndpoint, check_name, wait_any
from chronicle.messages import Ack, Order, Side, Status, Tick
from chronicle.queue import Subscriber

BATCH = 256  # messages handled per queue before looking at the other one


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bus_options(p)
    p.add_argument("--strategy", required=True, help="strategy name, e.g. strategy_a")
    p.add_argument("--symbol", required=True, help="symbol to trade, e.g. BTC")
    p.add_argument("--feed", default=DEFAULT_FEED, help=f"feed to read (default: {DEFAULT_FEED})")
    p.add_argument("--every", type=int, default=20, help="send an order every N ticks of the symbol (default: 20)")
    p.add_argument("--qty", type=int, default=1, help="quantity of each order (default: 1)")
    args = p.parse_args(argv)
    try:
        check_name(args.strategy, "strategy name")
        check_name(args.feed, "feed name")
    except ValueError as e:
        p.error(str(e))
    if len(args.symbol.encode()) > 8:
        p.error("--symbol is at most 8 bytes")
    if args.every < 1 or args.qty < 1:
        p.error("--every and --qty must be >= 1")
    return args


class Trader:
    """The toy trading rule and the order/ack log lines."""

    def __init__(self, args: argparse.Namespace, endpoint: StrategyEndpoint, log: Log) -> None:
        self._name = args.strategy
        self._symbol = args.symbol
        self._every = args.every
        self._qty = args.qty
        self._ep = endpoint
        self._log = log
        self._seen = 0
        self._position = 0

    def on_tick(self, tick: Any) -> None:
        if tick.symbol != self._symbol:
            return
        self._seen += 1
        if (self._seen - 1) % self._every:
            return
        side = Side.BUY if self._position <= 0 else Side.SELL
        out = self._ep.orders_out
        order_id = out.next_seq  # the order's own seq: unique for the life of the queue
        self._log(f"strategy {self._name}: order order_id={order_id} symbol={self._symbol} qty={self._qty} side={side.name}")
        out.append(Order.type_id, Order.encode(order_id, self._symbol, tick.price, self._qty, side))
        self._position += self._qty if side is Side.BUY else -self._qty

    def on_ack(self, ack: Any) -> None:
        self._log(f"strategy {self._name}: ack order_id={ack.order_id} status={enum_name(Status, ack.status)}")


def drain(sub: Subscriber, trader: Trader) -> None:
    for _ in range(BATCH):
        msg = sub.next()
        if msg is None:
            return
        if msg.type_id == Tick.type_id:
            trader.on_tick(Tick.decode(msg.payload))
        elif msg.type_id == Ack.type_id:
            trader.on_ack(Ack.decode(msg.payload))
            sub.commit()


def run(args: argparse.Namespace, stop: StopFlag, log: Log) -> None:
    bus = Bus(args.bus_root, segment_size=args.segment_size)
    # the feed reader never commits: a restarted strategy starts at the
    # latest tick instead of trading on stale prices
    with bus.strategy(args.strategy) as ep, bus.feed_subscriber(args.feed, args.strategy, start="latest") as ticks:
        trader = Trader(args, ep, log)
        while not stop:
            if wait_any([ticks, ep.orders_in], timeout=0.1):
                drain(ticks, trader)
                drain(ep.orders_in, trader)


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(lambda args: f"strategy {args.strategy}", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
