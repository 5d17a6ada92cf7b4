"""Shared code of the four storage connectors (s3, azure_blob, sftp, ftp).

The ``store_object`` capability itself (``ObjectStore``, ``ObjectInfo``) lives in
``connectors.base``; this module holds what the four wire-level modules would otherwise
repeat: the base classes (capability, error-mapping boundary, connection check, running a
blocking SDK in a worker thread), hashing a file once, joining a configured prefix with a key
safely, and the size/readback checks used where a protocol has no server-side checksum (SFTP,
FTP), which upload under a temporary name first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar, TypeVar

from connectors.base import (
    CheckResult,
    ConfigError,
    Connector,
    ConnectorError,
    ObjectInfo,
    PermanentError,
    RetriableError,
)

T = TypeVar("T")


class VerificationError(RetriableError):
    """The stored object does not match what was sent (size or checksum). A transfer glitch:
    retrying the upload is the right reaction, so it is retriable."""

    code = "verification_failed"


@dataclass(frozen=True)
class FileDigest:
    """Size and digests of a local file, computed in one pass."""

    size: int
    md5: bytes
    sha256: str

    @property
    def md5_hex(self) -> str:
        return self.md5.hex()

    @property
    def md5_b64(self) -> str:
        return base64.b64encode(self.md5).decode()


def digest_file(path: Path, chunk: int = 1 << 20) -> FileDigest:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            md5.update(block)
            sha.update(block)
            size += len(block)
    return FileDigest(size, md5.digest(), sha.hexdigest())


def multipart_etag(path: Path, part_size: int) -> str:
    """The ETag S3 gives a multipart upload: md5 of the parts' md5s, dash, part count."""
    digests = []
    with open(path, "rb") as f:
        while block := f.read(part_size):
            digests.append(hashlib.md5(block, usedforsecurity=False).digest())
    joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(digests)}"


def join_key(prefix: str, key: str) -> str:
    """``prefix/key`` with no way out of the prefix: absolute keys, ``..`` and backslashes are
    refused (the archive core sanitises names; this is the last line of defence)."""
    p = PurePosixPath(key)
    if not key or p.is_absolute() or ".." in p.parts or "\\" in key:
        raise ConfigError(f"unsafe object key: {key!r}")
    prefix = prefix.strip("/")
    return f"{prefix}/{p}" if prefix else str(p)


def strip_prefix(prefix: str, full: str) -> str:
    prefix = prefix.strip("/")
    if prefix and full.startswith(prefix + "/"):
        return full[len(prefix) + 1 :]
    return full


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def list_root(root: str, prefix: str) -> tuple[str, str]:
    """``(base, start)`` of a listing: the configured root without slashes, and where under
    it to start (``root/prefix``, either part possibly empty)."""
    base = root.strip("/")
    return base, "/".join(p for p in (base, prefix.strip("/")) if p)


# ---------------------------------------------------------------- upload by temporary name
#
# SFTP and FTP have no atomic checked upload: a file goes up under a temporary name, is
# verified there and only then renamed into place, so a reader never sees half a recording.
# Listings skip the temporary names.

_PARTIAL = ".part-"


def partial_name(path: str) -> str:
    """A unique temporary name next to ``path`` for an upload in progress."""
    return f"{path}{_PARTIAL}{uuid.uuid4().hex[:8]}"


def is_partial(name: str) -> bool:
    return _PARTIAL in name


def verify_size(path: str, stored: int | None, digest: FileDigest) -> None:
    if stored != digest.size:
        raise VerificationError(f"{path}: server has {stored} bytes, sent {digest.size}")


def verify_readback(path: str, sha256: str, digest: FileDigest) -> None:
    if sha256 != digest.sha256:
        raise VerificationError(f"{path}: SHA-256 read back differs from the sent file")


# ---------------------------------------------------------------- base classes


class ObjectStoreConnector(Connector):
    """Base of the storage connectors: the ``store_object`` capability and the error-mapping
    boundary every call goes through (``map_error`` around the vendor's ``vendor_error`` table)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"store_object"})

    def vendor_error(self, exc: BaseException, what: str) -> ConnectorError | None:
        """The vendor's error table: the SDK's exception → a connector error with a message a
        person can act on; None for what the table does not know."""
        raise NotImplementedError

    def map_error(self, exc: BaseException, what: str) -> ConnectorError:
        """``exc``, raised while doing ``what``, as a connector error. Errors already mapped
        pass through; what the vendor table does not know is permanent (retrying an unknown
        failure cannot help)."""
        if isinstance(exc, ConnectorError):
            return exc
        return self.vendor_error(exc, what) or PermanentError(
            f"{what}: {type(exc).__name__}: {exc}"
        )

    async def _checked(self, what: str, probe: Awaitable[object], ok: str) -> CheckResult:
        """The connection check: one cheap probe; its failure becomes a stable code."""
        try:
            await probe
        except Exception as e:
            err = self.map_error(e, what)
            return CheckResult(ok=False, code=err.code, message=str(err))
        return CheckResult(ok=True, message=ok)


class BlockingObjectStore(ObjectStoreConnector):
    """A store whose SDK blocks (boto3, azure-storage-blob, ftplib). Its work is written once,
    as blocking code; the async capability methods run it in a worker thread. The archive
    engine, already on a worker thread, calls ``put_object_blocking`` directly."""

    def put_object_blocking(
        self,
        key: str,
        source: Path,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        raise NotImplementedError

    async def put_object(
        self,
        key: str,
        source: Path,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        return await asyncio.to_thread(
            self.put_object_blocking, key, source, content_type=content_type, metadata=metadata
        )

    async def _in_thread(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread; its failure is mapped as ``what`` failing."""
        try:
            return await asyncio.to_thread(fn)
        except Exception as e:
            raise self.map_error(e, what) from e
