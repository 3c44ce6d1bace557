"""Runs the C benchmark programs (built by ``make bench-bin`` into
build/bench/) and collects the JSON lines they print."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .profiles import Profile

Result = Dict[str, Any]


class CSuite:
    def __init__(self, root: Path, bench_dir: str, pub_cpu: Optional[int], sub_cpu: Optional[int],
                 log: Callable[[str], None]) -> None:
        self.bin = root / "build" / "bench"
        self.dir = bench_dir
        self.pub_cpu = -1 if pub_cpu is None else pub_cpu
        self.sub_cpu = -1 if sub_cpu is None else sub_cpu
        self.log = log

    def missing(self) -> List[str]:
        names = ["append", "latency", "fanout", "roll", "syscalls"]
        return [n for n in names if not (self.bin / n).exists()]

    def run(self, program: str, *args: str, timeout: float = 600) -> Result:
        cmd = [str(self.bin / program), f"--dir={self.dir}", *args]
        self.log("  $ " + " ".join(cmd[0:1] + cmd[2:]))
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{program} failed ({out.returncode}): {out.stderr.strip()}")
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if len(lines) != 1:
            raise RuntimeError(f"{program} printed {len(lines)} results, expected 1")
        result: Result = json.loads(lines[0])
        return result

    def append(self, size: int, count: int, reps: int, sustained: int = 0) -> Result:
        return self.run("append", f"--size={size}", f"--count={count}", f"--reps={reps}",
                        f"--sustained={sustained}", f"--cpu={self.pub_cpu}")

    def latency(self, mode: str, count: int, warmup: int, interval_ns: int) -> Result:
        return self.run("latency", f"--mode={mode}", f"--count={count}", f"--warmup={warmup}",
                        f"--interval={interval_ns}", f"--pub-cpu={self.pub_cpu}", f"--sub-cpu={self.sub_cpu}")

    def fanout(self, readers: int, count: int, sub_cpus: List[int]) -> Result:
        cpus = ",".join(str(c) for c in sub_cpus) if sub_cpus else ""
        return self.run("fanout", f"--readers={readers}", f"--count={count}",
                        f"--pub-cpu={self.pub_cpu}", f"--sub-cpus={cpus}")

    def roll(self, count: int, segment_size: int, interval_ns: int) -> Result:
        return self.run("roll", f"--count={count}", f"--segment-size={segment_size}",
                        f"--interval={interval_ns}", f"--cpu={self.pub_cpu}")

    def all(self, p: Profile, sub_cpus: List[int]) -> Dict[str, Result]:
        """Every C benchmark of the profile, keyed by a stable name."""
        r: Dict[str, Result] = {}
        self.log("C: append throughput against a raw memcpy into a mapped file")
        r["append_32"] = self.append(32, p.append_count_32, p.append_reps, p.append_sustained_32)
        r["append_1k"] = self.append(1024, p.append_count_1k, p.append_reps)
        self.log("C: one-way latency, publisher and subscriber in two processes")
        pace = p.latency_interval_ns
        r["lat_raw_paced"] = self.latency("raw", p.latency_count, p.latency_warmup, pace)
        r["lat_spin_paced"] = self.latency("spin", p.latency_count, p.latency_warmup, pace)
        r["lat_raw_full"] = self.latency("raw", p.latency_count, p.latency_warmup, 0)
        r["lat_spin_full"] = self.latency("spin", p.latency_count, p.latency_warmup, 0)
        r["lat_futex_paced"] = self.latency("futex", p.futex_count, p.latency_warmup, p.futex_interval_ns)
        r["lat_futex_full"] = self.latency("futex", p.latency_count, p.latency_warmup, 0)
        self.log("C: cross-process throughput with 1 and 4 subscribers")
        r["fanout_1"] = self.fanout(1, p.fanout_count, sub_cpus)
        r["fanout_4"] = self.fanout(4, p.fanout_count, sub_cpus)
        self.log("C: latency of appends that roll a segment")
        r["roll_paced"] = self.roll(p.roll_count, p.roll_segment_size, p.roll_interval_ns)
        r["roll_full"] = self.roll(p.roll_count, p.roll_segment_size, 0)
        return r
