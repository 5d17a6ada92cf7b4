"""Fixtures of the archive tests: a throwaway catalog, synthetic stereo calls, and real storage
peers (moto's S3 server, Azurite, an asyncssh SFTP server, a pyftpdlib FTP server), all bound
to 127.0.0.1 on free ports and torn down by the test run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog.db import Database
from catalog.models import Direction, Recording
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.store import LocalStore
from tests.archive.archive_support import free_port, write_call_wav


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    settings = RecflowSettings(data_dir=tmp_path / "data")
    db = Database(f"sqlite:///{tmp_path / 'data' / 'catalog.sqlite3'}")
    cat = Catalog(db, LocalStore(tmp_path / "data" / "recordings"), settings)
    yield cat
    db.dispose()


class Calls:
    """Adds recordings with real audio to a catalog."""

    def __init__(self, catalog: Catalog, tmp: Path) -> None:
        self.catalog = catalog
        self.tmp = tmp
        self.n = 0

    def add(
        self,
        *,
        started_at: datetime | None = None,
        seconds: float = 1.0,
        from_number: str = "+447700900128",
        to_number: str = "+441632960560",
        **extra: object,
    ) -> Recording:
        self.n += 1
        started = started_at or datetime(2025, 6, 5, 15, 54, 0, tzinfo=UTC) + timedelta(
            minutes=self.n
        )
        wav = write_call_wav(self.tmp / f"call{self.n}.wav", seconds, seed=self.n)
        rec = Recording(
            call_id=f"call-{self.n}@pbx.example",
            from_number=from_number,
            to_number=to_number,
            direction=Direction.inbound,
            started_at=started,
            ended_at=started + timedelta(seconds=seconds),
            duration_seconds=seconds,
            **extra,  # type: ignore[arg-type]
        )
        return self.catalog.add_recording(rec, audio=wav)


@pytest.fixture
def calls(catalog: Catalog, tmp_path: Path) -> Calls:
    (tmp_path / "src").mkdir()
    return Calls(catalog, tmp_path / "src")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    import uuid

    import boto3

    name = f"archive-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_connector(moto_endpoint: str, s3_bucket: str):  # type: ignore[no-untyped-def]
    from connectors.s3 import S3Config, S3Connector

    return S3Connector(
        S3Config(
            bucket=s3_bucket,
            endpoint_url=moto_endpoint,
            access_key_id="testing",
            secret_access_key="testing",
            region="us-east-1",
        ),
        name="s3-archive",
    )
