"""Run Chronicle's benchmarks (``make bench`` / ``make bench-quick``).

Prints one Markdown table (every figure beside its reference, and each SPEC
section 7 target with met/missed), writes the results as JSON to
bench/results/<date>-<host>.json (…-quick.json for the quick run) and a
latency plot beside it (PNG). docs/PERFORMANCE.md explains the method.

    .venv/bin/python bench/run.py [--quick] [--dir DIR] [--out DIR] [--only PARTS]

The C programs must be built first (``make bench-bin``; ``make bench`` does).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
# import the benchmark modules as the package `bench`, never as top-level
# modules that could shadow the standard library
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path.pop(0)
sys.path.insert(0, str(ROOT))

from bench import bench_archive, bench_bridge, bench_python_api, c_suite, machine, plot, py_ipc, report, syscall_count  # noqa: E402
from bench.profiles import FULL, QUICK, Profile  # noqa: E402
from bench.timing import usable_cpus  # noqa: E402

PARTS = ("c", "syscalls", "py", "micro", "ipc", "archive", "bridge")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def micro(root: Path) -> Dict[str, Any]:
    """The pytest-benchmark micro-benchmarks: median ns per call."""
    with tempfile.TemporaryDirectory(prefix="chron-bench-micro-") as tmp:
        out = Path(tmp) / "micro.json"
        run = subprocess.run([sys.executable, "-m", "pytest", str(root / "bench" / "test_micro.py"), "-q",
                              "-p", "no:cacheprovider", f"--benchmark-json={out}",
                              "--benchmark-columns=median,iqr,ops"],
                             cwd=root, capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            raise RuntimeError("pytest-benchmark run failed:\n" + run.stdout[-2000:] + run.stderr[-2000:])
        data = json.loads(out.read_text())
    return {b["name"].replace("test_", ""): {"median_ns": b["stats"]["median"] * 1e9, "ops": b["stats"]["ops"],
                                            "rounds": b["stats"]["rounds"], "iterations": b["stats"]["iterations"]}
            for b in data["benchmarks"]}


def run_all(p: Profile, parts: List[str], bench_dir: str) -> Dict[str, Any]:
    cpus = usable_cpus()
    pub_cpu: Optional[int] = cpus[0] if len(cpus) >= 2 else None
    sub_cpu: Optional[int] = cpus[1] if len(cpus) >= 2 else None
    results: Dict[str, Any] = {
        "format": 1,
        "profile": p.name,
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine.describe(bench_dir, ROOT),
        "cpus": {"publisher": pub_cpu, "subscriber": sub_cpu},
        "profile_settings": p.__dict__,
    }
    if pub_cpu is None:
        log("fewer than 2 usable CPUs: processes are not pinned, cross-process figures mean little")
    started = time.monotonic()
    other_work = machine.OtherWork()
    if "c" in parts:
        suite = c_suite.CSuite(ROOT, bench_dir, pub_cpu, sub_cpu, log)
        missing = suite.missing()
        if missing:
            raise SystemExit(f"C benchmark programs missing ({', '.join(missing)}): run `make bench-bin` first")
        sub_cpus = [c for c in cpus if c != pub_cpu] or cpus
        results["c"] = suite.all(p, sub_cpus)
    if "syscalls" in parts:
        log("system calls per 1 M appends and reads (strace)")
        if not syscall_count.strace_available():
            results["syscalls"] = {"skipped": "strace is not installed"}
        else:
            try:
                results["syscalls"] = syscall_count.measure(ROOT, bench_dir, p.syscall_count)
            except RuntimeError as e:  # e.g. ptrace not permitted in a container
                results["syscalls"] = {"skipped": str(e).splitlines()[0][:200]}
    if "py" in parts:
        log("Python API: appends and drains against struct floors, asyncio latency, DataFrames")
        results["py_api"] = bench_python_api.run(quick=p is QUICK)
    if "micro" in parts:
        log("pytest-benchmark micro-benchmarks")
        results["py_micro"] = micro(ROOT)
    if "ipc" in parts:
        log("Python, two processes: Chronicle against multiprocessing.Queue, Pipe and pyzmq ipc://")
        if not py_ipc.zmq_available():
            log("  pyzmq is not installed (the bench extra): zmq-ipc left out")
        results["py_ipc"] = py_ipc.measure(p.ipc_throughput_count, p.ipc_latency_count, p.ipc_latency_interval_ns,
                                           (pub_cpu, sub_cpu), bench_dir, log,
                                           sustained_bytes=p.ipc_sustained_bytes)
    if "archive" in parts:
        log("archive: sealed segments compressed with zstd, against the zstd tool")
        results["archive"] = bench_archive.run(quick=p is QUICK, workdir=bench_dir)
    if "bridge" in parts:
        log("NATS bridge: queue A -> bridge out -> JetStream -> bridge in -> queue B, against bare nats-py")
        try:
            results["bridge"] = bench_bridge.run(quick=p is QUICK, log=log)
        except ImportError as e:  # the bridge extra is not installed
            results["bridge"] = {"skipped": str(e)}
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["machine"]["other_work_share"] = other_work.share()
    return results


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the short run (under two minutes)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where queues are created (default: %(default)s)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="results directory")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    a = ap.parse_args(argv)
    parts = [x.strip() for x in a.only.split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts: {', '.join(sorted(unknown))}")
    profile = QUICK if a.quick else FULL
    log(f"Chronicle benchmarks ({profile.name}), queues under {a.dir}")
    results = run_all(profile, parts, a.dir)
    table = report.build(results)
    results["targets"] = table.targets
    results["table_markdown"] = table.markdown()

    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{results['date'][:10]}-{results['machine']['host']}" + ("-quick" if a.quick else "")
    json_path = out_dir / f"{stem}.json"
    png_path = out_dir / f"{stem}.png"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    drew = plot.draw(results, png_path)

    print(f"\nChronicle benchmarks ({profile.name} run, {results['date']}, {results['duration_s']} s)")
    print(f"Machine: {machine.one_line(results['machine'])}")
    busy = machine.busy_warning(results["machine"])
    print(f"{busy}\n" if busy else "")
    print(table.markdown())
    met = sum(1 for t in table.targets if t["met"])
    print(f"\nTargets met: {met} of {len(table.targets)}.")
    print(f"Results: {json_path}")
    print(f"Plot: {png_path}" if drew else "Plot: not drawn (matplotlib is missing: install the bench extra)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
