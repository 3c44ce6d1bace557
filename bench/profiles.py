"""Sizes and counts of every benchmark, for ``make bench`` (full) and
``make bench-quick``. Fixed numbers, so that runs are comparable."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # C append throughput: messages per repetition, repetitions
    append_count_32: int
    append_count_1k: int
    append_reps: int
    append_sustained_32: int        # messages appended in one go, across several segments
    # C one-way latency: measured messages (after `latency_warmup`)
    latency_count: int
    latency_warmup: int
    latency_interval_ns: int        # paced rate of the spinning reader and the raw reference
    futex_count: int
    futex_interval_ns: int          # paced rate of the sleeping reader
    # C cross-process throughput
    fanout_count: int
    # roll latency: 16 MiB segments, full speed and paced
    roll_count: int
    roll_segment_size: int
    roll_interval_ns: int
    # system calls (strace)
    syscall_count: int
    # Python, two processes
    ipc_throughput_count: int
    ipc_latency_count: int
    ipc_latency_interval_ns: int
    ipc_sustained_bytes: int        # Chronicle alone streaming through new segments (0: not run)


FULL = Profile(
    name="full",
    append_count_32=2_000_000,
    append_count_1k=100_000,
    append_reps=7,
    append_sustained_32=8_000_000,
    latency_count=1_000_000,
    latency_warmup=20_000,
    latency_interval_ns=5_000,
    futex_count=1_000_000,
    futex_interval_ns=20_000,
    fanout_count=4_000_000,
    roll_count=4_000_000,
    roll_segment_size=16 << 20,
    roll_interval_ns=200,
    syscall_count=1_000_000,
    ipc_throughput_count=500_000,
    ipc_latency_count=100_000,
    ipc_latency_interval_ns=100_000,
    ipc_sustained_bytes=1 << 30,
)

QUICK = Profile(
    name="quick",
    append_count_32=1_000_000,
    append_count_1k=50_000,
    append_reps=5,
    append_sustained_32=4_000_000,
    latency_count=200_000,
    latency_warmup=10_000,
    latency_interval_ns=5_000,
    futex_count=50_000,
    futex_interval_ns=20_000,
    fanout_count=1_000_000,
    roll_count=2_000_000,
    roll_segment_size=16 << 20,
    roll_interval_ns=200,
    syscall_count=1_000_000,
    ipc_throughput_count=200_000,
    ipc_latency_count=10_000,
    ipc_latency_interval_ns=100_000,
    ipc_sustained_bytes=0,
)
