"""Shared helpers of the four storage connectors (s3, azure_blob, sftp, ftp).

The ``store_object`` capability itself (``ObjectStore``, ``ObjectInfo``) lives in
``connectors.base``; this module only holds what the four wire-level modules would otherwise
repeat: hashing a file once, joining a configured prefix with a key safely, and the readback
check used where a protocol has no server-side checksum (SFTP, FTP).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from connectors.base import ConfigError, RetriableError


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
