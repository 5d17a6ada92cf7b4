"""The hosted SFTP service against a real asyncssh client over loopback: the Focus tree, the
three formats (decoded and checked), visibility (private and out-of-group calls never appear),
read-only refusals with the proper status, audit of every download, credentials and host key."""

from __future__ import annotations

import asyncio
import contextlib
import io
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from catalog.audit import Audit, AuditFilter
from catalog.models import Recording
from catalog.sms import ingest_sms
from catalog.users import Role, Users
from services.sftp_server import SftpService
from services.sftp_settings import (
    SftpServerSettings,
    authenticate,
    generate_credentials,
    host_key,
    host_key_fingerprint,
    revoke_credentials,
    save_settings,
)
from tests.portal.portal_support import write_wav

BASE = "MobileVoiceRecorder/MobileVoiceRecorder_Live/CallRecordings"
END = datetime(2025, 6, 5, 15, 55, 6, tzinfo=UTC)


def _add(catalog, wav: Path, *, frm: str, to: str, private: bool = False, end=END) -> Recording:
    rec = Recording(
        from_number=frm,
        to_number=to,
        started_at=end - timedelta(seconds=2),
        ended_at=end,
        duration_seconds=2.0,
        private=private,
    )
    return catalog.add_recording(rec, audio=wav)


class Server:
    def __init__(self, catalog) -> None:
        self.catalog = catalog
        self.service = SftpService(catalog, poll_seconds=0.05)
        self.loop = asyncio.new_event_loop()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def start(self) -> int:
        save_settings(self.catalog, SftpServerSettings(enabled=True, port=0, bind="127.0.0.1"))
        self.run(self.service.apply(SftpServerSettings(enabled=True, port=0, bind="127.0.0.1")))
        assert self.service.port
        return self.service.port

    def stop(self) -> None:
        self.run(self.service.close())
        self.loop.close()


@pytest.fixture
def server(any_catalog):
    s = Server(any_catalog)
    s.start()
    yield s
    s.stop()


@contextlib.asynccontextmanager
async def session(port: int, username: str, password: str):
    async with (
        asyncssh.connect(
            "127.0.0.1", port=port, username=username, password=password, known_hosts=None
        ) as conn,
        conn.start_sftp_client() as sftp,
    ):
        yield sftp


async def names(sftp, path: str) -> list[str]:
    return sorted(n for n in await sftp.listdir(path) if n not in (".", ".."))


async def walk(sftp, path: str) -> list[str]:
    out = []
    for e in await sftp.readdir(path):
        if e.filename in (".", ".."):
            continue
        q = f"{path}/{e.filename}"
        if e.attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
            out += await walk(sftp, q)
        else:
            out.append(q)
    return out


