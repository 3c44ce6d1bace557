"""What ties a queue to its archives, and keeps retention from deleting what
is not safely archived.

``chronicle archive`` records the archive's URL in the queue directory, in
``archives.json`` (the core ignores files it does not know). From then on,
retention — ``chronicle retain`` and a publisher's own
:func:`~chronicle.tools.retention.retain` — deletes a sealed segment only
when every recorded archive holds it: its manifest entry is there (written
only after the object was read back and its checksum verified), the object
has the size the entry gives, and the local segment's bytes have the entry's
checksum. A segment that cannot be checked (the archive is unreachable, an
extra is missing) is kept. ``RetentionPolicy(ignore_archive=True)`` and
``chronicle retain --ignore-archive`` override this.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from typing import Dict, List, Optional

from ..tools import files
from ..tools.view import WALK_EOS, QueueView, SegmentInfo
from .manifest import ManifestEntry, entry_key
from .segment import CHUNK, sealed_extent
from .store import NO_RETRY, Store, open_store

LINK_FILE = "archives.json"


def linked_archives(queue: str) -> List[str]:
    """URLs of the archives recorded for the queue at `queue`."""
    try:
        with open(os.path.join(queue, LINK_FILE), "rb") as f:
            obj = json.loads(f.read())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        # an unreadable link must not let retention delete unarchived data
        raise OSError(f"{os.path.join(queue, LINK_FILE)}: unreadable ({e})") from None
    urls = obj.get("archives", []) if isinstance(obj, dict) else []
    return [str(a["url"]) for a in urls if isinstance(a, dict) and "url" in a]


def link_archive(queue: str, url: str, file_mode: int) -> None:
    """Record `url` as an archive of the queue (no-op if already there)."""
    urls = linked_archives(queue)
    if url not in urls:
        _write_links(queue, urls + [url], file_mode)


def unlink_archive(queue: str, url: str, file_mode: int) -> bool:
    """Forget `url`; True if it was recorded."""
    urls = linked_archives(queue)
    if url not in urls:
        return False
    _write_links(queue, [u for u in urls if u != url], file_mode)
    return True


def _write_links(queue: str, urls: List[str], file_mode: int) -> None:
    path = os.path.join(queue, LINK_FILE)
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    data = json.dumps({"format": 1, "archives": [{"url": u, "since_ns": time.time_ns()} for u in urls]}, indent=2)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), file_mode)
    try:
        os.write(fd, (data + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def remove_link_leftovers(queue: str) -> None:
    """Temporary files of link updates cut short by a crash (call under the archiver lock)."""
    for name in os.listdir(queue):
        if name.startswith(LINK_FILE + ".") and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(queue, name))
            except FileNotFoundError:
                pass


def normalize_url(url: str) -> str:
    """The form an archive URL is recorded in: s3:// URLs as given (without a
    trailing slash), directories as absolute paths."""
    return url.rstrip("/") if url.startswith("s3://") else os.path.abspath(url)


class ArchiveGuard:
    """Answers, for retention, whether a sealed segment may be deleted."""

    def __init__(self, view: QueueView, urls: List[str]) -> None:
        self.view = view
        self.urls = urls
        self._stores: Dict[str, Store] = {}
        self._raw: Dict[int, str] = {}

    @staticmethod
    def for_queue(view: QueueView) -> Optional["ArchiveGuard"]:
        urls = linked_archives(view.path)
        return ArchiveGuard(view, urls) if urls else None

    def hold(self, seg: SegmentInfo) -> Optional[str]:
        """None when every archive safely holds `seg`, else why it must stay."""
        for url in self.urls:
            try:
                why = self._check(url, seg)
            except Exception as e:  # unreachable, missing extra, bad entry: keep the data
                why = f"cannot be checked against its archive ({' '.join(str(e).split())})"
            if why:
                return f"segment {seg.index} {why} in {url}"
        return None

    def _check(self, url: str, seg: SegmentInfo) -> Optional[str]:
        store = self._stores.get(url)
        if store is None:
            store = self._stores[url] = open_store(url, retry=NO_RETRY)
        data = store.get_bytes(entry_key(seg.index))
        if data is None:
            return "is not archived yet"
        entry = ManifestEntry.from_json(data, store.where(entry_key(seg.index)), seg.index)
        if entry.first_seq != seg.base_seq:
            return f"differs from its archived copy (base seq {seg.base_seq}, archived {entry.first_seq})"
        size = store.size(entry.object)
        if size != entry.compressed_size:
            return "has an incomplete archived object"
        raw = self._raw_checksum(seg, entry.raw_size)
        if raw != entry.raw_checksum:
            return "differs from its archived copy (checksum)"
        return None

    def _raw_checksum(self, seg: SegmentInfo, raw_size: int) -> Optional[str]:
        if seg.index not in self._raw:
            base = seg.base_seq
            with seg.open() as m:
                w = sealed_extent(m, base if base is not None else 0)
                if w.end != WALK_EOS or w.pos + files.REC_HDR_SIZE != raw_size:
                    return None
                sha = hashlib.sha256()
                view = memoryview(m.mm)
                try:
                    for off in range(0, raw_size, CHUNK):
                        sha.update(view[off : min(off + CHUNK, raw_size)])
                finally:
                    view.release()
            self._raw[seg.index] = "sha256:" + sha.hexdigest()
        return self._raw[seg.index]

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()
