"""Beyond one host: bridge Chronicle queues through NATS JetStream.

``bridge out`` reads a local queue as a named subscriber and publishes every
message to a stream; ``bridge in`` appends a stream to a local queue on
another host. Together they carry every message exactly once, in order, with
its type id, payload, origin seq and origin timestamp (docs/BRIDGE.md).

>>> from chronicle.bridge import BridgeOut, origin
>>> bridge = BridgeOut("./bus/market_data/queue/BTC", servers=["nats://127.0.0.1:4222"],
...                    stream="MARKET_BTC", create=True)
>>> # await bridge.run()   (bridge.stop() ends it)

A reader of the receiving queue decodes the origin of each message with
:func:`origin`::

    seq, ts, payload, queue_id, stream_seq = origin(msg)

Needs the ``bridge`` extra (nats-py) for the bridges themselves; :func:`origin`
works without it.
"""
from __future__ import annotations

from .envelope import HEADER_SIZE, Origin, is_bridged, origin
from .errors import BridgeError, ConsumerMismatchError, NatsUnavailableError, StreamNotFoundError
from .inbound import BridgeIn, default_durable
from .outbound import BridgeOut
from .report import Report, format_line
from .seqmap import SeqMap
from .streams import StreamOptions, default_subject

__all__ = [
    "BridgeOut",
    "BridgeIn",
    "StreamOptions",
    "SeqMap",
    "origin",
    "Origin",
    "is_bridged",
    "HEADER_SIZE",
    "default_durable",
    "default_subject",
    "format_line",
    "Report",
    "BridgeError",
    "NatsUnavailableError",
    "StreamNotFoundError",
    "ConsumerMismatchError",
]
