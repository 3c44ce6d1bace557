"""Archive throughput and compression ratio, beside the zstd command-line tool.

A queue is filled with a realistic feed — ticks whose prices follow a random
walk per symbol, with exchange times, quantities and sides — and its sealed
segments are archived to a fresh directory at zstd levels 1, 3 and 9. Each
figure is the archiver end to end: compress while streaming from the mapped
segment, sha256 of raw and compressed bytes, write and fsync, read back and
check, write the manifest entry. The reference is ``zstd -T1 -LEVEL`` (one
thread, like the archiver) on the same segment files, warm in the page cache;
it is skipped with a note where the tool is not installed
(``apt-get install zstd``).

From Python::

    from bench import bench_archive
    results = bench_archive.run(quick=False)   # a dict, see run()

From the shell (prints the dict as JSON)::

    .venv/bin/python bench/bench_archive.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LEVELS = (1, 3, 9)
_TICK = struct.Struct("<IdqIB")  # symbol id, price, exchange time (ns), quantity, side


def fill_queue(path: str, segment_size: int, segments: int, seed: int = 1) -> int:
    """Append ticks until `segments` segments are sealed; returns the message count."""
    from chronicle import Queue

    rng = random.Random(seed)
    symbols = 16
    prices = [50.0 + 25.0 * s for s in range(symbols)]
    t = time.time_ns()
    per_segment = segment_size // (32 + 32)  # a 25-byte tick takes a 64-byte record
    n = per_segment * segments + per_segment // 2
    batch: List[bytes] = []
    with Queue.open_publisher(path, segment_size=segment_size) as pub:
        for i in range(n):
            s = rng.randrange(symbols)
            prices[s] = max(0.01, prices[s] + rng.gauss(0.0, 0.02 * (1 + s % 4)))
            t += rng.randrange(500, 50_000)
            batch.append(_TICK.pack(s, round(prices[s], 2), t, rng.randrange(1, 1000), rng.randrange(2)))
            if len(batch) == 4096 or i == n - 1:
                pub.append_many(1, batch)
                batch = []
    return n


def _archive_once(queue: str, target: str, level: int) -> Dict[str, float]:
    from chronicle.archive.archiver import Archiver

    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    with Archiver(queue, target, level=level) as archiver:
        result = archiver.run_pass()
    seconds = time.perf_counter() - started
    raw = sum(a.raw_size for a in result.archived)
    packed = sum(a.compressed_size for a in result.archived)
    return {"seconds": seconds, "raw_bytes": raw, "compressed_bytes": packed}


def _zstd_cli_once(files: List[str], out_dir: str, level: int) -> Dict[str, float]:
    packed = 0
    started = time.perf_counter()
    for i, f in enumerate(files):
        out = os.path.join(out_dir, f"{i}.zst")
        subprocess.run(["zstd", "-q", "-f", "-T1", f"-{level}", f, "-o", out], check=True)
        packed += os.path.getsize(out)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "raw_bytes": sum(os.path.getsize(f) for f in files), "compressed_bytes": packed}


def _median_run(fn: Any, reps: int) -> Dict[str, float]:
    runs = sorted((fn() for _ in range(reps)), key=lambda r: r["seconds"])
    return runs[len(runs) // 2]


def _figures(r: Dict[str, float]) -> Dict[str, float]:
    return {
        "mb_s": r["raw_bytes"] / r["seconds"] / 1e6,
        "ratio": r["raw_bytes"] / r["compressed_bytes"] if r["compressed_bytes"] else 0.0,
        "seconds": r["seconds"],
    }


def run(quick: bool = False, workdir: Optional[str] = None) -> Dict[str, Any]:
    """Measure, and return::

        {"segment_size", "segments", "messages", "raw_bytes",
         "levels": {"1": {"archive": {"mb_s", "ratio", "seconds"},
                          "zstd_cli": {...} or None}, "3": ..., "9": ...},
         "zstd_cli": version line or None, "note": why the reference is missing}

    ``mb_s`` is MB (10^6 bytes) of raw segment per second; ``ratio`` is raw
    bytes over compressed bytes.
    """
    segment_size = (4 if quick else 16) << 20
    segments = 3 if quick else 6
    reps = 1 if quick else 3
    zstd_path = shutil.which("zstd")
    version = None
    if zstd_path:
        version = subprocess.run(["zstd", "-V"], capture_output=True, text=True).stdout.strip() or "zstd"
    with tempfile.TemporaryDirectory(prefix="chron-bench-archive-", dir=workdir) as tmp:
        queue = os.path.join(tmp, "q")
        messages = fill_queue(queue, segment_size, segments)
        from chronicle.tools.view import QueueView

        sealed = [s.path for s in QueueView(queue).activated()[:-1]]
        levels: Dict[str, Any] = {}
        raw_bytes = 0
        for level in LEVELS:
            target = os.path.join(tmp, f"archive-{level}")
            mine = _median_run(lambda: _archive_once(queue, target, level), reps)
            raw_bytes = int(mine["raw_bytes"])
            ref = None
            if zstd_path:
                out_dir = os.path.join(tmp, f"cli-{level}")
                os.makedirs(out_dir, exist_ok=True)
                ref = _figures(_median_run(lambda: _zstd_cli_once(sealed, out_dir, level), reps))
            levels[str(level)] = {"archive": _figures(mine), "zstd_cli": ref}
    return {
        "segment_size": segment_size,
        "segments": len(sealed),
        "messages": messages,
        "raw_bytes": raw_bytes,
        "levels": levels,
        "zstd_cli": version,
        "note": None if zstd_path else "zstd command-line tool not installed (apt-get install zstd): no reference",
    }


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller queue, one repetition")
    args = ap.parse_args(argv)
    print(json.dumps(run(quick=args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
