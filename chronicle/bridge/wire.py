"""How a Chronicle message travels as a JetStream message: the payload as
is, and the origin in headers.

=============================  ==============================================
``Chronicle-Queue``            the origin queue's identity (32 hex digits)
``Chronicle-Seq``              the origin seq
``Chronicle-Type``             the type id (0..65535)
``Chronicle-Timestamp``        the origin timestamp_ns
``Nats-Msg-Id``                ``<queue id>:<seq>``, for JetStream's
                               duplicate window
``Nats-Expected-Last-Sequence``  the stream sequence its predecessor was
                               stored at
``Nats-Expected-Last-Msg-Id``  the predecessor's ``Nats-Msg-Id`` (not on the
                               first message after a resynchronization,
                               which checked the stream itself)
=============================  ==============================================

With the two expectations JetStream stores a message only right after its
predecessor: a message lost in a crash makes every later one fail, so the
stream never holds a message whose predecessor is missing.
"""
from __future__ import annotations

from typing import Dict, Mapping, NamedTuple, Optional, Union

__all__ = ["WireOrigin", "headers_for", "parse_origin", "msg_id", "QUEUE", "SEQ", "TYPE", "TIMESTAMP"]

QUEUE = "Chronicle-Queue"
SEQ = "Chronicle-Seq"
TYPE = "Chronicle-Type"
TIMESTAMP = "Chronicle-Timestamp"
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"

_QUEUE_ID_HEX = 32


class WireOrigin(NamedTuple):
    """The origin headers of one JetStream message, parsed."""

    queue_id: str
    seq: int
    type_id: int
    timestamp_ns: int


def msg_id(queue_hex: str, seq: int) -> str:
    return f"{queue_hex}:{seq}"


def headers_for(
    queue_hex: str, seq: int, type_id: int, timestamp_ns: int, expected_last: int, chained: bool = True
) -> Dict[str, str]:
    """The headers of the message for origin ``seq``; ``chained``: expect
    the message for ``seq - 1`` to be the stream's last."""
    hdrs = {
        QUEUE: queue_hex,
        SEQ: str(seq),
        TYPE: str(type_id),
        TIMESTAMP: str(timestamp_ns),
        MSG_ID: msg_id(queue_hex, seq),
        EXPECTED_LAST_SEQ: str(expected_last),
    }
    if chained:
        hdrs[EXPECTED_LAST_MSG_ID] = msg_id(queue_hex, seq - 1)
    return hdrs


def parse_origin(headers: Optional[Mapping[str, str]]) -> Union[WireOrigin, str]:
    """The origin of a message, or a short reason why it has none."""
    if not headers:
        return "no headers"
    missing = [h for h in (QUEUE, SEQ, TYPE, TIMESTAMP) if h not in headers]
    if missing:
        return "missing " + ", ".join(missing)
    qid = headers[QUEUE].strip().lower()
    if len(qid) != _QUEUE_ID_HEX or any(c not in "0123456789abcdef" for c in qid):
        return f"bad {QUEUE} {headers[QUEUE]!r}"
    try:
        seq = int(headers[SEQ])
        type_id = int(headers[TYPE])
        ts = int(headers[TIMESTAMP])
    except ValueError:
        return f"unparsable {SEQ}/{TYPE}/{TIMESTAMP}"
    if seq < 0 or not 0 <= type_id <= 0xFFFF:
        return f"out-of-range {SEQ} {seq} or {TYPE} {type_id}"
    return WireOrigin(qid, seq, type_id, ts)
