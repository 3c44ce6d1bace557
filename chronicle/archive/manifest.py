"""The archive's layout and its manifest.

An archive is a directory or an S3 prefix holding::

    chronicle-archive.json                      which queue it archives (written once)
    segments/NNNNNNNNNNNNNNNNNNNN.seg.zst       one zstd frame per sealed segment
    manifest/NNNNNNNNNNNNNNNNNNNN.json          one entry per archived segment

A manifest entry is written only after its object is complete and has been
read back and checked, so the manifest never claims more than the archive
holds: an object without an entry is the leftover of an interrupted run, and
the next run writes it again.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from ..errors import CorruptQueueError
from ..tools.files import segment_size_problem

ARCHIVE_FORMAT = 1
DESCRIPTOR_KEY = "chronicle-archive.json"
SEGMENTS_PREFIX = "segments/"
MANIFEST_PREFIX = "manifest/"
_OBJECT_SUFFIX = ".seg.zst"
_ENTRY_SUFFIX = ".json"
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_ENTRY_KEY = re.compile(r"^manifest/([0-9]{20})\.json$")
_OBJECT_KEY = re.compile(r"^segments/([0-9]{20})\.seg\.zst$")


def object_key(segment: int) -> str:
    return f"{SEGMENTS_PREFIX}{segment:020d}{_OBJECT_SUFFIX}"


def entry_key(segment: int) -> str:
    return f"{MANIFEST_PREFIX}{segment:020d}{_ENTRY_SUFFIX}"


def segment_of_entry_key(key: str) -> Optional[int]:
    m = _ENTRY_KEY.match(key)
    return int(m.group(1)) if m else None


def segment_of_object_key(key: str) -> Optional[int]:
    m = _OBJECT_KEY.match(key)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Descriptor:
    """Which queue an archive belongs to: segments of another queue are refused."""

    queue_id: str  # hex of queue.meta's queue_id
    segment_size: int
    queue_created_ns: int
    file_mode: int  # of the queue's files, reused by restore
    format: int = ARCHIVE_FORMAT

    def to_json(self) -> bytes:
        return (json.dumps({"kind": "chronicle-archive", **asdict(self)}, indent=2) + "\n").encode()

    @staticmethod
    def from_json(data: bytes, where: str) -> "Descriptor":
        obj = _load(data, where)
        if obj.get("kind") != "chronicle-archive":
            raise CorruptQueueError(f"{where}: not a Chronicle archive descriptor", path=where)
        _check_format(obj, where)
        try:
            qid = str(obj["queue_id"])
            bytes.fromhex(qid)
            return Descriptor(qid, _int(obj, "segment_size"), _int(obj, "queue_created_ns"), _int(obj, "file_mode"))
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptQueueError(f"{where}: malformed archive descriptor ({e})", path=where) from None


@dataclass(frozen=True)
class ManifestEntry:
    """What the archive holds for one sealed segment."""

    segment: int  # segment number (its file name in the queue)
    object: str  # key of the compressed object
    first_seq: int  # the segment's base seq
    last_seq: Optional[int]  # None for a segment without records
    records: int
    first_timestamp_ns: Optional[int]
    last_timestamp_ns: Optional[int]
    raw_size: int  # bytes compressed: header and records through the end-of-segment marker
    segment_size: int  # size of the segment file (restore pads the rest with zeros)
    compressed_size: int  # size of the object
    checksum: str  # "sha256:<hex>" of the object as stored
    raw_checksum: str  # "sha256:<hex>" of the raw_size bytes
    compression: str  # "zstd"
    level: int
    archived_ns: int
    format: int = ARCHIVE_FORMAT

    @property
    def end_seq(self) -> int:
        """One past the last seq."""
        return self.first_seq + self.records

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2) + "\n").encode()

    @staticmethod
    def from_json(data: bytes, where: str, segment: int) -> "ManifestEntry":
        """Parse and validate the entry stored at `where` for `segment`."""
        obj = _load(data, where)
        _check_format(obj, where)
        try:
            e = ManifestEntry(
                segment=_int(obj, "segment"),
                object=str(obj["object"]),
                first_seq=_int(obj, "first_seq"),
                last_seq=_opt_int(obj, "last_seq"),
                records=_int(obj, "records"),
                first_timestamp_ns=_opt_int(obj, "first_timestamp_ns", signed=True),
                last_timestamp_ns=_opt_int(obj, "last_timestamp_ns", signed=True),
                raw_size=_int(obj, "raw_size"),
                segment_size=_int(obj, "segment_size"),
                compressed_size=_int(obj, "compressed_size"),
                checksum=str(obj["checksum"]),
                raw_checksum=str(obj["raw_checksum"]),
                compression=str(obj["compression"]),
                level=int(obj["level"]),
                archived_ns=_int(obj, "archived_ns"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptQueueError(f"{where}: malformed manifest entry ({err})", path=where) from None
        problem = e._problem(segment)
        if problem:
            raise CorruptQueueError(f"{where}: {problem}", path=where)
        return e

    def _problem(self, segment: int) -> Optional[str]:
        if self.segment != segment:
            return f"entry names segment {self.segment}"
        if self.object != object_key(segment):
            return f"entry names object {self.object!r}, expected {object_key(segment)!r}"
        if self.compression != "zstd":
            return f"unknown compression {self.compression!r}"
        if not _SHA256.match(self.checksum) or not _SHA256.match(self.raw_checksum):
            return "checksums are not sha256:<64 hex digits>"
        expect_last = self.first_seq + self.records - 1 if self.records else None
        if self.last_seq != expect_last:
            return f"last_seq {self.last_seq} does not fit first_seq {self.first_seq} and {self.records} records"
        if segment_size_problem(self.segment_size):
            return f"segment_size {self.segment_size} is not a valid segment size"
        if not 0 < self.raw_size <= self.segment_size:
            return f"raw_size {self.raw_size} outside the segment size {self.segment_size}"
        return None


def _load(data: bytes, where: str) -> Dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise CorruptQueueError(f"{where}: not valid JSON ({e})", path=where) from None
    if not isinstance(obj, dict):
        raise CorruptQueueError(f"{where}: not a JSON object", path=where)
    return obj


def _check_format(obj: Dict[str, Any], where: str) -> None:
    if obj.get("format") != ARCHIVE_FORMAT:
        raise CorruptQueueError(f"{where}: unknown archive format version {obj.get('format')!r}", path=where)


def _int(obj: Dict[str, Any], name: str, signed: bool = False) -> int:
    v = obj[name]
    if not isinstance(v, int) or isinstance(v, bool) or (v < 0 and not signed):
        raise ValueError(f"{name} is not a {'' if signed else 'non-negative '}integer")
    return v


def _opt_int(obj: Dict[str, Any], name: str, signed: bool = False) -> Optional[int]:
    return None if obj.get(name) is None else _int(obj, name, signed)
