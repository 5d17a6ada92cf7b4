"""SFTP as an archive destination (the Focus and Masergy seeds' main archive protocol).

Password or key authentication, any port, and the server's host key pinned in the config
(``host_key``): a server presenting another key is refused, since that is what a
man-in-the-middle looks like. Files are written under a temporary name and renamed into place
once their size is verified, so a reader never sees half a recording; ``verify: readback``
additionally re-reads each file and compares SHA-256 (SFTP has no server-side checksum).
One SSH connection is reused for all transfers of a run (asyncssh multiplexes requests).
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
from pathlib import Path
from typing import Any, ClassVar, Literal

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
    ObjectStoreConnector,
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


class SftpConfig(ConnectorConfig):
    host: str = Field(description="Server name or address")
    port: int = Field(22, ge=1, le=65535, description="SSH port (non-standard ports welcome)")
    username: str = Field(description="SSH user")
    password: SecretStr | None = Field(None, description="Password (or use private_key)")
    private_key: SecretStr | None = Field(None, description="Private key in OpenSSH/PEM text")
    private_key_passphrase: SecretStr | None = Field(None, description="Passphrase of the key")
    host_key: str = Field(
        "",
        description="The server's public host key ('ssh-ed25519 AAAA…'), pinned; required "
        "unless insecure_skip_host_key_check is set",
    )
    insecure_skip_host_key_check: bool = Field(
        False, description="Accept any host key (tests only: allows man-in-the-middle)"
    )
    base_path: str = Field("", description="Directory under which the archive is written")
    verify: Literal["size", "readback"] = Field(
        "size", description="size: compare sizes; readback: also re-read and compare SHA-256"
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Connect timeout")

    @model_validator(mode="after")
    def _auth_and_host_key(self) -> SftpConfig:
        if self.password is None and self.private_key is None:
            raise ValueError("set password or private_key")
        if not self.host_key.strip() and not self.insecure_skip_host_key_check:
            raise ValueError("pin the server's host_key (or set insecure_skip_host_key_check)")
        return self


class SftpConnector(ObjectStoreConnector):
    kind: ClassVar[str] = "sftp"
    display_name: ClassVar[str] = "SFTP server"
    config_model: ClassVar[type[ConnectorConfig]] = SftpConfig

    config: SftpConfig

    @staticmethod
    def vendor_error(exc: BaseException, what: str) -> ConnectorError | None:
        import asyncssh

        if isinstance(exc, asyncssh.PermissionDenied):
            return AuthError(f"{what}: SSH authentication failed (wrong user, password or key)")
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            return ConfigError(f"{what}: server host key does not match the pinned host_key")
        if isinstance(exc, asyncssh.SFTPError):
            if exc.code in (asyncssh.FX_PERMISSION_DENIED, asyncssh.FX_WRITE_PROTECT):
                return PermanentError(f"{what}: permission denied on the server ({exc.reason})")
            if exc.code in (asyncssh.FX_NO_CONNECTION, asyncssh.FX_CONNECTION_LOST):
                return RetriableError(f"{what}: connection lost ({exc.reason})")
            return PermanentError(f"{what}: SFTP error {exc.code} ({exc.reason})")
        if isinstance(exc, asyncssh.DisconnectError | asyncssh.ConnectionLost):
            return RetriableError(f"{what}: disconnected ({exc})")
        if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError):
            return RetriableError(f"{what}: cannot reach the SFTP server ({exc})")
        return None

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._conn: Any = None
        self._sftp: Any = None
        self._lock = asyncio.Lock()
        self._dirs: set[str] = set()

    @property
    def _where(self) -> str:
        return f"sftp://{self.config.username}@{self.config.host}:{self.config.port}"

    async def _client(self) -> Any:
        async with self._lock:
            if self._sftp is not None and not self._conn.is_closed():
                return self._sftp
            import asyncssh

            cfg = self.config
            known_hosts: Any = None
            if cfg.host_key.strip():
                known_hosts = ([asyncssh.import_public_key(cfg.host_key.strip())], [], [])
            keys = None
            if cfg.private_key is not None:
                passphrase = (
                    cfg.private_key_passphrase.get_secret_value()
                    if cfg.private_key_passphrase
                    else None
                )
                keys = [asyncssh.import_private_key(cfg.private_key.get_secret_value(), passphrase)]
            self._conn = await asyncio.wait_for(
                asyncssh.connect(
                    cfg.host,
                    port=cfg.port,
                    username=cfg.username,
                    password=cfg.password.get_secret_value() if cfg.password else None,
                    client_keys=keys,
                    known_hosts=known_hosts,
                    agent_path=None,
                    config=None,
                    preferred_auth="publickey,password,keyboard-interactive",
                ),
                cfg.timeout_seconds,
            )
            self._sftp = await self._conn.start_sftp_client()
            self._dirs.clear()
            return self._sftp

    def _path(self, key: str) -> str:
        return join_key(self.config.base_path, key)

    async def _makedirs(self, sftp: Any, directory: str) -> None:
        if not directory or directory in self._dirs:
            return
        await sftp.makedirs(directory, exist_ok=True)
        self._dirs.add(directory)

    async def put_object(
        self,
        key: str,
        source: Path,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        path = self._path(key)
        digest = await asyncio.to_thread(digest_file, source)
        tmp = partial_name(path)
        try:
            sftp = await self._client()
            await self._makedirs(sftp, posixpath.dirname(path))
            await sftp.put(str(source), tmp)
            try:
                verify_size(path, (await sftp.stat(tmp)).size, digest)
                if self.config.verify == "readback":
                    verify_readback(path, await self._sha256(sftp, tmp), digest)
            except VerificationError:
                await sftp.remove(tmp)
                raise
            await self._replace(sftp, tmp, path)
        except Exception as e:
            raise self.map_error(e, f"upload {self._where}/{path}") from e
        return ObjectInfo(key=key, size=digest.size, checksum=digest.sha256)

    async def _replace(self, sftp: Any, tmp: str, path: str) -> None:
        import asyncssh

        try:
            await sftp.posix_rename(tmp, path)  # atomic overwrite (OpenSSH extension)
        except (asyncssh.SFTPOpUnsupported, asyncssh.SFTPError):
            if await sftp.exists(path):
                await sftp.remove(path)
            await sftp.rename(tmp, path)

    async def _sha256(self, sftp: Any, path: str) -> str:
        h = hashlib.sha256()
        async with sftp.open(path, "rb") as f:
            while block := await f.read(1 << 20):
                h.update(block)
        return h.hexdigest()

    async def head_object(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            sftp = await self._client()
            if not await sftp.exists(path):
                return None
            attrs = await sftp.stat(path)
            checksum = await self._sha256(sftp, path) if self.config.verify == "readback" else ""
        except Exception as e:
            raise self.map_error(e, f"stat {self._where}/{path}") from e
        return ObjectInfo(key=key, size=int(attrs.size or 0), checksum=checksum)

    async def delete_object(self, key: str) -> None:
        path = self._path(key)
        try:
            sftp = await self._client()
            if await sftp.exists(path):
                await sftp.remove(path)
        except Exception as e:
            raise self.map_error(e, f"delete {self._where}/{path}") from e

    async def download_object(self, key: str, dest: Path) -> ObjectInfo:
        path = self._path(key)
        try:
            sftp = await self._client()
            await sftp.get(path, str(dest))
        except Exception as e:
            raise self.map_error(e, f"download {self._where}/{path}") from e
        return ObjectInfo(key=key, size=dest.stat().st_size)

    async def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        base, start = list_root(self.config.base_path, prefix)
        start = start or "."
        out: list[ObjectInfo] = []
        try:
            sftp = await self._client()
            if not await sftp.exists(start):
                return []
            stack = [start]
            while stack:
                d = stack.pop()
                for entry in await sftp.readdir(d):
                    if entry.filename in (".", ".."):
                        continue
                    full = entry.filename if d == "." else f"{d}/{entry.filename}"
                    if entry.attrs.type == 2:  # FILEXFER_TYPE_DIRECTORY
                        stack.append(full)
                    elif not is_partial(entry.filename):
                        out.append(
                            ObjectInfo(
                                key=strip_prefix(base, full), size=int(entry.attrs.size or 0)
                            )
                        )
        except Exception as e:
            raise self.map_error(e, f"list {self._where}/{start}") from e
        return sorted(out, key=lambda o: o.key)

    async def check(self) -> CheckResult:
        return await self._checked(
            self._where, self._probe(), ok=f"{self._where} accepted the login"
        )

    async def _probe(self) -> None:
        sftp = await self._client()
        base = self.config.base_path.strip("/") or "."
        await sftp.stat(base) if base != "." else await sftp.getcwd()

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()
            self._conn = self._sftp = None