def test_tree_formats_visibility_and_refusals(server, tmp_path) -> None:
    catalog = server.catalog
    wav = write_wav(tmp_path / "a.wav", seconds=2.0)
    seen = _add(catalog, wav, frm="+441110000333", to="+441230000321")
    private = _add(catalog, wav, frm="+441110000333", to="+441230000999", private=True)
    late = _add(
        catalog,
        wav,
        frm="+441110000444",
        to="+441230000321",
        end=datetime(2025, 6, 6, 0, 30, 0, tzinfo=UTC),
    )
    cred = generate_credentials(catalog)  # admin-like: everything but private calls

    async def probe() -> dict:
        out: dict = {}
        async with session(server.service.port, cred.username, cred.password) as sftp:
            out["root"] = await names(sftp, "MobileVoiceRecorder/MobileVoiceRecorder_Live")
            out["formats"] = await names(sftp, BASE)
            out["files"] = {
                fmt: await walk(sftp, f"{BASE}/{fmt}")
                for fmt in ("MP3", "WAV_16_8000_S", "WAV_8_8000_M")
            }
            out["data"] = {}
            for fmt, files in out["files"].items():
                target = next(f for f in files if seen.id in f)
                async with sftp.open(target, "rb") as fh:
                    out["data"][fmt] = await fh.read()
                out.setdefault("sizes", {})[fmt] = (await sftp.stat(target)).size
            errors = {}
            for name, op in {
                "write": lambda: sftp.open(f"{BASE}/MP3/evil.txt", "wb"),
                "remove": lambda: sftp.remove(out["files"]["MP3"][0]),
                "rename": lambda: sftp.rename(out["files"]["MP3"][0], f"{BASE}/MP3/x.mp3"),
                "mkdir": lambda: sftp.mkdir(f"{BASE}/MP3/new"),
                "rmdir": lambda: sftp.rmdir(f"{BASE}/MP3/Daily"),
                "setstat": lambda: sftp.chmod(out["files"]["MP3"][0], 0o777),
            }.items():
                try:
                    r = op()
                    if hasattr(r, "__aenter__"):
                        async with r:
                            pass
                    else:
                        await r
                    errors[name] = None
                except asyncssh.SFTPError as e:
                    errors[name] = e.code
            out["errors"] = errors
            try:
                await sftp.stat(f"{BASE}/MP3/Daily/2025/06/05/nope_{private.id}.mp3")
                out["private_stat"] = "found"
            except asyncssh.SFTPError as e:
                out["private_stat"] = e.code
        return out

    out = server.run(probe())
    assert out["root"] == ["CallRecordings", "SMS"]
    assert out["formats"] == ["MP3", "WAV_16_8000_S", "WAV_8_8000_M"]
    for fmt, ext in (("MP3", "mp3"), ("WAV_16_8000_S", "wav"), ("WAV_8_8000_M", "wav")):
        listed = sorted(out["files"][fmt])
        assert listed == sorted(
            [
                f"{BASE}/{fmt}/Daily/2025/06/05/20250605155506_+441110000333_+441230000321_recflow_{seen.id}.{ext}",
                # ended after midnight: the next day's folder (Focus files calls by their end)
                f"{BASE}/{fmt}/Daily/2025/06/06/20250606003000_+441110000444_+441230000321_recflow_{late.id}.{ext}",
            ]
        ), listed
        assert not any(private.id in n for n in listed)
    # each format really is that format
    mp3 = out["data"]["MP3"]
    assert mp3[:3] == b"ID3"  # the tag; test_mp3_decodes decodes the frames
    s16 = wave.open(io.BytesIO(out["data"]["WAV_16_8000_S"]))
    assert (s16.getnchannels(), s16.getsampwidth(), s16.getframerate()) == (2, 2, 8000)
    assert s16.getnframes() == 16000
    m8 = wave.open(io.BytesIO(out["data"]["WAV_8_8000_M"]))
    assert (m8.getnchannels(), m8.getsampwidth(), m8.getframerate()) == (1, 1, 8000)
    assert m8.getnframes() == 16000
    # stat after a download: the real size
    for fmt, data in out["data"].items():
        assert out["sizes"][fmt] == len(data)
    assert out["errors"] == {k: asyncssh.FX_PERMISSION_DENIED for k in out["errors"]}
    assert out["private_stat"] == asyncssh.FX_NO_SUCH_FILE
    # every download audited
    downloads = Audit(catalog).list(AuditFilter(action="sftp.download"))
    assert sorted(e.detail.split()[0] for e in downloads) == [
        "format=MP3",
        "format=WAV_16_8000_S",
        "format=WAV_8_8000_M",
    ]
    assert {e.resource for e in downloads} == {f"recording:{seen.id}"}
    assert all(
        e.initiator == f"sftp:{cred.username}" and e.client_ip == "127.0.0.1" for e in downloads
    )


def test_mp3_decodes(server, tmp_path) -> None:
    """The MP3 is a real MP3: PyAV (FFmpeg's decoder) reads ~2 s of stereo 8 kHz audio."""
    av = pytest.importorskip("av")
    rec = _add(server.catalog, write_wav(tmp_path / "a.wav", seconds=2.0), frm="+1", to="+2")
    cred = generate_credentials(server.catalog)

    async def get() -> bytes:
        async with session(server.service.port, cred.username, cred.password) as sftp:
            files = await walk(sftp, f"{BASE}/MP3")
            async with sftp.open(next(f for f in files if rec.id in f), "rb") as fh:
                return await fh.read()

    with av.open(io.BytesIO(server.run(get()))) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")  # mp3 or mp3float
        samples = 0
        for frame in container.decode(stream):
            assert frame.sample_rate == 8000 and len(frame.layout.channels) == 2
            samples += frame.samples
    assert 1.9 <= samples / 8000 <= 2.2


def test_group_user_sees_only_its_calls_and_sms(server, tmp_path) -> None:
    catalog = server.catalog
    wav = write_wav(tmp_path / "a.wav")
    mine = _add(catalog, wav, frm="+441110000333", to="+441230000321")
    other = _add(catalog, wav, frm="+441110000777", to="+441230000888")
    own_private = _add(catalog, wav, frm="+441110000333", to="+441230000555", private=True)
    now = datetime.now(UTC)
    ingest_sms(
        catalog,
        from_number="+441110000333",
        to_number="+441230000321",
        text="hello, mine",
        received_at=now,
    )
    ingest_sms(
        catalog,
        from_number="+449990000000",
        to_number="+448880000000",
        text="not yours",
        received_at=now,
    )
    cred = generate_credentials(catalog, role="supervisor")
    Users(catalog).update(cred.user.id, group_numbers=["+441110000333"])

    async def probe():
        async with session(server.service.port, cred.username, cred.password) as sftp:
            files = await walk(sftp, f"{BASE}/WAV_8_8000_M")
            try:
                name = f"{BASE}/WAV_8_8000_M/Daily/2025/06/05/20250605155506_+441110000777_+441230000888_recflow_{other.id}.wav"
                await sftp.stat(name)
                direct = "found"
            except asyncssh.SFTPError as e:
                direct = e.code
            sms = await walk(sftp, "MobileVoiceRecorder/MobileVoiceRecorder_Live/SMS")
            async with sftp.open(sms[-1], "rb") as fh:
                csv = (await fh.read()).decode()
            return files, direct, sms, csv

    files, direct, sms, csv = server.run(probe())
    assert [f for f in files if mine.id in f] and not [f for f in files if other.id in f]
    assert not [f for f in files if own_private.id in f]  # private: never over SFTP
    assert direct == asyncssh.FX_NO_SUCH_FILE
    assert sms[-1].endswith(
        f"SMS/CSV/Monthly/{now:%Y}/{now:%m}/recflow_SMSMessages_{now:%Y}_{now:%m}.csv"
    )
    assert csv.startswith(
        "Message ID,Date time (UTC),From phone number,To phone number,Message\r\n"
    )
    assert "hello, mine" in csv and "not yours" not in csv


