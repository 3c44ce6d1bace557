"""A description of the machine a benchmark ran on, for the results and the
table: numbers from a laptop, a VM and a tuned server are not comparable."""
from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .timing import usable_cpus


def _read(path: str) -> Optional[str]:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _fs_type(path: str) -> str:
    """File system type of the mount holding ``path`` (longest prefix wins)."""
    mounts = _read("/proc/mounts")
    if not mounts:
        return "unknown"
    real = os.path.realpath(path)
    best, kind = "", "unknown"
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3 and (real == parts[1] or real.startswith(parts[1].rstrip("/") + "/")):
            if len(parts[1]) >= len(best):
                best, kind = parts[1], parts[2]
    return kind


def _command(args: List[str]) -> Optional[str]:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def load_average() -> List[float]:
    """1, 5 and 15 minute load averages (runnable tasks, Linux counts D state too)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [float("nan")] * 3


def _cpu_ticks() -> Optional[List[int]]:
    """(busy, steal) clock ticks of all CPUs since boot, from /proc/stat."""
    line = (_read("/proc/stat") or "").split("\n", 1)[0].split()
    if not line or line[0] != "cpu":
        return None
    v = [int(x) for x in line[1:9]]  # user nice system idle iowait irq softirq steal
    return [v[0] + v[1] + v[2] + v[5] + v[6], v[7]]


def _own_cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class OtherWork:
    """How much CPU other processes (and the hypervisor, as steal) took while
    the benchmarks ran: the machine's busy time less our own and our
    children's. Spinning benchmarks are preempted by any such work."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.ticks0 = _cpu_ticks()
        self.own0 = _own_cpu_s()

    def share(self) -> Dict[str, float]:
        ticks = _cpu_ticks()
        if ticks is None or self.ticks0 is None:
            return {}
        hz = os.sysconf("SC_CLK_TCK")
        capacity = (time.monotonic() - self.t0) * len(usable_cpus())
        busy = (ticks[0] - self.ticks0[0]) / hz
        steal = (ticks[1] - self.ticks0[1]) / hz
        others = max(0.0, busy - (_own_cpu_s() - self.own0))
        return {"other_processes": round(others / capacity, 3), "steal": round(steal / capacity, 3)}


def busy_warning(m: Dict[str, Any]) -> str:
    """A warning line when other work took a noticeable share of the CPUs."""
    share = m.get("other_work_share") or {}
    others = share.get("other_processes", 0.0) + share.get("steal", 0.0)
    if others < 0.05:
        return ""
    return (f"Warning: other work took {others:.0%} of the CPUs during the run (other processes "
            f"{share.get('other_processes', 0):.0%}, hypervisor steal {share.get('steal', 0):.0%}): "
            "spinning processes were preempted, and tail latencies show it.")


def describe(bench_dir: str, root: Path) -> Dict[str, Any]:
    flags = _cpu_flags()
    mem_kb = 0
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "host": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "virtualized": "hypervisor" in flags,
        "invariant_tsc": {"constant_tsc", "nonstop_tsc"} <= flags,
        "clocksource": _read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "isolated_cpus": _read("/sys/devices/system/cpu/isolated"),
        "memory_gib": round(mem_kb / 2**20, 1),
        "load_avg_at_start": load_average(),
        "bench_dir_fs": _fs_type(bench_dir),
        "python": platform.python_version(),
        "compiler": _command([os.environ.get("CC", "cc"), "--version"]),
        "commit": _command(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]),
        "tree_modified": bool(_command(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])),
    }


def one_line(m: Dict[str, Any]) -> str:
    """The machine in one line, for the table's caption."""
    cpus = m["usable_cpus"]
    kind = "VM" if m["virtualized"] else "bare metal"
    return (
        f"{m['cpu']}, {len(cpus)} usable CPUs ({kind}), {m['memory_gib']} GiB, {m['os']}, "
        f"clocksource {m['clocksource']}, queue files on {m['bench_dir_fs']}, Python {m['python']}, "
        f"load average at start {m['load_avg_at_start'][0]}, commit {m['commit']}"
        + (" (modified)" if m["tree_modified"] else "")
    )
