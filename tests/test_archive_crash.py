"""kill -9 of the archiver at random moments while a publisher runs, then a
rerun: the archive holds every sealed segment once, and every object verifies
(the S3 variant is in test_archive_s3.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from test_archive_support import cli, kill_archiver_repeatedly, read_archive, read_queue, sealed_segments


def test_kill9_of_the_archiver_then_a_rerun_completes_the_archive(tmp_path: Path) -> None:
    q, arch = str(tmp_path / "q"), str(tmp_path / "arch")
    publisher, cut_short = kill_archiver_repeatedly(q, arch, kills=10, seed=11)
    assert cut_short >= 2  # some kills did land in the middle of archiving a segment
    assert publisher.wait(60) == 0
    code, out, err = cli("archive", q, "--to", arch, "--json")
    assert code == 0, err
    sealed = sealed_segments(q)
    assert len(sealed) >= 20
    manifest = sorted(os.listdir(Path(arch) / "manifest"))
    objects = sorted(os.listdir(Path(arch) / "segments"))
    assert manifest == [f"{i:020d}.json" for i in sealed]  # complete
    assert objects == [f"{i:020d}.seg.zst" for i in sealed]  # no duplicate, no leftover
    assert json.loads(out)["already_archived"] + len(json.loads(out)["archived"]) == len(sealed)
    code, out, _ = cli("verify", arch)
    assert code == 0 and "clean" in out
    replayed = read_archive(arch)
    assert [m[0] for m in replayed] == list(range(len(replayed)))  # dense, nothing twice
    assert replayed == read_queue(q)[: len(replayed)]
