"""Archiving to S3 against a real S3 API over HTTP: moto's standalone server,
started on 127.0.0.1 for this module. boto3 talks to it as to AWS, configured
only through the standard AWS environment (AWS_ENDPOINT_URL and friends)."""
from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from chronicle import CorruptQueueError, Queue
from chronicle.archive import open_archive
from chronicle.archive.archiver import Archiver
from chronicle.archive.manifest import object_key
from chronicle.tools.retention import retain

from conftest import child_env
from test_archive_support import (
    Lines, MotoServer, Relay, aws_env, cli, kill_archiver_repeatedly, new_bucket, publish_ticks, read_archive,
    read_queue, sealed_segments, spawn_cli, stop_child, ticks, wait_until,
)

pytest.importorskip("boto3")
pytest.importorskip("zstandard")


@dataclass
class S3:
    server: MotoServer
    client: Any

    def keys(self, bucket: str, prefix: str) -> List[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    server = MotoServer()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in aws_env(server.url, str(tmp_path_factory.mktemp("aws"))).items():
                mp.setenv(k, v)
            mp.delenv("AWS_PROFILE", raising=False)
            import boto3

            client = boto3.client("s3")
            yield S3(server, client)
            client.close()
    finally:
        server.stop()


def test_round_trip_through_s3(s3: S3, tmp_path: Path) -> None:
    q = str(tmp_path / "q")
    bucket = new_bucket(s3.client)
    url = f"s3://{bucket}/feeds/btc"
    appended = publish_ticks(q, 9000)
    live = read_queue(q)
    assert [(s, t, p) for s, t, _ts, p in live] == appended
    code, out, err = cli("archive", q, "--to", url, "--json")
    assert code == 0, err
    sealed = sealed_segments(q)
    assert len(sealed) >= 5
    assert [a["segment"] for a in json.loads(out)["archived"]] == sealed
    assert s3.keys(bucket, "feeds/btc/manifest/") == [f"feeds/btc/manifest/{i:020d}.json" for i in sealed]
    replayed = read_archive(url)
    assert replayed == live[: len(replayed)] and replayed[-1][0] == json.loads(out)["archived"][-1]["last_seq"]
    code, out, _ = cli("verify", url)
    assert code == 0 and "clean" in out
    code, out, _ = cli("archive", q, "--to", url, "--json")  # idempotent
    assert json.loads(out)["archived"] == [] and json.loads(out)["already_archived"] == len(sealed)
    code, out, _ = cli("tail", url, "-n", "2", "--json")
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [replayed[-2][0], replayed[-1][0]]
    back = str(tmp_path / "back")
    assert cli("restore", url, "--to", back, "--from", "1000")[0] == 0
    assert read_queue(back) == replayed[1000:]


def test_store_errors_are_named_and_leave_the_queue_alone(s3: S3, tmp_path: Path) -> None:
    q = str(tmp_path / "q")
    publish_ticks(q, 3000)
    code, _out, err = cli("archive", q, "--to", "s3://no-such-bucket-here/x")
    assert code == 3 and "NoSuchBucket" in err and "s3://no-such-bucket-here/x/chronicle-archive.json" in err
    assert not os.path.exists(os.path.join(q, "archives.json"))  # retention does not wait for it
    code, _out, err = cli("verify", "s3://no-such-bucket-here/x")
    assert code == 3 and "NoSuchBucket" in err


def test_large_objects_go_up_in_parts(s3: S3, tmp_path: Path) -> None:
    q = str(tmp_path / "q")
    bucket = new_bucket(s3.client)
    url = f"s3://{bucket}/big"
    with Queue.open_publisher(q, segment_size=12 << 20) as pub:  # incompressible: > 2 parts of 5 MiB
        for _ in range(12 * 16 + 4):
            pub.append(3, os.urandom(64 << 10))
    with Archiver(q, url, part_size=5 << 20) as archiver:
        result = archiver.run_pass()
    assert [a.segment for a in result.archived] == [0]
    head = s3.client.head_object(Bucket=bucket, Key="big/" + object_key(0))
    assert head["ContentLength"] > 10 << 20
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert read_archive(url) == read_queue(q)[: len(read_archive(url))]
    assert cli("verify", url)[0] == 0


def test_a_corrupted_s3_object_is_caught(s3: S3, tmp_path: Path) -> None:
    q = str(tmp_path / "q")
    bucket = new_bucket(s3.client)
    url = f"s3://{bucket}/x"
    publish_ticks(q, 6000)
    assert cli("archive", q, "--to", url)[0] == 0
    key = "x/" + object_key(2)
    data = bytearray(s3.client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[100] ^= 0xFF
    s3.client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    code, out, _ = cli("verify", url)
    assert code == 1 and f"s3://{bucket}/{key}: object checksum mismatch" in out
    with open_archive(url) as r:
        first_bad = r.segments[2].first_seq
        got: List[int] = []
        with pytest.raises(CorruptQueueError):
            for m in r:
                got.append(m.seq)
        assert got == list(range(first_bad))


def test_outage_mid_run_the_archiver_retries_and_completes(
    s3: S3, tmp_path: Path, children: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = str(tmp_path / "q")
    bucket = new_bucket(s3.client)
    url = f"s3://{bucket}/live"
    relay = Relay(int(s3.server.port))
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.url)  # the archiver and retention go through the relay
    try:
        with Queue.open_publisher(q, segment_size=64 * 1024) as pub:
            for type_id, payload in ticks(3000, seed=5):
                pub.append(type_id, payload)
            with Queue.open_subscriber(q, "reader") as sub:
                sub.commit()
            child = spawn_cli("archive", q, "--to", url, "--follow", env=child_env())
            children.append(child)
            out, err = Lines(child.stdout), Lines(child.stderr)
            before = sealed_segments(q)
            for _ in before:
                out.wait_for("archived segment")
            relay.stop()  # the server goes away mid-run
            for type_id, payload in ticks(4000, seed=6):
                pub.append(type_id, payload)
            err.wait_for("retrying")  # it reports and keeps trying
            with Queue.open_subscriber(q, "reader") as sub:
                for _m in sub:
                    pass
                sub.commit()
            sealed = sealed_segments(q)
            assert len(sealed) > len(before)
            # with the archive out of reach, retention cannot confirm anything: nothing goes
            result = retain(q)
            assert result.deleted == [] and "cannot be checked" in (result.kept_because or "")
            relay.start()
            prefix = "live/manifest/"
            wait_until(lambda: len(s3.keys(bucket, prefix)) == len(sealed), timeout=60, what="the archive catching up")
            assert stop_child(child, signal.SIGTERM) == 0
        deleted = [d.index for d in retain(q).deleted]
        assert deleted == sealed  # now every sealed segment is safely archived
        assert cli("verify", url)[0] == 0
        replayed = read_archive(url)
        assert [m[0] for m in replayed] == list(range(len(replayed)))
        assert replayed[-1][0] + 1 == read_queue(q, "late")[0][0]
    finally:
        relay.stop()


def test_kill9_of_the_archiver_then_a_rerun_completes_the_s3_archive(s3: S3, tmp_path: Path) -> None:
    q = str(tmp_path / "q")
    bucket = new_bucket(s3.client)
    url = f"s3://{bucket}/k"

    def interrupted() -> bool:
        named = {k.split("/")[-1].split(".")[0] for k in s3.keys(bucket, "k/manifest/")}
        return any(k.split("/")[-1].split(".")[0] not in named for k in s3.keys(bucket, "k/segments/"))

    publisher, cut_short = kill_archiver_repeatedly(q, url, kills=10, seed=12, interrupted=interrupted)
    assert cut_short >= 2, cut_short  # kills that left an object the manifest does not name yet
    assert publisher.wait(60) == 0
    code, _out, err = cli("archive", q, "--to", url)
    assert code == 0, err
    sealed = sealed_segments(q)
    assert s3.keys(bucket, "k/manifest/") == [f"k/manifest/{i:020d}.json" for i in sealed]
    assert s3.keys(bucket, "k/segments/") == [f"k/segments/{i:020d}.seg.zst" for i in sealed]
    assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert cli("verify", url)[0] == 0
    replayed = read_archive(url)
    assert [m[0] for m in replayed] == list(range(len(replayed)))
    assert replayed == read_queue(q)[: len(replayed)]
