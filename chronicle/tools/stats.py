"""Message statistics: rate over time and the distribution of sizes."""
from __future__ import annotations

from array import array
import collections
from dataclasses import dataclass, field
from typing import Any, Counter, Dict, List, Optional, Set, Tuple

from .errors import require
from .view import REC_INFO_DTYPE, Cursor, ProgressFn, QueueView, check_range

# bucket widths the rate is counted in: 1-2-5 steps, then minutes, hours, days
_WIDTHS_NS: List[int] = [
    m * int(10**e) for e in range(3, 10) for m in (1, 2, 5)
] + [s * 1_000_000_000 for s in (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400, 604800)]


@dataclass
class Stats:
    messages: int = 0
    first_seq: Optional[int] = None
    last_seq: Optional[int] = None
    first_ts: Optional[int] = None
    last_ts: Optional[int] = None
    payload_bytes: int = 0
    size_min: Optional[int] = None
    size_max: Optional[int] = None
    size_mean: Optional[float] = None
    size_percentiles: Dict[str, int] = field(default_factory=dict)  # "p50", "p90", "p99"
    bucket_ns: int = 0
    rate: List[Tuple[int, int]] = field(default_factory=list)  # (bucket start ns, messages)
    sizes: List[Tuple[int, int, int]] = field(default_factory=list)  # (low, high, messages), inclusive
    types: Dict[int, int] = field(default_factory=dict)

    @property
    def span_ns(self) -> int:
        if self.first_ts is None or self.last_ts is None:
            return 0
        return self.last_ts - self.first_ts

    @property
    def mean_rate(self) -> Optional[float]:
        """Messages per second over the span (None for fewer than two)."""
        return (self.messages - 1) / (self.span_ns / 1e9) if self.messages > 1 and self.span_ns > 0 else None


