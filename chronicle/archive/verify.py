"""Checking an archive: every manifest entry against its object (size and
sha256 of the object, the zstd frame, the raw bytes' sha256, the segment
header and every record), and that consecutive segments continue each other.

An object that no entry names is an orphan — what an interrupted archive run
left, and the next run replaces — and is listed but is not a problem: the
manifest never claims it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ..errors import CorruptQueueError
from ..tools.errors import NotAQueueError
from ..tools.view import ProgressFn
from .manifest import (
    DESCRIPTOR_KEY, MANIFEST_PREFIX, SEGMENTS_PREFIX, Descriptor, ManifestEntry, segment_of_entry_key,
    segment_of_object_key,
)
from .segment import load_segment
from .store import Store, open_store


@dataclass(frozen=True)
class ArchiveProblem:
    name: str  # the object or manifest entry at fault
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass
class ArchiveReport:
    url: str
    objects: int = 0  # objects checked
    records: int = 0
    raw_bytes: int = 0
    compressed_bytes: int = 0
    first_seq: Optional[int] = None
    end_seq: Optional[int] = None
    problems: List[ArchiveProblem] = field(default_factory=list)
    orphans: List[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def add(self, name: str, message: str) -> None:
        self.problems.append(ArchiveProblem(name, message))


class ArchiveVerifier:
    """Reads the manifest at construction (so `total_bytes` can size a
    progress bar), checks the objects in :meth:`run`."""

    def __init__(self, url: str) -> None:
        self.store: Store = open_store(url)
        self.report = ArchiveReport(self.store.url)
        self.queue_id: Optional[bytes] = None
        self.entries: List[ManifestEntry] = []
        try:
            self._read_manifest()
        except BaseException:
            self.store.close()
            raise

    def _read_manifest(self) -> None:
        store, report = self.store, self.report
        data = store.get_bytes(DESCRIPTOR_KEY)
        if data is None:
            raise NotAQueueError(f"{store.url}: not a Chronicle archive (no {DESCRIPTOR_KEY})")
        try:
            self.queue_id = bytes.fromhex(Descriptor.from_json(data, store.where(DESCRIPTOR_KEY)).queue_id)
        except CorruptQueueError as e:
            report.add(*_split(e, store.where(DESCRIPTOR_KEY)))
        for key in store.list_keys(MANIFEST_PREFIX):
            index = segment_of_entry_key(key)
            if index is None:
                continue
            raw = store.get_bytes(key)
            if raw is None:
                continue
            try:
                self.entries.append(ManifestEntry.from_json(raw, store.where(key), index))
            except CorruptQueueError as e:
                report.add(*_split(e, store.where(key)))
        named = {e.object for e in self.entries}
        report.orphans = [
            store.where(k) for k in store.list_keys(SEGMENTS_PREFIX)
            if segment_of_object_key(k) is not None and k not in named
        ]

    @property
    def total_bytes(self) -> int:
        return sum(e.compressed_size for e in self.entries)

    def run(self, progress: Optional[ProgressFn] = None) -> ArchiveReport:
        report = self.report
        prev: Optional[ManifestEntry] = None
        for entry in self.entries:
            name = self.store.where(entry.object)
            if prev is not None:
                if entry.segment != prev.segment + 1:
                    report.add(name, f"segments {prev.segment + 1}..{entry.segment - 1} are missing from the archive "
                                     f"(after seq {prev.end_seq - 1})")
                elif entry.first_seq != prev.end_seq:
                    report.add(name, f"starts at seq {entry.first_seq}, but segment {prev.segment} ends before {prev.end_seq}")
            prev = entry
            try:
                load_segment(self.store, entry, self.queue_id).close()
            except FileNotFoundError:
                report.add(name, f"missing (named by {self.store.where(MANIFEST_PREFIX)}{entry.segment:020d}.json)")
                continue
            except CorruptQueueError as e:
                report.add(*_split(e, name))
                continue
            finally:
                if progress is not None:
                    progress(entry.compressed_size)
            report.objects += 1
            report.records += entry.records
            report.raw_bytes += entry.raw_size
            report.compressed_bytes += entry.compressed_size
            if report.first_seq is None:
                report.first_seq = entry.first_seq
            report.end_seq = entry.end_seq
        return report

    def close(self) -> None:
        self.store.close()


def _split(e: CorruptQueueError, name: str) -> Tuple[str, str]:
    """(where, what) of an error whose text starts with 'where: '."""
    text = str(e)
    for where in ([f"{e.path}:{e.offset}"] if e.offset is not None else []) + [e.path]:
        if where and text.startswith(where + ": "):
            return where, text[len(where) + 2 :]
    return name, text


def verify_archive(url: str, progress: Optional[ProgressFn] = None) -> ArchiveReport:
    verifier = ArchiveVerifier(url)
    try:
        return verifier.run(progress)
    finally:
        verifier.close()
