"""System calls per N appends and per N reads, counted with strace.

The workloads (bench/c/syscalls.c, bench/syscall_workload.py) fence the
measured loop with write(-1, "chronicle-bench:begin") and
write(-1, "chronicle-bench:end"); only the calls between the two markers are
counted, split into the thread that appends or reads and every other thread
(the publisher's segment helper).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

CALL = re.compile(r"^(\d+)\s+([a-z_0-9]+)\(")
BEGIN, END = "chronicle-bench:begin", "chronicle-bench:end"


def count_between_markers(trace: str) -> Dict[str, Any]:
    """Calls between the markers: in the marking thread and in the others."""
    main: Counter[str] = Counter()
    other: Counter[str] = Counter()
    main_pid: Optional[str] = None
    inside = False
    for line in trace.splitlines():
        m = CALL.match(line)
        if not m:
            continue  # "<... resumed>", signals, exits: counted at their start
        pid, name = m.groups()
        if BEGIN in line:
            inside, main_pid = True, pid
            continue
        if END in line:
            break
        if inside:
            (main if pid == main_pid else other)[name] += 1
    if main_pid is None:
        raise RuntimeError("no begin marker in the trace")
    return {
        "calls_main": sum(main.values()),
        "calls_other": sum(other.values()),
        "by_name_main": dict(main.most_common()),
        "by_name_other": dict(other.most_common()),
    }


def strace_available() -> bool:
    return shutil.which("strace") is not None


def traced(cmd: List[str], cwd: Path, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Run ``cmd`` under strace; the counts plus the JSON line it printed."""
    with tempfile.TemporaryDirectory(prefix="chron-bench-strace-") as tmp:
        out_path = os.path.join(tmp, "trace.txt")
        run = subprocess.run(["strace", "-f", "-qq", "-o", out_path, *cmd], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"strace {cmd[0]} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
        with open(out_path, errors="replace") as f:
            counts = count_between_markers(f.read())
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    info = json.loads(lines[-1]) if lines else {}
    counts.update({k: info[k] for k in ("count", "segments", "segment_size", "size") if k in info})
    return counts


# small segments, so that 1 M messages of 32 B cross a few rolls
SEGMENT_SIZE = 16 << 20


def measure(root: Path, bench_dir: str, count: int, segment_size: int = SEGMENT_SIZE) -> Dict[str, Dict[str, Any]]:
    binary = str(root / "build" / "bench" / "syscalls")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    common = [f"--count={count}", f"--segment-size={segment_size}", f"--dir={bench_dir}"]
    py = [sys.executable, "-m", "bench.syscall_workload"]
    return {
        "c_append": traced([binary, "--mode=append", *common], root),
        "c_read": traced([binary, "--mode=read", *common], root),
        "py_append": traced([*py, "--mode=append", *common], root, env),
        "py_read": traced([*py, "--mode=read", *common], root, env),
    }
