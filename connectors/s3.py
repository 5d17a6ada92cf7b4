"""Amazon S3 and every S3-compatible store (MinIO, Ceph, Wasabi, moto) as an archive destination.

Uploads are verified by the service itself: single-part uploads carry ``Content-MD5`` (S3
rejects a body that does not match) and the returned ETag must equal the MD5 we computed;
multipart uploads are checked against the multipart ETag computed locally from the same part
size. The SHA-256 of the object travels as ``x-amz-meta-sha256`` so later audits can compare
without downloading. boto3 is blocking, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

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
    multipart_etag,
    strip_prefix,
)

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidClientTokenId",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
    "403",
}
_MISSING = ("404", "NoSuchKey", "NotFound")
_CONFIG_CODES = {"NoSuchBucket", "InvalidBucketName", "PermanentRedirect", "InvalidStorageClass"}
_RETRIABLE_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "BadDigest",
    "Throttling",
    "500",
    "502",
    "503",
    "504",
}


class S3Config(ConnectorConfig):
    bucket: str = Field(description="Bucket that receives the archive (must exist)")
    region: str = Field("us-east-1", description="AWS region of the bucket, e.g. eu-west-2")
    endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible service; empty for AWS itself"
    )
    access_key_id: SecretStr | None = Field(
        None, description="Access key id; empty to use the machine's AWS credential chain"
    )
    secret_access_key: SecretStr | None = Field(None, description="Secret access key")
    session_token: SecretStr | None = Field(None, description="Session token (temporary keys)")
    prefix: str = Field("", description="Folder inside the bucket under which keys are written")
    sse: Literal["", "AES256", "aws:kms"] = Field(
        "", description="Server-side encryption: empty (bucket default), AES256 or aws:kms"
    )
    sse_kms_key_id: str = Field("", description="KMS key id when sse is aws:kms")
    storage_class: str = Field(
        "", description="Storage class, e.g. STANDARD_IA or GLACIER_IR; empty for the default"
    )
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="Bucket addressing; auto means path-style when endpoint_url is set"
    )
    multipart_threshold_mb: int = Field(
        64, ge=5, le=5120, description="Files larger than this upload in parts"
    )
    part_size_mb: int = Field(16, ge=5, le=5120, description="Part size of multipart uploads")
    max_pool_connections: int = Field(16, ge=1, le=256, description="HTTP connection pool size")
    timeout_seconds: float = Field(60.0, gt=0, description="Connect and read timeout")


class S3Connector(BlockingObjectStore):
    kind: ClassVar[str] = "s3"
    requires: ClassVar[tuple[str, ...]] = ("boto3",)
    extra: ClassVar[str] = "archive"
    display_name: ClassVar[str] = "Amazon S3 (and S3-compatible storage)"
    config_model: ClassVar[type[ConnectorConfig]] = S3Config

    config: S3Config

    @staticmethod
    def vendor_error(exc: BaseException, what: str) -> ConnectorError | None:
        """boto errors → the four connector error classes, with a message a person can act on."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return AuthError(f"{what}: no usable AWS credentials ({exc})")
        if isinstance(
            exc,
            EndpointConnectionError
            | ConnectTimeoutError
            | ReadTimeoutError
            | ConnectionClosedError,
        ):
            return RetriableError(f"{what}: cannot reach the S3 endpoint ({exc})")
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            msg = f"{what}: S3 answered {status} {code}: {err.get('Message', '')}".rstrip(": ")
            if code in _AUTH_CODES or status in (401, 403):
                return AuthError(msg)
            if code in _CONFIG_CODES or (code == "404" and "bucket" in what):
                return ConfigError(msg)
            if code in _RETRIABLE_CODES or status == 429 or status >= 500:
                retry_after = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                hint = retry_after.get("retry-after")
                return RetriableError(msg, retry_after=float(hint) if hint else None)
            return PermanentError(msg)
        if isinstance(exc, OSError | TimeoutError):
            return RetriableError(f"{what}: {exc}")
        return None

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._client: Any = None
        self._client_lock = threading.Lock()

    # ---------------------------------------------------------------- client

    def client(self) -> Any:
        """The boto3 client, built on first use (secrets unwrapped only here)."""
        if self._client is not None:
            return self._client
        with self._client_lock:  # eight upload threads start at once; build one client, not eight
            if self._client is not None:
                return self._client
            import boto3
            from botocore.config import Config

            cfg = self.config
            style = cfg.addressing_style
            if style == "auto":
                style = "path" if cfg.endpoint_url else "virtual"
            self._client = boto3.session.Session().client(
                "s3",
                region_name=cfg.region,
                endpoint_url=cfg.endpoint_url or None,
                aws_access_key_id=_reveal(cfg.access_key_id),
                aws_secret_access_key=_reveal(cfg.secret_access_key),
                aws_session_token=_reveal(cfg.session_token),
                config=Config(
                    s3={"addressing_style": style},
                    # one attempt: the archive uploader and delivery loop own retries
                    retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=cfg.timeout_seconds,
                    read_timeout=cfg.timeout_seconds,
                    max_pool_connections=cfg.max_pool_connections,
                    # uploads carry Content-MD5 already; a second (CRC32) pass over every body
                    # only costs CPU
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        return self._client

    def _key(self, key: str) -> str:
        return join_key(self.config.prefix, key)

    def _extra_args(self, content_type: str, metadata: dict[str, str]) -> dict[str, Any]:
        args: dict[str, Any] = {"Metadata": metadata}
        if content_type:
            args["ContentType"] = content_type
        if self.config.sse:
            args["ServerSideEncryption"] = self.config.sse
            if self.config.sse == "aws:kms" and self.config.sse_kms_key_id:
                args["SSEKMSKeyId"] = self.config.sse_kms_key_id
        if self.config.storage_class:
            args["StorageClass"] = self.config.storage_class
        return args

    # ---------------------------------------------------------------- store_object

    def put_object_blocking(
        self,
        key: str,
        source: Path,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        full = self._key(key)
        digest = digest_file(source)
        meta = {**(metadata or {}), "sha256": digest.sha256}
        args = self._extra_args(content_type, meta)
        client = self.client()
        threshold = self.config.multipart_threshold_mb << 20
        try:
            if digest.size <= threshold:
                with open(source, "rb") as body:
                    resp = client.put_object(
                        Bucket=self.config.bucket,
                        Key=full,
                        Body=body,
                        ContentLength=digest.size,
                        ContentMD5=digest.md5_b64,
                        **args,
                    )
                etag = str(resp.get("ETag", "")).strip('"')
                # Content-MD5 made the service check the body; with SSE-KMS the ETag is not the
                # MD5, so there the accepted Content-MD5 is the proof.
                if self.config.sse != "aws:kms" and etag and etag != digest.md5_hex:
                    raise VerificationError(
                        f"{full}: ETag {etag} does not match the MD5 {digest.md5_hex} we sent"
                    )
            else:
                from boto3.s3.transfer import TransferConfig

                part = self.config.part_size_mb << 20
                client.upload_file(
                    str(source),
                    self.config.bucket,
                    full,
                    ExtraArgs=args,
                    Config=TransferConfig(multipart_threshold=threshold, multipart_chunksize=part),
                )
                head = client.head_object(Bucket=self.config.bucket, Key=full)
                etag = str(head.get("ETag", "")).strip('"')
                expected = multipart_etag(source, part)
                if head.get("ContentLength") != digest.size or (
                    self.config.sse != "aws:kms" and etag != expected
                ):
                    raise VerificationError(
                        f"{full}: stored {head.get('ContentLength')} bytes / ETag {etag}, "
                        f"expected {digest.size} bytes / {expected}"
                    )
        except Exception as e:
            raise self.map_error(e, f"upload s3://{self.config.bucket}/{full}") from e
        return ObjectInfo(key=key, size=digest.size, checksum=digest.sha256)

    async def head_object(self, key: str) -> ObjectInfo | None:
        return await asyncio.to_thread(self._head, key)

    def _head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            head = self.client().head_object(Bucket=self.config.bucket, Key=full)
        except Exception as e:
            if isinstance(e, ClientError) and e.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self.map_error(e, f"head s3://{self.config.bucket}/{full}") from e
        checksum = head.get("Metadata", {}).get("sha256") or str(head.get("ETag", "")).strip('"')
        return ObjectInfo(key=key, size=int(head["ContentLength"]), checksum=checksum)

    async def delete_object(self, key: str) -> None:
        bucket, full = self.config.bucket, self._key(key)
        await self._in_thread(
            f"delete s3://{bucket}/{full}",
            lambda: self.client().delete_object(Bucket=bucket, Key=full),
        )

    async def download_object(self, key: str, dest: Path) -> ObjectInfo:
        bucket, full = self.config.bucket, self._key(key)
        await self._in_thread(
            f"download s3://{bucket}/{full}",
            lambda: self.client().download_file(bucket, full, str(dest)),
        )
        return ObjectInfo(key=key, size=dest.stat().st_size)

    async def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        base, full = list_root(self.config.prefix, prefix)

        def run() -> list[ObjectInfo]:
            pages = (
                self.client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.config.bucket, Prefix=full)
            )
            return [
                ObjectInfo(
                    key=strip_prefix(base, obj["Key"]),
                    size=int(obj["Size"]),
                    checksum=str(obj.get("ETag", "")).strip('"'),
                )
                for page in pages
                for obj in page.get("Contents", [])
            ]

        return await self._in_thread(f"list bucket {self.config.bucket}", run)

    # ---------------------------------------------------------------- lifecycle

    async def check(self) -> CheckResult:
        bucket = self.config.bucket
        return await self._checked(
            f"bucket {bucket}",
            asyncio.to_thread(lambda: self.client().head_bucket(Bucket=bucket)),
            ok=f"bucket {bucket} is reachable",
        )

    async def aclose(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