def bucket_width(first_ns: int, last_ns: int, buckets: int) -> int:
    """The smallest round width whose buckets, aligned to it, cover
    [first_ns, last_ns] in at most `buckets`."""
    for w in _WIDTHS_NS:
        if (last_ns - (first_ns - first_ns % w)) // w < buckets:
            return w
    return -(-(last_ns - first_ns + 1) // buckets)


def compute(
    view: QueueView,
    start: Optional[int] = None,
    until: Optional[int] = None,
    types: Optional[Set[int]] = None,
    buckets: int = 20,
    progress: Optional[ProgressFn] = None,
) -> Stats:
    bounds = view.bounds()
    first = bounds.first_seq if start is None else start
    check_range(bounds, first, until)
    last = bounds.end_seq - 1 if until is None else min(until, bounds.end_seq - 1)
    np = _numpy()
    with view.cursor(first) as cur:
        if np is not None:
            seqs, ts, sizes, kinds = _columns_numpy(np, cur, last, types, progress)
        else:
            seqs, ts, sizes, kinds = _columns_python(cur, last, types, progress)
    st = Stats()
    st.messages = len(ts)
    if not st.messages:
        return st
    st.first_seq, st.last_seq = int(seqs[0]), int(seqs[-1])
    st.first_ts, st.last_ts = (int(min(ts)), int(max(ts))) if np is None else (int(ts.min()), int(ts.max()))
    st.types = dict(sorted((int(k), int(v)) for k, v in kinds.items()))
    ordered: Any = sorted(sizes) if np is None else np.sort(sizes)
    st.payload_bytes = int(sum(ordered)) if np is None else int(ordered.sum(dtype=np.int64))
    st.size_min, st.size_max = int(ordered[0]), int(ordered[-1])
    st.size_mean = st.payload_bytes / st.messages
    for p in (50, 90, 99):
        st.size_percentiles[f"p{p}"] = int(ordered[min(st.messages - 1, (st.messages * p) // 100)])
    st.bucket_ns = bucket_width(st.first_ts, st.last_ts, max(1, buckets))
    start_ns = st.first_ts - st.first_ts % st.bucket_ns
    n_buckets = (st.last_ts - start_ns) // st.bucket_ns + 1
    if np is not None:
        per_bucket = np.bincount((ts - start_ns) // st.bucket_ns, minlength=n_buckets).tolist()
        # bit length of each size: 0 -> 0, 1 -> 1, 2-3 -> 2, 4-7 -> 3, ...
        bits = np.zeros(st.messages, dtype=np.int64)
        nz = ordered > 0
        bits[nz] = np.floor(np.log2(ordered[nz])).astype(np.int64) + 1
        by_bits = dict(zip(*(x.tolist() for x in np.unique(bits, return_counts=True))))
    else:
        counts = collections.Counter((t - start_ns) // st.bucket_ns for t in ts)
        per_bucket = [counts.get(i, 0) for i in range(n_buckets)]
        by_bits = collections.Counter(s.bit_length() for s in ordered)
    st.rate = [(start_ns + i * st.bucket_ns, int(c)) for i, c in enumerate(per_bucket)]
    st.sizes = [(0 if b == 0 else 1 << (b - 1), 0 if b == 0 else (1 << b) - 1, int(c)) for b, c in sorted(by_bits.items())]
    return st


def _numpy() -> Any:
    """NumPy when installed (the fast path), else None."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _columns_numpy(np: Any, cur: Cursor, last: int, types: Optional[Set[int]], progress: Optional[ProgressFn]) -> Tuple[Any, Any, Any, Dict[int, int]]:
    """seqs, timestamps, sizes and per-type counts, many records at a time."""
    wanted = np.array(sorted(types), dtype=np.uint32) if types else None
    parts = []
    while cur.next_seq <= last:
        _seg, raw = cur.read_raw()
        if not raw:
            break
        a = np.frombuffer(raw, dtype=REC_INFO_DTYPE)
        a = a[a["seq"] <= last]
        if progress:
            progress(len(a))
        parts.append(a if wanted is None else a[np.isin(a["type_id"], wanted)])
    a = np.concatenate(parts) if parts else np.zeros(0, dtype=REC_INFO_DTYPE)
    kinds, counts = np.unique(a["type_id"], return_counts=True)
    return a["seq"], a["timestamp_ns"].astype(np.int64), a["length"].astype(np.int64), dict(zip(kinds.tolist(), counts.tolist()))


def _columns_python(cur: Cursor, last: int, types: Optional[Set[int]], progress: Optional[ProgressFn]) -> Tuple[Any, Any, Any, Dict[int, int]]:
    seqs: "array[int]" = array("Q")
    ts: "array[int]" = array("q")
    sizes: "array[int]" = array("I")
    kinds: Counter[int] = collections.Counter()
    while cur.next_seq <= last:
        _seg, recs = cur.read()
        if not recs:
            break
        if progress:
            progress(len(recs))
        for rec in recs:
            if rec.seq > last:
                break
            if types and rec.type_id not in types:
                continue
            seqs.append(rec.seq)
            ts.append(rec.timestamp_ns)
            sizes.append(rec.length)
            kinds[rec.type_id] += 1
    return seqs, ts, sizes, dict(kinds)


def plot(st: Stats, to: str, title: str) -> None:
    """Save the rate and size charts as an image (matplotlib, the ``plot`` extra)."""
    mpl: Any = require("matplotlib", "--plot", "plot")
    mpl.use("Agg")
    plt: Any = require("matplotlib.pyplot", "--plot", "plot")
    fig, (ax_rate, ax_size) = plt.subplots(2, 1, figsize=(10, 7))
    try:
        secs = st.bucket_ns / 1e9
        xs = [(t - st.rate[0][0]) / 1e9 for t, _ in st.rate] if st.rate else []
        ax_rate.bar(xs, [c / secs for _, c in st.rate], width=secs, align="edge")
        ax_rate.set_xlabel("seconds since the first message")
        ax_rate.set_ylabel("messages / s")
        ax_rate.set_title(title)
        labels = [f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi, _ in st.sizes]
        ax_size.bar(range(len(st.sizes)), [c for _, _, c in st.sizes], tick_label=labels)
        ax_size.set_xlabel("payload bytes")
        ax_size.set_ylabel("messages")
        fig.tight_layout()
        fig.savefig(to)
    finally:
        plt.close(fig)
