"""The latency plot: percentile spectra (HdrHistogram style) of one-way
latency, C on the left, Python on the right. The x axis stretches the tail:
each step is one more nine (90 %, 99 %, 99.9 % ...)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Tuple

Curve = Tuple[str, Dict[str, Any]]


def _nines(pct: float) -> float:
    return -math.log10(max(1e-7, 1.0 - pct / 100.0))


def _curves(results: Dict[str, Any]) -> Tuple[List[Curve], List[Curve]]:
    c = results.get("c", {})
    c_curves: List[Curve] = []
    for key, label in (("lat_raw_paced", "raw cache-line ping-pong (the limit)"),
                       ("lat_spin_paced", "Chronicle, spinning reader"),
                       ("lat_futex_paced", "Chronicle, sleeping (futex) reader"),
                       ("lat_spin_full", "Chronicle, spinning reader, full speed")):
        if key in c:
            r = c[key]
            pace = "" if r["interval_ns"] <= 0 else f", one per {r['interval_ns'] / 1000:g} µs"
            c_curves.append((label + pace, r["latency_ns"]))
    ipc = results.get("py_ipc", {})
    py_curves = [(k.split("/")[0], v["latency_ns"]) for k, v in ipc.items() if k.endswith("/32/latency")]
    return c_curves, py_curves


def draw(results: Dict[str, Any], path: Path) -> bool:
    """Write the PNG; False if matplotlib is missing or there is nothing to draw."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    c_curves, py_curves = _curves(results)
    panels = [(t, cs) for t, cs in (("C, 32 B, two processes on two CPUs", c_curves),
                                     ("Python, 32 B, two processes on two CPUs", py_curves)) if cs]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.0), squeeze=False)
    ticks = [0, 1, 2, 3, 4, 5, 6]
    labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
    for ax, (title, curves) in zip(axes[0], panels):
        top = 0.0
        for label, h in curves:
            xs = [_nines(p) for p in h["spectrum_pct"]]
            ys = [max(v, 1.0) / 1000.0 for v in h["spectrum_ns"]]
            # stop each curve where its samples run out
            limit = math.log10(max(h["count"], 1))
            pts = [(x, y) for x, y in zip(xs, ys) if x <= limit + 1e-9]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, linewidth=1.4)
            top = max(top, limit)
        ax.set_yscale("log")
        ax.set_xticks([t for t in ticks if t <= math.ceil(top)])
        ax.set_xticklabels([lab for t, lab in zip(ticks, labels) if t <= math.ceil(top)])
        ax.set_xlabel("percentile")
        ax.set_ylabel("one-way latency (µs, log)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    machine = results.get("machine", {})
    fig.suptitle(f"Chronicle one-way latency — {results.get('date', '')[:10]}, {machine.get('cpu', '')}, "
                 f"{len(machine.get('usable_cpus', []))} CPUs ({results.get('profile', '')} run)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