def test_credentials_reset_lockout_and_host_key(any_catalog) -> None:
    catalog = any_catalog
    first = generate_credentials(catalog)
    assert first.username.startswith("SFTP") and first.user.role is Role.admin
    now = datetime.now(UTC)
    assert authenticate(catalog, first.username, first.password, now) is not None
    assert authenticate(catalog, first.username, "wrong" * 4, now) is None
    second = generate_credentials(catalog)
    assert second.username != first.username and second.password != first.password
    assert authenticate(catalog, first.username, first.password, now) is None
    assert Users(catalog).get(first.user.id).disabled
    # the portal password of the SFTP user is not the SFTP password
    assert not Users(catalog).authenticate(second.user.email, second.password, now).ok
    for _ in range(5):
        authenticate(catalog, second.username, "wrong-password!", now)
    assert authenticate(catalog, second.username, second.password, now) is None  # locked
    assert revoke_credentials(catalog)
    assert authenticate(catalog, second.username, second.password, now + timedelta(hours=1)) is None
    # stored hashed: the document never holds the password
    assert second.password not in str(catalog.get_document("sftp_credentials"))
    key = host_key(catalog)
    assert host_key(catalog).export_public_key() == key.export_public_key()
    assert host_key_fingerprint(catalog) == key.get_fingerprint("sha256")


def test_service_follows_settings(any_catalog) -> None:
    """Enabling, moving and disabling from the catalog takes effect while the service runs."""
    import socket

    catalog = any_catalog
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    service = SftpService(catalog, poll_seconds=0.05)
    changes: list = []

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop, lambda serving, p: changes.append(p)))
        save_settings(catalog, SftpServerSettings(enabled=True, port=port, bind="127.0.0.1"))
        while service.port != port:
            await asyncio.sleep(0.02)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"SSH-2.0-")
        writer.close()
        save_settings(catalog, SftpServerSettings(enabled=False, port=port, bind="127.0.0.1"))
        while service.port is not None:
            await asyncio.sleep(0.02)
        stop.set()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert changes == [port, None]


def test_names_are_the_archive_focus_layout() -> None:
    """The tree's file names and the archive's ``focus`` layout agree field for field."""
    from catalog.sftp_queries import CallEntry
    from services.archive_layout import AudioFormat, layout_context, render_key
    from services.sftp_tree import account_field, call_file_name

    rec = Recording(
        from_number="+44 (111) 000-0333",
        to_number="sip:alice_bob@example.com",
        started_at=datetime(2025, 6, 5, 23, 30, tzinfo=UTC),
        ended_at=datetime(2025, 6, 6, 1, 30, 5, tzinfo=UTC),
        duration_seconds=7205,
    )
    entry = CallEntry(
        id=rec.id,
        from_number=rec.from_number,
        to_number=rec.to_number,
        ended_at=rec.ended_at,
        duration_seconds=rec.duration_seconds,
        file_key="",
        file_size=0,
    )
    for fmt in AudioFormat:
        key = render_key("focus", layout_context(rec, fmt, account="Acme Ltd_1"))
        assert key == (
            f"{fmt.value}/Daily/2025/06/06/{call_file_name(entry, fmt, account_field('Acme Ltd_1'))}"
        )


@pytest.mark.parametrize(
    "value",
    [
        "+441110000333",
        "",
        " ",
        "-1-",
        "a--b",
        "a..b",
        ".x.",
        "sip:a_b@c",
        "ü",
        "1.2.3",
        "x-",
        "=@+",
        "-",
        ".",
        "a b",
        "9f1c-uuid",
        "+44 (0) 20",
        "a/b",
        "_",
    ],
)
def test_fast_field_equals_sanitise_field(value: str) -> None:
    from services.archive_layout import sanitise_field
    from services.sftp_tree import _field

    assert _field(value) == sanitise_field(value)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fmt_name", ["MP3", "WAV_8_8000_M"])
def test_streamed_conversion_equals_the_archive_converter(tmp_path, channels, fmt_name) -> None:
    """Ten-second steps give the same bytes as the archive's whole-file conversion."""
    import numpy as np

    from services.archive_layout import AudioFormat, convert_audio
    from services.sftp_files import stream_convert

    src = tmp_path / "src.wav"
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((8000 * 25 + 123, channels)) * 3000).astype("<i2")
    with wave.open(str(src), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(x.tobytes())
    fmt = AudioFormat(fmt_name)
    whole = convert_audio(src, fmt, tmp_path / "whole").read_bytes()
    streamed = stream_convert(src, fmt, tmp_path / "streamed").read_bytes()
    assert streamed == whole
