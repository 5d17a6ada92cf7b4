"""Every storage connector against a real server started here: Azurite (Azure Blob), an
asyncssh SFTP server, pyftpdlib FTP and explicit FTPS, moto S3. Same round trip for all four,
then wrong credentials and unreachable hosts, which must be clear errors, never crashes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.azure_blob import AzureBlobConfig, AzureBlobConnector
from connectors.base import AuthError, ConfigError, ObjectStore, RetriableError
from connectors.ftp import FtpConfig, FtpConnector
from connectors.sftp import SftpConfig, SftpConnector
from tests.archive.archive_support import free_port

# the servers are async fixtures on the session loop; the tests must run on that loop too
pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "build" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def az_conn_str(port: int, key: str = AZ_KEY) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Azurite (npm azurite@3.35.0) cannot run")
    if not AZURITE.exists():
        pytest.skip(
            f"Azurite not installed at {AZURITE}: run `npm install --prefix build/azurite azurite@3.35.0` (.ci/run does)"
        )
    port = free_port()
    loc = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(loc),
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from azure.storage.blob import BlobServiceClient

        deadline = time.monotonic() + 60
        while True:
            try:
                BlobServiceClient.from_connection_string(az_conn_str(port)).create_container(
                    "archive"
                )
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("Azurite did not start")
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def sftp_server(tmp_path: Path) -> AsyncIterator[tuple[int, str, Path]]:
    import asyncssh

    root = tmp_path / "sftp-root"
    root.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == "archiver" and password == "s3cret-pw"

    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        server_factory=Server,
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root)),
    )
    port = server.sockets[0].getsockname()[1]
    yield port, host_key.export_public_key().decode().strip(), root
    server.close()
    await server.wait_closed()


def _ftp_server(root: Path, tls_cert: Path | None) -> tuple[Any, int]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

    auth = DummyAuthorizer()
    auth.add_user("archiver", "s3cret-pw", str(root), perm="elradfmwMT")
    handler: Any
    if tls_cert is not None:
        handler = type("H", (TLS_FTPHandler,), {})
        handler.certfile = str(tls_cert)
        handler.tls_control_required = True
        handler.tls_data_required = True
    else:
        handler = type("H", (FTPHandler,), {})
    handler.authorizer = auth
    handler.auth_failed_timeout = 0  # failed logins otherwise sleep 3 s
    handler.passive_ports = None
    server = FTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True).start()
    return server, server.socket.getsockname()[1]


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    root = tmp_path / "ftp-root"
    root.mkdir()
    server, port = _ftp_server(root, None)
    yield port, root
    server.close_all()


@pytest.fixture
def ftps_server(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    pem = tmp_path / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    root = tmp_path / "ftps-root"
    root.mkdir()
    server, port = _ftp_server(root, pem)
    yield port, root, ca_file
    server.close_all()


# ---------------------------------------------------------------- the shared round trip


async def round_trip(store: Any, tmp_path: Path) -> None:
    assert isinstance(store, ObjectStore)
    src = tmp_path / "call.wav"
    src.write_bytes(bytes(range(256)) * 300)
    key = "MP3/Daily/2025/06/05/20250605155506_441110000333_441230000321_1_1122.mp3"
    info = await store.put_object(
        key, src, content_type="audio/mpeg", metadata={"recording-id": "1122"}
    )
    assert info.size == src.stat().st_size
    assert info.checksum == hashlib.sha256(src.read_bytes()).hexdigest()
    # overwrite is allowed (a resumed run may repeat an upload)
    await store.put_object(key, src, content_type="audio/mpeg")
    head = await store.head_object(key)
    assert head is not None and head.size == info.size
    assert await store.head_object("nope/missing.mp3") is None
    listed = await store.list_objects()
    assert [o.key for o in listed] == [key] and listed[0].size == info.size
    back = tmp_path / "back.bin"
    await store.download_object(key, back)
    assert back.read_bytes() == src.read_bytes()
    await store.delete_object(key)
    assert await store.head_object(key) is None
    assert (await store.check()).ok
    await store.aclose()


async def test_s3_round_trip(s3_connector: Any, tmp_path: Path) -> None:
    await round_trip(s3_connector, tmp_path)


async def test_azure_round_trip(azurite: int, tmp_path: Path) -> None:
    store = AzureBlobConnector(
        AzureBlobConfig(
            container="archive", connection_string=az_conn_str(azurite), prefix="recflow"
        )
    )
    await round_trip(store, tmp_path)
    # metadata and MD5 landed on the blob
    src = tmp_path / "m.bin"
    src.write_bytes(b"abc" * 1000)
    await store.put_object("m.bin", src, content_type="audio/wav", metadata={"recording-id": "r9"})
    props = store.container().get_blob_client("recflow/m.bin").get_blob_properties()
    assert props.metadata["recording_id"] == "r9"
    assert bytes(props.content_settings.content_md5) == hashlib.md5(src.read_bytes()).digest()
    await store.aclose()


async def test_sftp_round_trip(sftp_server: tuple[int, str, Path], tmp_path: Path) -> None:
    port, host_key, root = sftp_server
    store = SftpConnector(
        SftpConfig(
            host="127.0.0.1",
            port=port,
            username="archiver",
            password="s3cret-pw",
            host_key=host_key,
            base_path="archive",
            verify="readback",
        )
    )
    await round_trip(store, tmp_path)
    assert (root / "archive" / "MP3" / "Daily").is_dir()
    assert not list(root.rglob("*.part-*"))


async def test_ftp_round_trip(ftp_server: tuple[int, Path], tmp_path: Path) -> None:
    port, root = ftp_server
    store = FtpConnector(
        FtpConfig(
            host="127.0.0.1",
            port=port,
            username="archiver",
            password="s3cret-pw",
            tls=False,
            insecure_plain_ftp=True,
            base_path="archive",
        )
    )
    await round_trip(store, tmp_path)
    assert (root / "archive" / "MP3" / "Daily" / "2025").is_dir()


async def test_ftps_round_trip(ftps_server: tuple[int, Path, Path], tmp_path: Path) -> None:
    port, _root, ca = ftps_server
    store = FtpConnector(
        FtpConfig(
            host="127.0.0.1",
            port=port,
            username="archiver",
            password="s3cret-pw",
            ca_file=str(ca),
            verify="readback",
        )
    )
    await round_trip(store, tmp_path)


# ---------------------------------------------------------------- failures


async def test_plain_ftp_needs_explicit_consent() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="insecure_plain_ftp"):
        FtpConfig(host="h", password="p", tls=False)
    with pytest.raises(ValidationError, match="host_key"):
        SftpConfig(host="h", username="u", password="p")


async def test_wrong_credentials_are_auth_errors(
    azurite: int, sftp_server: tuple[int, str, Path], ftp_server: tuple[int, Path], tmp_path: Path
) -> None:
    src = tmp_path / "a"
    src.write_bytes(b"abc")
    port, host_key, _ = sftp_server
    bad_key = "A" * 86 + "=="
    stores = [
        AzureBlobConnector(
            AzureBlobConfig(container="archive", connection_string=az_conn_str(azurite, bad_key))
        ),
        SftpConnector(
            SftpConfig(
                host="127.0.0.1",
                port=port,
                username="archiver",
                password="Wr0ngPa55",
                host_key=host_key,
            )
        ),
        FtpConnector(
            FtpConfig(
                host="127.0.0.1",
                port=ftp_server[0],
                username="archiver",
                password="Wr0ngPa55",
                tls=False,
                insecure_plain_ftp=True,
            )
        ),
    ]
    for store in stores:
        with pytest.raises(AuthError) as err:
            await store.put_object("x/a", src)
        assert "Wr0ngPa55" not in str(err.value)  # the password never appears in the error
        res = await store.check()
        assert not res.ok and res.code == "invalid_auth", (store.kind, res)


async def test_sftp_host_key_mismatch_is_refused(
    sftp_server: tuple[int, str, Path], tmp_path: Path
) -> None:
    import asyncssh

    port, _, _ = sftp_server
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    store = SftpConnector(
        SftpConfig(
            host="127.0.0.1", port=port, username="archiver", password="s3cret-pw", host_key=other
        )
    )
    src = tmp_path / "a"
    src.write_bytes(b"abc")
    with pytest.raises(ConfigError, match="host key"):
        await store.put_object("a", src)


async def test_unreachable_hosts_are_retriable(tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.write_bytes(b"abc")
    port = free_port()
    stores = [
        AzureBlobConnector(
            AzureBlobConfig(container="c", connection_string=az_conn_str(port), timeout_seconds=2)
        ),
        SftpConnector(
            SftpConfig(
                host="127.0.0.1",
                port=port,
                username="u",
                password="p",
                insecure_skip_host_key_check=True,
                timeout_seconds=2,
            )
        ),
        FtpConnector(FtpConfig(host="127.0.0.1", port=port, password="p", timeout_seconds=2)),
    ]
    for store in stores:
        with pytest.raises(RetriableError):
            await store.put_object("a", src)
        res = await store.check()
        assert not res.ok and res.code == "cannot_connect", (store.kind, res)
