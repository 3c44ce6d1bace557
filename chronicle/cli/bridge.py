"""chronicle bridge out|in — carry queues between hosts through NATS
JetStream (needs the 'bridge' extra: nats-py)."""
from __future__ import annotations

import asyncio
import json
import signal
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

import click

from .common import EXIT_UNAVAILABLE, EXIT_USAGE, command, parse_age, parse_size, queue_argument

F = TypeVar("F", bound=Callable[..., Any])


class _Unavailable(click.ClickException):
    """No NATS server answered: exit 3, as for a queue that cannot be read."""

    exit_code = EXIT_UNAVAILABLE


class _Misfit(click.ClickException):
    """A stream, subject, consumer or value that does not fit: exit 2."""

    exit_code = EXIT_USAGE


def _server_options(f: F) -> F:
    """Options both directions share: where, which stream, how to create it."""
    opts = [
        click.option("--nats", "servers", multiple=True, required=True, metavar="URL",
                     help="NATS server URL (repeat, or separate with commas, for a cluster)."),
        click.option("--stream", required=True, metavar="NAME", help="The JetStream stream."),
        click.option("--create", is_flag=True, help="Create the stream if it does not exist."),
        click.option("--replicas", type=click.IntRange(1, 5), default=1, show_default=True,
                     help="With --create: copies of the stream in a cluster."),
        click.option("--retention", type=click.Choice(["limits", "interest", "workqueue"]), default="limits",
                     show_default=True, help="With --create: when the stream drops messages."),
        click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True,
                     help="With --create: where the stream keeps messages."),
        click.option("--max-age", callback=parse_age, metavar="AGE", help="With --create: drop messages older (7d, 12h)."),
        click.option("--max-bytes", callback=parse_size, metavar="SIZE", help="With --create: keep at most this much (10G)."),
        click.option("--max-msgs", type=click.IntRange(min=1), metavar="N", help="With --create: keep at most N messages."),
        click.option("--duplicate-window", callback=parse_age, default="2m", show_default=True, metavar="AGE",
                     help="With --create: how long JetStream remembers message ids."),
        click.option("--report-every", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
                     help="Print progress (rate, lag) this often; 0: only events."),
        click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
                     metavar="SECONDS", help="Give up connecting at start after this long per server."),
        click.option("--json", "as_json", is_flag=True, help="Print events and progress as JSON lines."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.group("bridge")
def bridge_cmd() -> None:
    """Bridge queues between hosts through NATS JetStream.

    'bridge out QUEUE' publishes a queue to a stream; 'bridge in --to QUEUE'
    appends a stream to a queue on another host. Every message arrives once,
    in order, with its type id, payload, origin seq and timestamp (see
    docs/BRIDGE.md). Both run until Ctrl-C or SIGTERM, then stop cleanly.
    """


@bridge_cmd.command("out")
@queue_argument
@_server_options
@click.option("--subject", metavar="S", help="Subject to publish on [default: chronicle.<stream>].")
@click.option("--reader", metavar="NAME", help="Subscriber name holding the position [default: bridge-<stream>].")
@click.option("--window", type=click.IntRange(1, 1_000_000), default=1024, show_default=True, metavar="N",
              help="Messages published and not yet acknowledged, at most.")
@click.option("--ack-timeout", type=click.FloatRange(min=0.01), default=5.0, show_default=True, metavar="SECONDS",
              help="Resynchronize when an acknowledgement takes longer.")
@command
def out_cmd(queue: str, subject: Optional[str], reader: Optional[str], window: int, ack_timeout: float,
            **common: Any) -> int:
    """Publish every message of QUEUE to the stream, exactly once, in order."""
    from ..bridge import BridgeOut

    as_json, report_every, options, rest = _common(common)
    bridge = _make(lambda: BridgeOut(queue, subject=subject, reader=reader, window=window, ack_timeout=ack_timeout,
                                     stream_options=options, report_every=report_every or None,
                                     emit=_printer(as_json), **rest))
    return _run(bridge)


@bridge_cmd.command("in")
@click.option("--to", "to", required=True, metavar="QUEUE", type=click.Path(), help="The local queue to append to.")
@_server_options
@click.option("--durable", metavar="NAME", help="Durable consumer name [default: chronicle-<host>-<queue name>].")
@click.option("--filter-subject", metavar="S", help="Consume only messages on these subjects.")
@click.option("--subject", metavar="S", help="With --create: the stream's subject [default: chronicle.<stream>].")
@click.option("--batch", type=click.IntRange(1, 100_000), default=256, show_default=True, metavar="N",
              help="Messages per pull request.")
@click.option("--ack-wait", type=click.FloatRange(min=0.1), default=30.0, show_default=True, metavar="SECONDS",
              help="When creating the durable: redeliver unacknowledged messages after this long.")
@click.option("--sync", is_flag=True, help="Flush the queue to disk (msync) before each acknowledgement.")
@click.option("--plain", is_flag=True,
              help="Append payloads unchanged (no origin envelope; origin seqs kept in QUEUE/bridge-in.map).")
@click.option("--segment-size", callback=parse_size, metavar="SIZE",
              help="Segment size if the queue is created (default 128M).")
@command
def in_cmd(to: str, durable: Optional[str], filter_subject: Optional[str], subject: Optional[str], batch: int,
           ack_wait: float, sync: bool, plain: bool, segment_size: Optional[int], **common: Any) -> int:
    """Append every message of the stream to the queue --to, exactly once,
    in order; readers decode the origin with chronicle.bridge.origin()
    (with --plain, payloads stay as sent)."""
    from ..bridge import BridgeIn

    as_json, report_every, options, rest = _common(common)
    bridge = _make(lambda: BridgeIn(to, durable=durable, filter_subject=filter_subject, subject=subject, batch=batch,
                                    ack_wait=ack_wait, sync=sync, plain=plain, segment_size=segment_size,
                                    stream_options=options, report_every=report_every or None,
                                    emit=_printer(as_json), **rest))
    return _run(bridge)


def _common(common: Dict[str, Any]) -> Tuple[bool, float, Any, Dict[str, Any]]:
    """Split the shared options into (json, report interval, StreamOptions,
    keyword arguments of both bridges)."""
    from ..bridge import StreamOptions

    options = StreamOptions(
        replicas=common["replicas"], retention=common["retention"], storage=common["storage"],
        max_age=common["max_age"], max_bytes=common["max_bytes"], max_msgs=common["max_msgs"],
        duplicate_window=common["duplicate_window"],
    )
    rest = {"servers": list(common["servers"]), "stream": common["stream"], "create": common["create"],
            "connect_timeout": common["connect_timeout"]}
    return common["as_json"], common["report_every"], options, rest


def _printer(as_json: bool) -> Callable[[Dict[str, Any]], None]:
    from ..bridge import format_line

    def emit(report: Dict[str, Any]) -> None:
        click.echo(json.dumps(report) if as_json else format_line(report))

    return emit


def _make(build: Callable[[], Any]) -> Any:
    """Build a bridge; bad names and values are usage errors."""
    try:
        return build()
    except ValueError as e:
        raise _Misfit(str(e)) from None


def _run(bridge: Any) -> int:
    """Run until Ctrl-C/SIGTERM (exit 0) or an error (one line, its exit code)."""
    from ..bridge import ConsumerMismatchError, NatsUnavailableError, StreamNotFoundError

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bridge.stop)
        try:
            await bridge.run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        asyncio.run(main())
    except NatsUnavailableError as e:
        raise _Unavailable(str(e)) from None
    except (StreamNotFoundError, ConsumerMismatchError) as e:
        raise _Misfit(str(e)) from None
    return 0
