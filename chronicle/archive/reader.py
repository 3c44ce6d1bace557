"""Reading an archive without restoring it.

:func:`open_archive` returns an :class:`ArchiveReader`: ``seek(seq)``,
``next()`` and iteration give the same :class:`~chronicle.Message` objects as
a live subscriber, each segment checked completely (object checksum, zstd
checksum, raw checksum, every record's framing, seq and CRC32C) before any
message of it is returned; a damaged object raises
:class:`~chronicle.errors.CorruptQueueError`. :class:`ArchiveView` gives the
same read-only view of an archive as :class:`~chronicle.tools.view.QueueView`
does of a queue, so ``chronicle tail`` and ``chronicle export`` read both.
"""
from __future__ import annotations

import bisect
import os
import time
from types import TracebackType
from typing import Dict, Iterator, List, Optional, Tuple, Type, Union

from .._binding import PathLike
from ..errors import ClosedError, CorruptQueueError, SegmentRetiredError, SeqRangeError
from ..queue import Message
from ..tools import files
from ..tools.errors import NotAQueueError
from ..tools.view import WALK_EOS, Bounds, MappedSegment, QueueView, RecInfo, iter_records, unpack_records
from .manifest import DESCRIPTOR_KEY, MANIFEST_PREFIX, Descriptor, ManifestEntry, segment_of_entry_key
from .segment import ArchivedSegment, load_segment
from .store import Retry, Store, is_archive, open_store

_POLL_S = 0.5  # how often a follower re-reads the manifest


class Archive:
    """An archive's descriptor and manifest, ordered by segment."""

    def __init__(self, url: PathLike, retry: Optional[Retry] = None) -> None:
        text = os.fsdecode(os.fspath(url))
        self.store: Store = open_store(text, retry=retry)
        try:
            self.url = self.store.url
            data = self.store.get_bytes(DESCRIPTOR_KEY)
            if data is None:
                raise NotAQueueError(f"{self.url}: not a Chronicle archive (no {DESCRIPTOR_KEY})")
            self.descriptor = Descriptor.from_json(data, self.store.where(DESCRIPTOR_KEY))
            self.queue_id = bytes.fromhex(self.descriptor.queue_id)
            self._by_key: Dict[str, ManifestEntry] = {}
            self.entries: List[ManifestEntry] = []
            self.refresh()
        except BaseException:
            self.store.close()
            raise

    def refresh(self) -> bool:
        """Read entries added since; True if there are any."""
        new = False
        for key in self.store.list_keys(MANIFEST_PREFIX):
            index = segment_of_entry_key(key)
            if index is None or key in self._by_key:
                continue
            data = self.store.get_bytes(key)
            if data is None:
                continue
            self._by_key[key] = ManifestEntry.from_json(data, self.store.where(key), index)
            new = True
        if new:
            self.entries = sorted(self._by_key.values(), key=lambda e: e.segment)
        return new

    @property
    def first_seq(self) -> int:
        return self.entries[0].first_seq if self.entries else 0

    @property
    def end_seq(self) -> int:
        return self.entries[-1].end_seq if self.entries else 0

    def entry_for(self, seq: int) -> Optional[ManifestEntry]:
        """The entry whose records include `seq`."""
        starts = [e.first_seq for e in self.entries]
        i = bisect.bisect_right(starts, seq) - 1
        while i >= 0:
            e = self.entries[i]
            if e.first_seq <= seq < e.end_seq:
                return e
            if e.records:
                return None
            i -= 1  # an empty segment shares its first seq with the next
        return None

    def load(self, entry: ManifestEntry) -> ArchivedSegment:
        return load_segment(self.store, entry, self.queue_id)

    def close(self) -> None:
        self.store.close()


