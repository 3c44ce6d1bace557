"""Retention with archival: once a queue has an archive, no sealed segment is
deleted before the archive safely holds it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Tuple

from chronicle import Queue
from chronicle.archive.manifest import entry_key
from chronicle.tools.retention import RetentionPolicy, retain

from test_archive_support import cli, publish_ticks, read_archive, read_queue, sealed_segments, ticks, wait_until


def _setup(tmp_path: Path) -> Tuple[str, str]:
    """A queue archived once, then written on; its one reader has read it all."""
    q, arch = str(tmp_path / "q"), str(tmp_path / "arch")
    publish_ticks(q, 4000)
    with Queue.open_subscriber(q, "reader") as sub:  # registered before retention runs
        sub.commit()
    assert cli("archive", q, "--to", arch)[0] == 0
    with Queue.open_publisher(q) as pub:
        for type_id, payload in ticks(5000, seed=3):
            pub.append(type_id, payload)
    with Queue.open_subscriber(q, "reader") as sub:
        for _m in sub:
            pass
        sub.commit()
    return q, arch


def _archived(arch: str) -> List[int]:
    return sorted(int(n.split(".")[0]) for n in os.listdir(Path(arch) / "manifest"))


def _segments(q: str) -> List[int]:
    return sorted(int(n.split(".")[0]) for n in os.listdir(q) if n.endswith(".seg"))


def test_retention_deletes_only_archived_segments(tmp_path: Path) -> None:
    q, arch = _setup(tmp_path)
    archived, sealed = _archived(arch), sealed_segments(q)
    assert len(sealed) > len(archived) >= 2
    result = retain(q)  # the reader passed everything, yet the archive holds only the first ones
    assert [d.index for d in result.deleted] == archived
    assert result.kept_because is not None and "not archived yet" in result.kept_because and arch in result.kept_because
    assert set(sealed) - set(archived) <= set(_segments(q))
    assert cli("archive", q, "--to", arch)[0] == 0  # segments gone locally stay in the archive
    result = retain(q)
    assert [d.index for d in result.deleted] == [s for s in sealed if s not in archived]
    assert set(sealed).isdisjoint(_segments(q))
    assert read_archive(arch)[-1][0] + 1 == read_queue(q, "late")[0][0]  # nothing lost in between


def test_chronicle_retain_reports_the_hold_and_can_ignore_it(tmp_path: Path) -> None:
    q, arch = _setup(tmp_path)
    archived, sealed = _archived(arch), sealed_segments(q)
    code, out, _ = cli("retain", q, "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and [d["index"] for d in plan["deleted"]] == archived
    assert "not archived yet" in plan["kept_because"]
    code, out, _ = cli("retain", q)
    assert code == 0 and "kept: segment" in out and "not archived yet" in out
    code, out, _ = cli("retain", q, "--ignore-archive", "--json")
    assert code == 0 and [d["index"] for d in json.loads(out)["deleted"]] == [s for s in sealed if s not in archived]
    assert set(sealed).isdisjoint(_segments(q))


def test_a_segment_differing_from_its_archived_copy_is_kept(tmp_path: Path) -> None:
    q, arch = _setup(tmp_path)
    path = Path(arch) / entry_key(1)
    entry = json.loads(path.read_text())
    entry["raw_checksum"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(entry))
    result = retain(q)
    assert [d.index for d in result.deleted] == [0]
    assert result.kept_because is not None and "segment 1 differs from its archived copy" in result.kept_because


def test_an_unreachable_archive_keeps_everything(tmp_path: Path) -> None:
    q, arch = _setup(tmp_path)
    os.rename(arch, arch + ".moved")
    result = retain(q, RetentionPolicy(max_age_s=0))
    assert result.deleted == []
    assert result.kept_because is not None and "cannot be checked" in result.kept_because
    assert retain(q, RetentionPolicy(ignore_archive=True)).deleted  # told otherwise


def test_detach_stops_retention_waiting_for_the_archive(tmp_path: Path) -> None:
    q, arch = _setup(tmp_path)
    sealed = sealed_segments(q)
    code, out, _ = cli("archive", q, "--to", arch, "--detach")
    assert code == 0 and "no longer archived" in out
    assert [d.index for d in retain(q).deleted] == sealed


def test_the_publishers_own_policy_waits_for_the_archive(tmp_path: Path) -> None:
    q, arch = str(tmp_path / "q"), str(tmp_path / "arch")
    publish_ticks(q, 3000)
    assert cli("archive", q, "--to", arch)[0] == 0
    first = _archived(arch)
    with Queue.open_publisher(q, retention=RetentionPolicy(max_bytes=0), retention_interval=0.05) as pub:
        for type_id, payload in ticks(4000, seed=4):
            pub.append(type_id, payload)
        unarchived = [s for s in sealed_segments(q) if s not in first]
        assert unarchived
        wait_until(lambda: not set(first) & set(_segments(q)), what="the archived segments being deleted")
        assert set(unarchived) <= set(_segments(q))  # a policy of 0 bytes, yet they stay
        assert cli("archive", q, "--to", arch)[0] == 0
        wait_until(lambda: not set(unarchived) & set(_segments(q)), what="the newly archived segments being deleted")
    assert read_archive(arch)[-1][0] + 1 == read_queue(q, "late")[0][0]
