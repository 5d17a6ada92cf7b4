"""FTP and explicit FTPS (AUTH TLS) as an archive destination.

The Masergy seed warns that plain FTP is not secure, so TLS is the default and plain FTP
needs ``insecure_plain_ftp: true`` spelled out in the config. Files go up under a temporary
name, their size is checked with ``SIZE`` (binary mode), and only then are they renamed into
place; ``verify: readback`` also re-reads each file and compares SHA-256. ftplib is blocking
and one control connection carries one transfer at a time, so a small pool of connections
serves concurrent uploads from worker threads.
"""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import posixpath
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, model_validator

from connectors.base import (
    AuthError,
    CheckResult,
    ConfigError,
    ConnectorConfig,
    ConnectorError,
    ObjectInfo,
    PermanentError,
    RetriableError,
)
from connectors.object_storage import (
    BlockingObjectStore,
    VerificationError,
    digest_file,
    is_partial,
    join_key,
    list_root,
    partial_name,
    strip_prefix,
    verify_readback,
    verify_size,
)

T = TypeVar("T")


class FtpConfig(ConnectorConfig):
    host: str = Field(description="Server name or address")
    port: int = Field(21, ge=1, le=65535, description="Control port")
    username: str = Field("anonymous", description="FTP user")
    password: SecretStr | None = Field(None, description="FTP password")
    tls: bool = Field(True, description="Explicit FTPS (AUTH TLS) with a protected data channel")
    insecure_plain_ftp: bool = Field(
        False, description="Required to allow tls: false (credentials and audio in clear text)"
    )
    tls_verify: bool = Field(True, description="Verify the server certificate")
    ca_file: str = Field("", description="CA bundle for the server certificate (private CAs)")
    passive: bool = Field(True, description="Passive mode data connections")
    base_path: str = Field("", description="Directory under which the archive is written")
    verify: Literal["size", "readback"] = Field(
        "size", description="size: compare sizes; readback: also re-read and compare SHA-256"
    )
    connections: int = Field(2, ge=1, le=16, description="Parallel control connections")
    timeout_seconds: float = Field(30.0, gt=0, description="Socket timeout")

    @model_validator(mode="after")
    def _plain_needs_consent(self) -> FtpConfig:
        if not self.tls and not self.insecure_plain_ftp:
            raise ValueError(
                "plain FTP sends the password and the recordings unencrypted; use tls: true "
                "or set insecure_plain_ftp: true to accept that"
            )
        return self


