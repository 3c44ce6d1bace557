"""The bus's message types: market-data ticks, orders and acks.

Each is a fixed, little-endian, packed binary layout (see
:mod:`chronicle.layout`); docs/BUS.md lists them byte by byte. Symbols are up
to 8 bytes of UTF-8. The record header of every message already carries the
sequence number and the writer's timestamp, so the layouts do not repeat them.

>>> from chronicle.messages import Order, Side
>>> payload = Order.encode(order_id=0, symbol="BTC", price=64000.0, qty=1, side=Side.BUY)
>>> pub.append(Order.type_id, payload)
"""
from __future__ import annotations

import enum
from typing import Any, Dict

from .layout import Layout

__all__ = ["Side", "Status", "Tick", "Order", "Ack", "LAYOUTS", "decode"]


class Side(enum.IntEnum):
    """Order side, stored as one byte."""

    BUY = 1
    SELL = 2


class Status(enum.IntEnum):
    """Outcome of an order as reported by the router, stored as one byte."""

    ACK = 1
    REJECT = 2


#: One market-data update. ``ts_ns`` is the event time at the source (the
#: record header's timestamp is when the feed appended it); ``size`` is the
#: traded or quoted quantity.
Tick = Layout(
    "Tick",
    type_id=1,
    fields=[("ts_ns", "q"), ("symbol", "8s"), ("price", "d"), ("size", "d")],
)

#: An order from a strategy to the router. ``order_id`` is unique within the
#: strategy's orders_out queue (the demo uses the order's own seq); ``side``
#: holds a :class:`Side`.
Order = Layout(
    "Order",
    type_id=2,
    fields=[
        ("order_id", "Q"),
        ("symbol", "8s"),
        ("price", "d"),
        ("qty", "q"),
        ("side", "B"),
        ("_reserved", "7x"),
    ],
)

#: The router's answer to one order, in the strategy's orders_in queue;
#: ``status`` holds a :class:`Status`.
Ack = Layout(
    "Ack",
    type_id=3,
    fields=[("order_id", "Q"), ("status", "B"), ("_reserved", "7x")],
)

#: Every bus layout by type id.
LAYOUTS: Dict[int, Layout] = {layout.type_id: layout for layout in (Tick, Order, Ack)}


def decode(msg: Any) -> Any:
    """Decode a :class:`chronicle.Message` of any bus type by its type id."""
    layout = LAYOUTS.get(msg.type_id)
    if layout is None:
        raise ValueError(f"message seq {msg.seq} has type id {msg.type_id}, not a bus message type")
    return layout.decode(msg.payload)
