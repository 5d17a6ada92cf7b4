"""`recflow ingest` and `recflow recordings …` through the real command line."""

from __future__ import annotations

import json
import struct

import pytest

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
        ("text.wav", b"hello, I am not a wav file" * 20, "not a PCM WAV"),
        ("truncated.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a PCM WAV"),
        (
            "float.wav",
            b"RIFF"
            + struct.pack("<I", 44)
            + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 3, 1, 8000, 32000, 4, 32)
            + b"data"
            + struct.pack("<I", 8)
            + struct.pack("<2f", 0.5, -0.5),
            "not a PCM WAV",
        ),
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
