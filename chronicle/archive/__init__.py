"""Archival of sealed segments, compressed with zstd, to a directory or S3,
and replay from the archive (docs/ARCHIVE.md).

- :class:`~chronicle.archive.archiver.Archiver` (``chronicle archive``)
  archives sealed segments and records them in the manifest;
- :func:`open_archive` reads archived messages without restoring them;
- :func:`~chronicle.archive.restore.restore` (``chronicle restore``)
  rebuilds a queue directory;
- :func:`~chronicle.archive.verify.verify_archive` (``chronicle verify``)
  checks every object against the manifest.

Needs the ``archive`` extra (zstandard), and ``s3`` (boto3) for s3:// URLs;
importing this package needs neither.
"""
from __future__ import annotations

from .manifest import Descriptor, ManifestEntry
from .reader import ArchiveReader, ArchiveView, open_archive, open_view
from .store import is_archive

__all__ = ["open_archive", "ArchiveReader", "ArchiveView", "ManifestEntry", "Descriptor", "is_archive", "open_view"]
