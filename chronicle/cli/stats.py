"""chronicle stats QUEUE — message rate over time and size distribution."""
from __future__ import annotations

from dataclasses import asdict
from typing import List, Optional, Tuple

import click

from ..tools import stats as statistics
from ..tools.view import QueueView
from .common import (
    command, emit_json, fmt_duration, fmt_size, fmt_time, json_option, progress, queue_argument, range_options,
    terminal_width, type_option,
)


@click.command("stats", short_help="Message rate over time and payload sizes.")
@queue_argument
@range_options
@type_option
@click.option("--buckets", type=click.IntRange(1, 1000), default=20, show_default=True, help="Rows of the rate histogram, at most.")
@click.option("--plot", "plot_to", metavar="FILE", help="Also save the charts as an image (needs the 'plot' extra: matplotlib).")
@json_option
@command
def stats_cmd(
    queue: str, start: Optional[int], until: Optional[int], types: Tuple[int, ...], buckets: int,
    plot_to: Optional[str], as_json: bool,
) -> int:
    """Message rate over time and the distribution of payload sizes, as
    small terminal histograms (or JSON)."""
    view = QueueView(queue)
    bounds = view.bounds()
    first = bounds.first_seq if start is None else start
    last = bounds.end_seq - 1 if until is None else min(until, bounds.end_seq - 1)
    with progress(last + 1 - first, "reading", not as_json) as tick:
        st = statistics.compute(view, start, until, set(types) or None, buckets, tick)
    if plot_to:
        statistics.plot(st, plot_to, f"{view.path}: {st.messages} messages")
    if as_json:
        d = asdict(st)
        d["span_ns"], d["mean_rate"] = st.span_ns, st.mean_rate
        d["rate"] = [{"start_ns": t, "messages": c} for t, c in st.rate]
        d["sizes"] = [{"min": lo, "max": hi, "messages": c} for lo, hi, c in st.sizes]
        d["types"] = {str(k): v for k, v in st.types.items()}
        if plot_to:
            d["plot"] = plot_to
        emit_json(d)
        return 0
    click.echo("\n".join(render(st, terminal_width())))
    if plot_to:
        click.echo(f"plot: {plot_to}")
    return 0


def render(st: statistics.Stats, width: int) -> List[str]:
    if not st.messages:
        return ["messages   0"]
    rate = f", {st.mean_rate:.1f} msg/s" if st.mean_rate is not None else ""
    p = st.size_percentiles
    lines = [
        f"messages   {st.messages} (seq {st.first_seq}..{st.last_seq}), {fmt_size(st.payload_bytes)} of payload",
        f"first      {fmt_time(st.first_ts)}",
        f"last       {fmt_time(st.last_ts)} ({fmt_duration(st.span_ns)} later{rate})",
        f"sizes      min {st.size_min} B, median {p['p50']} B, p90 {p['p90']} B, p99 {p['p99']} B, "
        f"max {st.size_max} B, mean {st.size_mean:.1f} B",
        "types      " + ", ".join(f"{t}: {n}" for t, n in st.types.items()),
        "",
        f"rate (messages per {fmt_duration(st.bucket_ns)})",
    ]
    stamp = 23 if st.bucket_ns < 10**9 else 19
    lines += _bars([(fmt_time(t, 3)[:stamp], c) for t, c in st.rate], width)
    lines += ["", "sizes (payload bytes)"]
    lines += _bars([(f"{lo}-{hi}" if lo != hi else str(lo), c) for lo, hi, c in st.sizes], width)
    return lines


def _bars(rows: List[Tuple[str, int]], width: int) -> List[str]:
    """One labelled bar per row, scaled to fit `width` columns."""
    if not rows:
        return []
    label_w = max(len(label) for label, _ in rows)
    count_w = max(len(str(c)) for _, c in rows)
    room = max(10, width - label_w - count_w - 6)
    top = max(c for _, c in rows) or 1
    return [f"  {label.ljust(label_w)}  {('█' * round(c * room / top)).ljust(room)}  {str(c).rjust(count_w)}" for label, c in rows]
