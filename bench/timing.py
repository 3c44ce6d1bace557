"""Helpers shared by the Python benchmarks: CPU pinning, waiting for the
writer's helper thread to go quiet, and latency percentiles."""
from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Sequence

# percentiles reported everywhere, and their keys in the results
PERCENTILES = ((50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99_9"), (99.99, "p99_99"))
# the percentile spectrum for plots: p = 100 * (1 - 10^-x), x = 0, 0.1, ... 6
SPECTRUM = [100.0 * (1.0 - 10.0 ** (-i / 10.0)) for i in range(61)]


def usable_cpus() -> List[int]:
    """The CPUs this process may run on, ascending."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def pin(cpu: Optional[int]) -> bool:
    """Pin the calling process to one CPU; False where that is not possible."""
    if cpu is None:
        return False
    try:
        os.sched_setaffinity(0, {cpu})
        return True
    except (AttributeError, OSError):
        return False


def _other_threads_ticks() -> Optional[int]:
    me = str(getattr(os, "gettid", lambda: -1)())
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    total = 0
    for tid in tids:
        if tid == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def settle(quiet_s: float = 0.1, max_s: float = 5.0) -> float:
    """Wait until the other threads of this process (the publisher's segment
    helper pre-faults segments after an open) used no CPU for ``quiet_s``.
    Returns the seconds waited."""
    t0 = time.monotonic()
    last = _other_threads_ticks()
    if last is None:
        time.sleep(quiet_s)
        return quiet_s
    quiet_since = t0
    while True:
        time.sleep(0.01)
        now = time.monotonic()
        ticks = _other_threads_ticks()
        if ticks != last:
            last, quiet_since = ticks, now
        if now - quiet_since >= quiet_s or now - t0 >= max_s:
            return now - t0


def percentile(sorted_values: Sequence[int], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    n = len(sorted_values)
    if n == 0:
        return float("nan")
    rank = max(1, min(n, int(-(-p * n // 100))))  # ceil(p/100 * n)
    return float(sorted_values[rank - 1])


def latency_summary(values: List[int]) -> Dict[str, object]:
    """count/min/mean/percentiles/max and the plot spectrum of latencies in ns."""
    v = sorted(values)
    out: Dict[str, object] = {
        "count": len(v),
        "min": float(v[0]) if v else float("nan"),
        "mean": sum(v) / len(v) if v else float("nan"),
    }
    for p, key in PERCENTILES:
        out[key] = percentile(v, p)
    out["max"] = float(v[-1]) if v else float("nan")
    out["spectrum_pct"] = SPECTRUM
    out["spectrum_ns"] = [percentile(v, p) if p > 0 else out["min"] for p in SPECTRUM]
    return out


def median(values: Sequence[float]) -> float:
    v = sorted(values)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
