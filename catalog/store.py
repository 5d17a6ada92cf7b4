"""Where recording files live. Local directory by default; object storage implements the same
four methods so several recorders and workers can share recordings."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol


class StoreError(Exception):
    pass


def safe_key(key: str) -> str:
    """Reject keys that could escape the store's root."""
    p = PurePosixPath(key)
    if p.is_absolute() or ".." in p.parts or not key or "\\" in key:
        raise StoreError(f"unsafe store key: {key!r}")
    return str(p)


class RecordingStore(Protocol):
    def put_file(self, key: str, source: Path) -> tuple[int, str]:
        """Copy ``source`` in atomically; return (size, sha256)."""

    def open(self, key: str) -> BinaryIO: ...

    def local_path(self, key: str) -> Path:
        """A filesystem path for engines that need one (a cached copy for remote stores)."""

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...


def sha256_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


class LocalStore:
    """Files under one directory; writes go to a temp name, fsync, then rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        return self.root / safe_key(key)

    def put_file(self, key: str, source: Path) -> tuple[int, str]:
        dest = self.local_path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != dest.resolve():
            tmp = dest.with_name(dest.name + ".part")
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        return sha256_file(dest)

    def open(self, key: str) -> BinaryIO:
        return open(self.local_path(key), "rb")

    def delete(self, key: str) -> None:
        self.local_path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def keys(self) -> Iterator[str]:
        for p in self.root.rglob("*"):
            if p.is_file() and not p.name.endswith(".part"):
                yield p.relative_to(self.root).as_posix()
