"""What the bridge reads from local queue files: a queue's identity, its
end, and the last record ``bridge in`` appended."""
from __future__ import annotations

import os
from typing import Optional

from .._binding import PathLike
from ..errors import CorruptQueueError
from ..tools import files
from ..tools.view import QueueView
from .envelope import Origin, _decode

__all__ = ["queue_identity", "end_seq", "last_bridged"]


def queue_identity(path: PathLike) -> bytes:
    """The 16-byte identity of the queue at ``path`` (queue.meta offset 8):
    random, made when the queue was created, the same on every host that
    reads it, and different for a queue created again at the same path."""
    meta_path = os.path.join(os.fsdecode(os.fspath(path)), files.META_FILE)
    with open(meta_path, "rb") as f:
        data = f.read(files.META_SIZE)
    try:
        return files.parse_meta(data).queue_id
    except files.MetaError as e:
        raise CorruptQueueError(f"{meta_path}: {e}", path=meta_path, offset=0) from None


def end_seq(path: PathLike) -> int:
    """The seq the next append to the queue will get (for lag reports)."""
    return QueueView(path).bounds().end_seq


def last_bridged(path: PathLike, next_seq: int) -> Optional[Origin]:
    """The origin of the queue's last record if ``bridge in`` appended it
    (``next_seq`` is the publisher's next seq), else None. The payload in
    the result is a copy: the mapping is closed on return."""
    if next_seq == 0:
        return None
    with QueueView(path).cursor(next_seq - 1) as cur:
        seg, recs = cur.read(1)
        if not recs or seg is None:
            return None
        payload = seg.payload(recs[0])
    return _decode(memoryview(payload))
