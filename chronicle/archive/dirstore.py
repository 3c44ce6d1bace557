"""An archive in a local directory. Every object is written to a temporary
file beside its final name, fsynced, and renamed into place (then the
directory is fsynced), so a crash leaves either the old object, the new one,
or a temporary file that the next archive run removes."""
from __future__ import annotations

import os
import secrets
from typing import Any, List, Optional

from ..tools.errors import NotAQueueError
from .store import ObjectWriter, ReadFn, Store, T

_TMP_SUFFIX = ".tmp"


def _dir_mode(file_mode: int) -> int:
    """x wherever the files get r, as the queue does for its directories."""
    return (file_mode | ((file_mode & 0o444) >> 2)) & 0o777


class _FileWriter(ObjectWriter):
    def __init__(self, final: str, file_mode: int) -> None:
        super().__init__()
        self.final = final
        parent, name = os.path.split(final)
        self.tmp = os.path.join(parent, f".{name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), file_mode)

    def _write(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def _commit(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        os.replace(self.tmp, self.final)
        _fsync_dir(os.path.dirname(self.final))

    def _abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirStore(Store):
    def __init__(self, path: str, create: bool = False, file_mode: int = 0o600) -> None:
        self.root = os.path.abspath(path)
        self.url = self.root
        self.file_mode = file_mode
        if create:
            os.makedirs(self.root, mode=_dir_mode(file_mode), exist_ok=True)
        elif not os.path.isdir(self.root):
            raise NotAQueueError(f"{self.root}: no such archive (the directory does not exist)")

    def where(self, key: str) -> str:
        return os.path.join(self.root, key)

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad archive key {key!r}")
        return os.path.join(self.root, *parts)

    def _parent(self, key: str) -> str:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), mode=_dir_mode(self.file_mode), exist_ok=True)
        return path

    def put_bytes(self, key: str, data: bytes) -> None:
        with self.create(key) as w:
            w.write(data)
            w.commit()

    def get_bytes(self, key: str) -> Optional[bytes]:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def size(self, key: str) -> Optional[int]:
        try:
            return os.stat(self._path(key)).st_size
        except FileNotFoundError:
            return None

    def list_keys(self, prefix: str) -> List[str]:
        folder, _, start = prefix.rpartition("/")
        base = os.path.join(self.root, *folder.split("/")) if folder else self.root
        try:
            names = os.listdir(base)
        except FileNotFoundError:
            return []
        pre = folder + "/" if folder else ""
        return sorted(
            pre + n for n in names
            if n.startswith(start) and not n.startswith(".") and os.path.isfile(os.path.join(base, n))
        )

    def create(self, key: str) -> ObjectWriter:
        return _FileWriter(self._parent(key), self.file_mode)

    def read(self, key: str, fn: ReadFn[T]) -> T:
        with open(self._path(key), "rb", buffering=0) as f:  # callers read in large pieces
            return fn(f)

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def cleanup(self) -> int:
        removed = 0
        for folder in (self.root, os.path.join(self.root, "segments"), os.path.join(self.root, "manifest")):
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            for n in names:
                if n.startswith(".") and n.endswith(_TMP_SUFFIX):
                    try:
                        os.unlink(os.path.join(folder, n))
                        removed += 1
                    except FileNotFoundError:
                        pass
        return removed
