"""SPEC §4/§8, files on disk: owner-only permissions by default, a
configurable mode, and names that cannot leave the queue directory."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from chronicle import Queue
from conftest import SMALL_SEGMENT


def modes(root: Path) -> Dict[str, int]:
    """Permission bits of root and everything below it, by relative path."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = stat.S_IMODE(p.stat().st_mode)
    return out


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def make_queue(qdir: Path, **kw: Any) -> None:
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT, **kw) as pub:
        pub.append(1, b"x")
    with Queue.open_subscriber(qdir, "reader", **kw) as sub:
        sub.next()
        sub.commit()


def test_created_files_are_owner_only_by_default(tmp_path: Path, umask_022: None) -> None:
    qdir = tmp_path / "parent" / "queue"
    make_queue(qdir)
    found = modes(qdir)
    assert {"queue.meta", "writer.lock", "readers", "readers/reader.pos"} <= found.keys()
    assert any(name.endswith(".seg") for name in found)
    for name, mode in found.items():
        want = 0o700 if (qdir / name).is_dir() else 0o600
        assert mode == want, f"{name}: {oct(mode)}"
    assert stat.S_IMODE((tmp_path / "parent").stat().st_mode) == 0o700  # created parents too


def test_subscriber_first_also_creates_owner_only_files(tmp_path: Path, umask_022: None) -> None:
    qdir = tmp_path / "queue"
    with Queue.open_subscriber(qdir, "early") as sub:
        sub.commit()
    for name, mode in modes(qdir).items():
        assert mode == (0o700 if (qdir / name).is_dir() else 0o600), name


def test_file_mode_is_honoured(tmp_path: Path, umask_022: None) -> None:
    qdir = tmp_path / "queue"
    make_queue(qdir, file_mode=0o640)
    for name, mode in modes(qdir).items():
        assert mode == (0o750 if (qdir / name).is_dir() else 0o640), f"{name}: {oct(mode)}"


def test_file_mode_wins_over_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        make_queue(tmp_path / "queue", file_mode=0o640)
    finally:
        os.umask(old)
    for name, mode in modes(tmp_path / "queue").items():
        if not (tmp_path / "queue" / name).is_dir():
            assert mode == 0o640, f"{name}: {oct(mode)}"


def test_later_files_keep_the_mode_chosen_at_creation(tmp_path: Path, umask_022: None) -> None:
    qdir = tmp_path / "queue"
    with Queue.open_publisher(qdir, segment_size=SMALL_SEGMENT, file_mode=0o640) as pub:
        pub.append(1, b"x")
    with Queue.open_publisher(qdir) as pub:  # no file_mode: the queue's own
        for _ in range(200):
            pub.append(1, b"y" * 1000)  # rolls to new segments
    with Queue.open_subscriber(qdir, "later") as sub:
        sub.commit()
    for name, mode in modes(qdir).items():
        if not (qdir / name).is_dir():
            assert mode == 0o640, f"{name}: {oct(mode)}"


@pytest.mark.parametrize("mode", [0, -1, 0o1000, 0o4755, "0o600", 1.5, True])
def test_bad_file_mode_raises_value_error(tmp_path: Path, mode: Any) -> None:
    with pytest.raises(ValueError):
        Queue.open_publisher(tmp_path / "p", file_mode=mode)
    with pytest.raises(ValueError):
        Queue.open_subscriber(tmp_path / "s", "r", file_mode=mode)
    assert list(tmp_path.iterdir()) == []


def test_reader_names_cannot_escape_the_queue(tmp_path: Path) -> None:
    qdir = tmp_path / "queue"
    make_queue(qdir)
    before = sorted(tmp_path.rglob("*"))
    for name in ("../escape", "../../escape", "/tmp/escape", "readers/../x", "..", "sub/dir"):
        with pytest.raises(ValueError):
            Queue.open_subscriber(qdir, name)
    assert sorted(tmp_path.rglob("*")) == before