class ArchiveCursor:
    """Reads archived records in order from a seq, segment after segment; the
    counterpart of :class:`~chronicle.tools.view.Cursor`."""

    def __init__(self, archive: Archive, seq: int) -> None:
        if not archive.first_seq <= seq <= archive.end_seq:
            raise SeqRangeError(
                f"{archive.url}: seq {seq} is outside the archive (seqs {archive.first_seq}..{archive.end_seq - 1})"
            )
        self.archive = archive
        self.next_seq = seq
        self.seg: Optional[ArchivedSegment] = None
        self.pos = 0

    def _attach(self) -> bool:
        """Load the segment holding next_seq; False at the end of the archive."""
        entry = self.archive.entry_for(self.next_seq)
        if entry is None:
            if self.next_seq < self.archive.end_seq:
                raise SegmentRetiredError(
                    f"{self.archive.url}: seq {self.next_seq} is not in the archive (a segment is missing)"
                )
            return False
        seg = self.archive.load(entry)
        w = seg.walk(files.SEG_HDR_SIZE, entry.first_seq, self.next_seq - entry.first_seq)
        self._drop()
        self.seg, self.pos = seg, w.pos
        return True

    def _drop(self) -> None:
        if self.seg is not None:
            self.seg.close()
            self.seg = None

    def seek(self, seq: int) -> None:
        if not self.archive.first_seq <= seq <= self.archive.end_seq:
            raise SeqRangeError(
                f"{self.archive.url}: seq {seq} is outside the archive "
                f"(seqs {self.archive.first_seq}..{self.archive.end_seq - 1})"
            )
        if self.seg is not None and self.seg.entry.first_seq <= seq < self.seg.entry.end_seq:
            e = self.seg.entry
            self.pos = self.seg.walk(files.SEG_HDR_SIZE, e.first_seq, seq - e.first_seq).pos
        else:
            self._drop()
        self.next_seq = seq

    def read(self, max_n: int = 4096) -> Tuple[Optional[MappedSegment], List[RecInfo]]:
        """(segment, records) from next_seq on, at most max_n, all from one
        segment; no records at the end of the archive."""
        seg, raw = self.read_raw(max_n)
        return seg, unpack_records(raw)

    def read_raw(self, max_n: int = 65536) -> Tuple[Optional[MappedSegment], bytes]:
        """Like :meth:`read`, as packed chron_rec_info_t entries."""
        if self.seg is None and not self._attach():
            return None, b""
        while True:
            assert self.seg is not None
            w, raw = self.seg.walk_raw(self.pos, self.next_seq, max_n)
            if raw:
                self.pos, self.next_seq = w.pos, w.next_seq
                return self.seg, raw
            if w.end != WALK_EOS:  # cannot happen: the whole segment was checked at load
                raise CorruptQueueError(f"{self.seg.path}:{w.pos}: {w.why}", path=self.seg.path, offset=w.pos)
            self._drop()
            if not self._attach():
                return None, b""

    def records(self, until: Optional[int] = None) -> Iterator[Tuple[RecInfo, MappedSegment]]:
        """Every archived record from next_seq, up to seq `until` (inclusive)."""
        return iter_records(self, until)

    def wait(self, timeout: float) -> bool:
        """Poll the manifest until it grows or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            if self.archive.refresh():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, _POLL_S))

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> "ArchiveCursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ArchiveView:
    """An archive seen as the tools see a queue: bounds and cursors."""

    def __init__(self, url: PathLike) -> None:
        self.archive = Archive(url)
        self.path = self.archive.url

    def bounds(self) -> Bounds:
        a = self.archive
        with_records = [e for e in a.entries if e.records]
        first_ts = with_records[0].first_timestamp_ns if with_records else None
        last_ts = with_records[-1].last_timestamp_ns if with_records else None
        return Bounds(a.first_seq, a.end_seq, first_ts, last_ts, None, None)

    def cursor(self, seq: int) -> ArchiveCursor:
        return ArchiveCursor(self.archive, seq)

    def close(self) -> None:
        self.archive.close()


def open_view(path: PathLike) -> Union[QueueView, ArchiveView]:
    """A read-only view of a queue directory or of an archive (a directory
    with an archive descriptor, or an s3:// URL)."""
    text = os.fsdecode(os.fspath(path))
    return ArchiveView(text) if is_archive(text) else QueueView(text)


class ArchiveReader:
    """Messages of an archive, in seq order, as a subscriber returns them.

    Starts at the archive's first seq; :meth:`seek` moves anywhere in it. The
    archive is read as it was when opened; :meth:`refresh` picks up segments
    archived since.
    """

    def __init__(self, url: PathLike, retry: Optional[Retry] = None) -> None:
        self._archive: Optional[Archive] = Archive(url, retry)
        self._cursor = ArchiveCursor(self._archive, self._archive.first_seq)
        self._seg: Optional[ArchivedSegment] = None
        self._batch: List[RecInfo] = []
        self._i = 0

    def _live(self) -> Archive:
        if self._archive is None:
            raise ClosedError("archive reader is closed")
        return self._archive

    @property
    def url(self) -> str:
        return self._live().url

    @property
    def first_seq(self) -> int:
        """The first archived seq."""
        return self._live().first_seq

    @property
    def end_seq(self) -> int:
        """One past the last archived seq."""
        return self._live().end_seq

    @property
    def next_seq(self) -> int:
        """The seq of the next message :meth:`next` returns."""
        self._live()
        return self._batch[self._i].seq if self._i < len(self._batch) else self._cursor.next_seq

    @property
    def segments(self) -> Tuple[ManifestEntry, ...]:
        """The manifest entries, by segment."""
        return tuple(self._live().entries)

    @property
    def closed(self) -> bool:
        return self._archive is None

    def seek(self, seq: int) -> None:
        """Make `seq` the next message returned; SeqRangeError outside the archive."""
        self._live()
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise TypeError("seq must be an int")
        if seq < 0:
            raise ValueError("seq must be >= 0")
        self._cursor.seek(seq)
        self._batch, self._i = [], 0

    def next(self) -> Optional[Message]:
        """The next message, or None at the end of the archive."""
        self._live()
        if self._i >= len(self._batch):
            _seg, recs = self._cursor.read()
            if not recs:
                return None
            self._seg, self._batch, self._i = self._cursor.seg, recs, 0
        assert self._seg is not None
        rec = self._batch[self._i]
        self._i += 1
        return Message(rec.seq, rec.type_id, rec.timestamp_ns, self._seg.payload_view(rec.offset, rec.length))

    def __iter__(self) -> Iterator[Message]:
        while True:
            msg = self.next()
            if msg is None:
                return
            yield msg

    def refresh(self) -> bool:
        """Read manifest entries added since; True if there are new ones."""
        return self._live().refresh()

    def close(self) -> None:
        if self._archive is not None:
            self._cursor.close()
            self._archive.close()
            self._archive = None
            self._seg, self._batch = None, []

    def __enter__(self) -> "ArchiveReader":
        return self

    def __exit__(
        self, t: Optional[Type[BaseException]], v: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._archive is None:
            return "<ArchiveReader closed>"
        return f"<ArchiveReader {self._archive.url} seqs {self.first_seq}..{self.end_seq - 1} next={self.next_seq}>"


def open_archive(url: PathLike, retry: Optional[Retry] = None) -> ArchiveReader:
    """A reader over the messages of the archive at `url` (a directory or
    s3://BUCKET/PREFIX)."""
    return ArchiveReader(url, retry)
