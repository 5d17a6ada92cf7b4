"""Azure Blob Storage (and Azurite) as an archive destination.

Uploads send ``Content-MD5`` of the whole blob as its content setting and as the transactional
MD5 (``validate_content``), so the service rejects a corrupted body; the blob's stored size and
MD5 are then compared with ours before the upload counts. azure-storage-blob is blocking (its
async flavour needs aiohttp), so calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

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
    join_key,
    list_root,
    strip_prefix,
)


class AzureBlobConfig(ConnectorConfig):
    container: str = Field(description="Blob container that receives the archive (must exist)")
    connection_string: SecretStr | None = Field(
        None, description="Storage account connection string (includes the key or a SAS)"
    )
    account_url: str | None = Field(
        None, description="https://<account>.blob.core.windows.net, when no connection string"
    )
    account_name: str | None = Field(None, description="Account name, with account_key")
    account_key: SecretStr | None = Field(None, description="Account key (shared key auth)")
    sas_token: SecretStr | None = Field(None, description="SAS token, instead of a key")
    prefix: str = Field("", description="Folder inside the container under which blobs go")
    access_tier: str = Field("", description="Hot, Cool, Cold or Archive; empty for default")
    max_concurrency: int = Field(4, ge=1, le=64, description="Parallel block uploads per blob")
    timeout_seconds: float = Field(60.0, gt=0, description="Connect and read timeout")

    @model_validator(mode="after")
    def _one_way_in(self) -> AzureBlobConfig:
        if self.connection_string is None and not self.account_url:
            raise ValueError("set connection_string, or account_url with account_key or sas_token")
        if self.connection_string is None and self.account_key is None and self.sas_token is None:
            raise ValueError("account_url needs account_key or sas_token")
        return self


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class AzureBlobConnector(BlockingObjectStore):
    kind: ClassVar[str] = "azure_blob"
    requires: ClassVar[tuple[str, ...]] = ("azure.storage.blob",)
    extra: ClassVar[str] = "archive"
    display_name: ClassVar[str] = "Azure Blob Storage"
    config_model: ClassVar[type[ConnectorConfig]] = AzureBlobConfig

    config: AzureBlobConfig

    @staticmethod
    def vendor_error(exc: BaseException, what: str) -> ConnectorError | None:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if isinstance(exc, ClientAuthenticationError):
            return AuthError(f"{what}: authentication failed ({_first_line(exc)})")
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return RetriableError(f"{what}: cannot reach the blob endpoint ({_first_line(exc)})")
        if isinstance(exc, ResourceNotFoundError):
            code = getattr(exc, "error_code", "") or ""
            if "Container" in str(code):
                return ConfigError(f"{what}: container does not exist ({code})")
            return PermanentError(f"{what}: not found ({code})")
        if isinstance(exc, HttpResponseError):
            status = exc.status_code or 0
            code = getattr(exc, "error_code", "") or ""
            msg = f"{what}: blob service answered {status} {code}"
            if status in (401, 403):
                return AuthError(msg)
            if code == "Md5Mismatch":
                return VerificationError(msg)
            if status == 429 or status >= 500 or status == 408:
                return RetriableError(msg)
            return PermanentError(msg)
        if isinstance(exc, ValueError):
            return ConfigError(f"{what}: {exc}")
        if isinstance(exc, OSError | TimeoutError):
            return RetriableError(f"{what}: {exc}")
        return None

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._container: Any = None
        self._client_lock = threading.Lock()

    def container(self) -> Any:
        if self._container is not None:
            return self._container
        with self._client_lock:  # upload threads start together; build one client
            if self._container is not None:
                return self._container
            from azure.storage.blob import BlobServiceClient

            cfg = self.config
            kwargs = {
                "connection_timeout": cfg.timeout_seconds,
                "read_timeout": cfg.timeout_seconds,
                "retry_total": 0,
            }  # the archive engine retries, with its own backoff
            if cfg.connection_string is not None:
                service = BlobServiceClient.from_connection_string(
                    cfg.connection_string.get_secret_value(), **kwargs
                )
            else:
                cred: Any
                if cfg.account_key is not None:
                    cred = {
                        "account_name": cfg.account_name or "",
                        "account_key": cfg.account_key.get_secret_value(),
                    }
                else:
                    cred = cfg.sas_token.get_secret_value() if cfg.sas_token else None
                service = BlobServiceClient(
                    account_url=cfg.account_url or "", credential=cred, **kwargs
                )
            self._container = service.get_container_client(cfg.container)
        return self._container

    def _key(self, key: str) -> str:
        return join_key(self.config.prefix, key)

    def put_object_blocking(
        self,
        key: str,
        source: Path,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        from azure.storage.blob import ContentSettings

        full = self._key(key)
        digest = digest_file(source)
        # Azure metadata names must be C# identifiers: no dashes
        meta = {
            k.replace("-", "_"): v for k, v in {**(metadata or {}), "sha256": digest.sha256}.items()
        }
        blob = self.container().get_blob_client(full)
        try:
            with open(source, "rb") as body:
                blob.upload_blob(
                    body,
                    length=digest.size,
                    overwrite=True,
                    metadata=meta,
                    content_settings=ContentSettings(
                        content_type=content_type or "application/octet-stream",
                        content_md5=bytearray(digest.md5),
                    ),
                    validate_content=True,
                    standard_blob_tier=self.config.access_tier or None,
                    max_concurrency=self.config.max_concurrency,
                )
            props = blob.get_blob_properties()
        except Exception as e:
            raise self.map_error(e, f"upload {self.config.container}/{full}") from e
        stored_md5 = bytes(props.content_settings.content_md5 or b"")
        if props.size != digest.size or (stored_md5 and stored_md5 != digest.md5):
            raise VerificationError(
                f"{full}: stored {props.size} bytes / MD5 {stored_md5.hex()}, "
                f"sent {digest.size} / {digest.md5_hex}"
            )
        return ObjectInfo(key=key, size=digest.size, checksum=digest.sha256)

    async def head_object(self, key: str) -> ObjectInfo | None:
        return await asyncio.to_thread(self._head, key)

    def _head(self, key: str) -> ObjectInfo | None:
        from azure.core.exceptions import ResourceNotFoundError

        full = self._key(key)
        try:
            props = self.container().get_blob_client(full).get_blob_properties()
        except ResourceNotFoundError as e:
            if "Container" in str(getattr(e, "error_code", "")):
                raise self.map_error(e, f"head {full}") from e
            return None
        except Exception as e:
            raise self.map_error(e, f"head {self.config.container}/{full}") from e
        checksum = (props.metadata or {}).get("sha256") or bytes(
            props.content_settings.content_md5 or b""
        ).hex()
        return ObjectInfo(key=key, size=int(props.size), checksum=checksum)

    async def delete_object(self, key: str) -> None:
        full = self._key(key)
        await self._in_thread(
            f"delete {self.config.container}/{full}", lambda: self.container().delete_blob(full)
        )

    async def download_object(self, key: str, dest: Path) -> ObjectInfo:
        full = self._key(key)

        def run() -> None:
            with open(dest, "wb") as f:
                self.container().download_blob(full).readinto(f)

        await self._in_thread(f"download {self.config.container}/{full}", run)
        return ObjectInfo(key=key, size=dest.stat().st_size)

    async def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        base, full = list_root(self.config.prefix, prefix)

        def run() -> list[ObjectInfo]:
            return [
                ObjectInfo(
                    key=strip_prefix(base, b.name),
                    size=int(b.size),
                    checksum=bytes(b.content_settings.content_md5 or b"").hex(),
                )
                for b in self.container().list_blobs(name_starts_with=full or None)
            ]

        return await self._in_thread(f"list {self.config.container}", run)

    async def check(self) -> CheckResult:
        container = self.config.container
        return await self._checked(
            f"container {container}",
            asyncio.to_thread(lambda: self.container().get_container_properties()),
            ok=f"container {container} is reachable",
        )

    async def aclose(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
