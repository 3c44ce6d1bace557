"""pytest-benchmark micro-benchmarks of the Python API's hot calls.

Run by bench/run.py (``make bench``), or on its own:
    .venv/bin/python -m pytest bench/test_micro.py
Not part of ``make test`` (its tests live in tests/).

Each round times many calls (``iterations``), so the timer's own cost is
spread over them; the rounds and iterations are fixed, so every run does the
same work and next() never runs out of messages (pytest-benchmark may make
one more call to capture the result, hence the >= in the checks).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from chronicle import Publisher, Queue, Subscriber

from .timing import settle

ROUNDS = 50
ITERATIONS = {32: 10_000, 1024: 1_000}  # 1 KiB: fewer, to stay within one segment
BATCH = 1024


@pytest.fixture
def publisher(tmp_path: Path) -> Iterator[Publisher]:
    with Queue.open_publisher(os.fspath(tmp_path / "queue")) as pub:
        settle()  # the segment helper pre-faults segments after an open
        yield pub


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[Subscriber]:
    """A subscriber of a queue holding (ROUNDS + 2) x 10 000 messages of 32 B."""
    path = os.fspath(tmp_path / "queue")
    with Queue.open_publisher(path) as pub:
        for _ in range(ROUNDS + 2):
            pub.append_many(1, [bytes(32)] * ITERATIONS[32])
    with Queue.open_subscriber(path, "micro") as sub:
        yield sub


@pytest.mark.parametrize("size", [32, 1024])
def test_append(benchmark: Any, publisher: Publisher, size: int) -> None:
    seq = benchmark.pedantic(publisher.append, args=(1, bytes(size)), rounds=ROUNDS,
                             iterations=ITERATIONS[size], warmup_rounds=1)
    assert seq >= (ROUNDS + 1) * ITERATIONS[size] - 1  # every timed call appended


def test_append_many(benchmark: Any, publisher: Publisher) -> None:
    items = [bytes(32)] * BATCH
    first = benchmark.pedantic(publisher.append_many, args=(1, items), rounds=ROUNDS, iterations=10,
                               warmup_rounds=1)
    assert first >= (ROUNDS + 1) * 10 * BATCH - BATCH


def test_next(benchmark: Any, filled: Subscriber) -> None:
    msg = benchmark.pedantic(filled.next, rounds=ROUNDS, iterations=ITERATIONS[32], warmup_rounds=1)
    assert msg is not None and msg.seq >= (ROUNDS + 1) * ITERATIONS[32] - 1


def test_next_batch(benchmark: Any, filled: Subscriber) -> None:
    msgs = benchmark.pedantic(filled.next_batch, args=(BATCH,), rounds=ROUNDS, iterations=5, warmup_rounds=1)
    assert len(msgs) == BATCH and msgs[-1].seq >= (ROUNDS + 1) * 5 * BATCH - 1