class FtpConnector(BlockingObjectStore):
    kind: ClassVar[str] = "ftp"
    display_name: ClassVar[str] = "FTP / FTPS server"
    config_model: ClassVar[type[ConnectorConfig]] = FtpConfig

    config: FtpConfig

    @staticmethod
    def vendor_error(exc: BaseException, what: str) -> ConnectorError | None:
        text = str(exc).strip()
        if isinstance(exc, ftplib.error_perm):
            code = text[:3]
            if code in ("530", "532"):
                return AuthError(f"{what}: login refused ({text})")
            if code == "550":
                return PermanentError(f"{what}: refused by the server ({text})")
            return PermanentError(f"{what}: {text}")
        if isinstance(exc, ftplib.error_temp):
            return RetriableError(f"{what}: temporary failure ({text})")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ConfigError(f"{what}: server certificate not trusted ({exc.verify_message})")
        if isinstance(exc, ssl.SSLError):
            return RetriableError(f"{what}: TLS error ({text})")
        if isinstance(
            exc, EOFError | OSError | TimeoutError | ftplib.error_reply | ftplib.error_proto
        ):
            return RetriableError(
                f"{what}: cannot reach the FTP server ({exc or type(exc).__name__})"
            )
        return None

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._idle: list[ftplib.FTP] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.config.connections)
        self._dirs: set[str] = set()

    @property
    def _where(self) -> str:
        scheme = "ftps" if self.config.tls else "ftp"
        return f"{scheme}://{self.config.username}@{self.config.host}:{self.config.port}"

    def _connect(self) -> ftplib.FTP:
        cfg = self.config
        ftp: ftplib.FTP
        if cfg.tls:
            ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
            if not cfg.tls_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            ftp = ftplib.FTP_TLS(context=ctx, timeout=cfg.timeout_seconds)
        else:
            ftp = ftplib.FTP(timeout=cfg.timeout_seconds)
        ftp.connect(cfg.host, cfg.port)
        ftp.login(cfg.username, cfg.password.get_secret_value() if cfg.password else "")
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.set_pasv(cfg.passive)
        ftp.voidcmd("TYPE I")
        return ftp

    @contextmanager
    def _session(self) -> Iterator[ftplib.FTP]:
        """A pooled control connection; one that failed is dropped, not returned."""
        with self._slots:
            with self._lock:
                ftp = self._idle.pop() if self._idle else None
            if ftp is None:
                ftp = self._connect()
            try:
                yield ftp
            except BaseException:
                with _quiet():
                    ftp.close()
                raise
            with self._lock:
                self._idle.append(ftp)

    def _call(self, fn: Callable[[ftplib.FTP], T]) -> T:
        with self._session() as ftp:
            return fn(ftp)

    async def _run(self, what: str, fn: Callable[[ftplib.FTP], T]) -> T:
        return await self._in_thread(f"{what} {self._where}", lambda: self._call(fn))

    def _path(self, key: str) -> str:
        return join_key(self.config.base_path, key)

    def _makedirs(self, ftp: ftplib.FTP, directory: str) -> None:
        parts = [p for p in directory.split("/") if p]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d in self._dirs:
                continue
            try:
                ftp.mkd(d)
            except ftplib.error_perm as e:
                if not str(e).startswith(("550", "521")):  # exists already
                    raise
            self._dirs.add(d)

    @staticmethod
    def _size(ftp: ftplib.FTP, path: str) -> int | None:
        try:
            return ftp.size(path)
        except ftplib.error_perm:
            return None

    @staticmethod
    def _sha256(ftp: ftplib.FTP, path: str) -> str:
        h = hashlib.sha256()
        ftp.retrbinary(f"RETR {path}", h.update)
        return h.hexdigest()

    def put_object_blocking(
        self,
        key: str,
        source: Path,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        path = self._path(key)
        digest = digest_file(source)
        tmp = partial_name(path)

        def put(ftp: ftplib.FTP) -> None:
            self._makedirs(ftp, posixpath.dirname(path))
            with open(source, "rb") as f:
                ftp.storbinary(f"STOR {tmp}", f, blocksize=1 << 16)
            try:
                verify_size(path, self._size(ftp, tmp), digest)
                if self.config.verify == "readback":
                    verify_readback(path, self._sha256(ftp, tmp), digest)
            except VerificationError:
                ftp.delete(tmp)
                raise
            try:
                ftp.rename(tmp, path)
            except ftplib.error_perm:
                # servers that refuse to rename over an existing file
                ftp.delete(path)
                ftp.rename(tmp, path)

        try:
            self._call(put)
        except Exception as e:
            raise self.map_error(e, f"upload {path} to {self._where}") from e
        return ObjectInfo(key=key, size=digest.size, checksum=digest.sha256)

    async def head_object(self, key: str) -> ObjectInfo | None:
        path = self._path(key)

        def head(ftp: ftplib.FTP) -> ObjectInfo | None:
            size = self._size(ftp, path)
            if size is None:
                return None
            checksum = self._sha256(ftp, path) if self.config.verify == "readback" else ""
            return ObjectInfo(key=key, size=size, checksum=checksum)

        return await self._run(f"stat {path} on", head)

    async def delete_object(self, key: str) -> None:
        path = self._path(key)

        def rm(ftp: ftplib.FTP) -> None:
            try:
                ftp.delete(path)
            except ftplib.error_perm as e:
                if not str(e).startswith("550"):
                    raise

        await self._run(f"delete {path} on", rm)

    async def download_object(self, key: str, dest: Path) -> ObjectInfo:
        path = self._path(key)

        def get(ftp: ftplib.FTP) -> None:
            with open(dest, "wb") as f:
                ftp.retrbinary(f"RETR {path}", f.write)

        await self._run(f"download {path} from", get)
        return ObjectInfo(key=key, size=dest.stat().st_size)

    async def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        base, start = list_root(self.config.base_path, prefix)

        def walk(ftp: ftplib.FTP) -> list[ObjectInfo]:
            out: list[ObjectInfo] = []
            stack = [start]
            while stack:
                d = stack.pop()
                try:
                    entries = list(ftp.mlsd(d or ".", facts=["type", "size"]))
                except ftplib.error_perm:
                    continue
                for name, facts in entries:
                    full = f"{d}/{name}" if d else name
                    if facts.get("type") == "dir":
                        stack.append(full)
                    elif facts.get("type") == "file" and not is_partial(name):
                        out.append(
                            ObjectInfo(key=strip_prefix(base, full), size=int(facts.get("size", 0)))
                        )
            return sorted(out, key=lambda o: o.key)

        return await self._run("list", walk)

    async def check(self) -> CheckResult:
        return await self._checked(
            f"login to {self._where}",
            self._run("login to", lambda ftp: ftp.voidcmd("NOOP")),
            ok=f"{self._where} accepted the login",
        )

    async def aclose(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for ftp in idle:
            with _quiet():
                ftp.quit()


def _quiet() -> contextlib.suppress:
    # closing a broken connection may fail in any way; there is nothing left to do about it
    return contextlib.suppress(Exception)
