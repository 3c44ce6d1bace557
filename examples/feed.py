"""Market-data feed: publishes random-walk ticks for several symbols.

    python examples/feed.py --bus-root ./demo_bus [--feed demo] [--symbols BTC,ETH,SOL]

Prints ``feed: published symbol=BTC price=...`` for the first tick of each
symbol and then every --log-every ticks of it. Stops cleanly on Ctrl-C or
SIGTERM.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from typing import Dict, List, Optional

from demo_common import DEFAULT_FEED, Log, StopFlag, add_bus_options, run_main

from chronicle.bus import Bus
from chronicle.messages import Tick

START_PRICES = {"BTC": 60000.0, "ETH": 3000.0, "SOL": 150.0}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bus_options(p)
    p.add_argument("--feed", default=DEFAULT_FEED, help=f"feed name (default: {DEFAULT_FEED})")
    p.add_argument("--symbols", default="BTC,ETH,SOL", help="comma-separated symbols (default: BTC,ETH,SOL)")
    p.add_argument("--rate", type=float, default=20.0, help="ticks per second per symbol (default: 20)")
    p.add_argument("--log-every", type=int, default=20, help="log one tick in N per symbol (default: 20)")
    p.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible walk")
    args = p.parse_args(argv)
    args.symbol_list = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not args.symbol_list:
        p.error("--symbols names no symbol")
    if any(len(s.encode()) > 8 for s in args.symbol_list):
        p.error("a symbol is at most 8 bytes")
    if not 0 < args.rate <= 1e6:
        p.error("--rate must be in (0, 1e6]")
    if args.log_every < 1:
        p.error("--log-every must be >= 1")
    return args


class RandomWalk:
    """Prices that move by small log-normal steps, rounded to the cent."""

    def __init__(self, symbols: List[str], rng: random.Random) -> None:
        self._rng = rng
        self._price: Dict[str, float] = {s: START_PRICES.get(s, 100.0) for s in symbols}

    def step(self, symbol: str) -> float:
        price = self._price[symbol] * math.exp(self._rng.gauss(0.0, 0.0005))
        self._price[symbol] = max(0.01, round(price, 2))
        return self._price[symbol]

    def size(self) -> float:
        return round(self._rng.uniform(0.01, 2.0), 2)


def run(args: argparse.Namespace, stop: StopFlag, log: Log) -> None:
    bus = Bus(args.bus_root, segment_size=args.segment_size)
    walk = RandomWalk(args.symbol_list, random.Random(args.seed))
    counts = dict.fromkeys(args.symbol_list, 0)
    period = 1.0 / args.rate
    with bus.feed_publisher(args.feed) as pub:
        due = time.monotonic()
        while not stop:
            for symbol in args.symbol_list:
                price = walk.step(symbol)
                pub.append(Tick.type_id, Tick.encode(time.time_ns(), symbol, price, walk.size()))
                if counts[symbol] % args.log_every == 0:
                    log(f"feed: published symbol={symbol} price={price:.2f}")
                counts[symbol] += 1
            # pace the ticks; after a stall, carry on from now instead of bursting
            due = max(due + period, time.monotonic() - period)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(lambda _args: "feed", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
