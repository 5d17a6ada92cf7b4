"""S3 connector against moto's real S3 server: round trip, verification, multipart, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from connectors.base import ConfigError, ObjectStore, RetriableError
from connectors.s3 import S3Config, S3Connector


async def test_round_trip(s3_connector: S3Connector, tmp_path: Path) -> None:
    assert isinstance(s3_connector, ObjectStore)
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 1000 + bytes(range(256)))
    info = await s3_connector.put_object(
        "2025/06/05/a.bin", src, content_type="audio/wav", metadata={"recording-id": "r1"}
    )
    assert info.size == src.stat().st_size
    assert info.checksum == hashlib.sha256(src.read_bytes()).hexdigest()
    head = await s3_connector.head_object("2025/06/05/a.bin")
    assert head is not None and head.size == info.size and head.checksum == info.checksum
    assert [o.key for o in await s3_connector.list_objects("2025")] == ["2025/06/05/a.bin"]
    out = tmp_path / "back.bin"
    await s3_connector.download_object("2025/06/05/a.bin", out)
    assert out.read_bytes() == src.read_bytes()
    raw = s3_connector.client().head_object(
        Bucket=s3_connector.config.bucket, Key="2025/06/05/a.bin"
    )
    assert raw["ContentType"] == "audio/wav" and raw["Metadata"]["recording-id"] == "r1"
    await s3_connector.delete_object("2025/06/05/a.bin")
    assert await s3_connector.head_object("2025/06/05/a.bin") is None
    assert (await s3_connector.check()).ok
    await s3_connector.aclose()


async def test_prefix_and_unsafe_keys(moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    conn = S3Connector(
        S3Config(
            bucket=s3_bucket,
            endpoint_url=moto_endpoint,
            prefix="/calls/",
            access_key_id="testing",
            secret_access_key="testing",
        )
    )
    src = tmp_path / "a"
    src.write_bytes(b"abc")
    await conn.put_object("x/a", src)
    keys = [o["Key"] for o in conn.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["calls/x/a"]
    assert [o.key for o in await conn.list_objects()] == ["x/a"]
    for bad in ("../a", "/abs", "a/../../b"):
        with pytest.raises(ConfigError):
            await conn.put_object(bad, src)


async def test_multipart_upload_is_verified(
    moto_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    conn = S3Connector(
        S3Config(
            bucket=s3_bucket,
            endpoint_url=moto_endpoint,
            access_key_id="testing",
            secret_access_key="testing",
            multipart_threshold_mb=5,
            part_size_mb=5,
        )
    )
    src = tmp_path / "big.wav"
    src.write_bytes(b"\x01\x02" * (6 << 20))  # 12 MiB: three parts
    info = await conn.put_object("big.wav", src)
    assert info.size == 12 << 20
    head = conn.client().head_object(Bucket=s3_bucket, Key="big.wav")
    assert head["ETag"].strip('"').endswith("-3")


async def test_errors_are_mapped(moto_endpoint: str, tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.write_bytes(b"abc")
    missing = S3Connector(
        S3Config(
            bucket="no-such-bucket-here",
            endpoint_url=moto_endpoint,
            access_key_id="testing",
            secret_access_key="testing",
        )
    )
    with pytest.raises(ConfigError, match="NoSuchBucket"):
        await missing.put_object("a", src)
    res = await missing.check()
    assert not res.ok and res.code == "invalid_config"

    from tests.archive.archive_support import free_port

    down = S3Connector(
        S3Config(
            bucket="b",
            endpoint_url=f"http://127.0.0.1:{free_port()}",
            access_key_id="testing",
            secret_access_key="testing",
            timeout_seconds=2,
        )
    )
    with pytest.raises(RetriableError, match="cannot reach"):
        await down.put_object("a", src)
    res = await down.check()
    assert not res.ok and res.code == "cannot_connect"


def test_secrets_never_in_repr() -> None:
    conn = S3Connector(
        S3Config(bucket="b", access_key_id="AKIAEXAMPLE", secret_access_key="s3cr3t")
    )
    assert "s3cr3t" not in repr(conn) and "AKIAEXAMPLE" not in repr(conn)
    assert "s3cr3t" not in conn.config.model_dump_json()
