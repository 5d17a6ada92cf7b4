"""`recflow ingest` and `recflow recordings …` through the real command line."""

from __future__ import annotations

import json
import wave

import pytest

from tests.catalog.test_audio_formats import KINDS, make
from tests.support import CANCEL_CALL, child_env, cli, make_call


@pytest.fixture
def env(tmp_path):
    return child_env(tmp_path / "data")


def count(env) -> int:
    return len(json.loads(cli(env, "recordings", "list", "--json").stdout))


def test_ingest_prints_id_and_stores_a_captured_recording(env, tmp_path):
    call = make_call(CANCEL_CALL[:1])
    out = cli(
        env,
        "ingest",
        str(call.stereo),
        "--from",
        "+441110000111",
        "--to",
        "+441110000222",
        "--start",
        "2026-01-02T03:04:05Z",
    ).stdout.strip()
    data = json.loads(cli(env, "recordings", "show", out[:8], "--json").stdout)
    assert data["id"] == out
    assert data["status"] == "captured"
    assert (data["from_number"], data["to_number"]) == ("+441110000111", "+441110000222")
    assert data["started_at"].startswith("2026-01-02T03:04:05")
    assert data["channels"] == 2 and data["sample_rate"] == 8000
    assert abs(data["duration_seconds"] - call.seconds) < 0.01
    # no transcript yet: a clear message and a non-zero exit, not a crash
    r = cli(env, "recordings", "transcript", out, check=False)
    assert r.returncode == 1 and "no transcript yet" in r.stderr


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.wav", b"", "empty"),
        ("text.wav", b"hello, I am not a wav file" * 20, "not an audio file"),
        ("truncated.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "not an audio file"),
        ("text.mp3", b"ID3 but no frames at all" * 20, "not an audio file"),
        ("junk.flac", b"fLaC" + bytes(range(256)) * 4, "recflow"),
    ],
)
def test_bad_input_is_rejected_and_catalog_stays_consistent(env, tmp_path, name, content, reason):
    p = tmp_path / name
    p.write_bytes(content)
    r = cli(env, "ingest", str(p), "--from", "1", "--to", "2", check=False)
    assert r.returncode == 1
    assert reason in r.stderr and name in r.stderr
    assert "Traceback" not in r.stderr
    assert count(env) == 0
    store = tmp_path / "data" / "recordings"
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_bad_start_time(env, tmp_path):
    call = make_call(CANCEL_CALL[:1])
    r = cli(
        env,
        "ingest",
        str(call.stereo),
        "--from",
        "1",
        "--to",
        "2",
        "--start",
        "yesterday",
        check=False,
    )
    assert r.returncode == 2 and "ISO 8601" in r.stderr
    assert count(env) == 0


def test_unknown_recording(env):
    r = cli(env, "recordings", "show", "does-not-exist", check=False)
    assert r.returncode == 1 and "no recording" in r.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_any_format_is_stored_as_16_bit_pcm_wav(env, tmp_path, kind):
    path, rate = make(kind, tmp_path)
    rid = cli(env, "ingest", str(path), "--from", "1", "--to", "2").stdout.strip()
    data = json.loads(cli(env, "recordings", "show", rid, "--json").stdout)
    assert data["channels"] == 2 and data["sample_rate"] == rate
    assert data["metadata"]["original_name"] == path.name
    stored = [p for p in (tmp_path / "data" / "recordings").rglob("*.wav")]
    assert len(stored) == 1
    with wave.open(str(stored[0])) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, rate)


@pytest.mark.parametrize("kind", ["mp3", "flac", "m4a", "opus", "wav24"])
def test_corrupt_file_of_each_format_stores_nothing(env, tmp_path, kind):
    path, _ = make(kind, tmp_path)
    bad = tmp_path / f"corrupt{path.suffix}"
    bad.write_bytes(path.read_bytes()[:12] + bytes(4096))
    r = cli(env, "ingest", str(bad), "--from", "1", "--to", "2", check=False)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and bad.name in lines[0]
    assert count(env) == 0
