"""The pure core: key layouts (every preset, midnight crossing, time zones, sanitising) and the
audio formats (decoded back and compared)."""

from __future__ import annotations

import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from catalog.models import Recording
from services.archive_layout import (
    Artifact,
    AudioFormat,
    LayoutError,
    PlanOptions,
    convert_audio,
    layout_context,
    plan_recording,
    render_key,
    sanitise_key,
    validate_layout,
)
from tests.archive.archive_support import write_call_wav


def rec(start: datetime, seconds: float, **kw: object) -> Recording:
    return Recording(
        id="1122",
        call_id="a84b4c76e66710@pc33.example.com",
        from_number="441110000333",
        to_number="441230000321",
        started_at=start,
        ended_at=start + timedelta(seconds=seconds),
        duration_seconds=seconds,
        **kw,  # type: ignore[arg-type]
    )


def key(
    layout: str,
    r: Recording,
    fmt: AudioFormat = AudioFormat.MP3,
    tz: str = "UTC",
    account: str = "1",
) -> str:
    return render_key(layout, layout_context(r, fmt, account=account, tz=tz))


def test_focus_matches_the_seed_example() -> None:
    r = rec(datetime(2025, 6, 5, 15, 50, 0, tzinfo=UTC), 306)  # ends 15:55:06
    assert (
        key("focus", r)
        == "MP3/Daily/2025/06/05/20250605155506_441110000333_441230000321_1_1122.mp3"
    )
    assert key("focus", r, AudioFormat.WAV_8_8000_M).startswith("WAV_8_8000_M/Daily/2025/06/05/")
    assert key("focus", r, AudioFormat.WAV_8_8000_M).endswith(".wav")


def test_focus_uses_end_time_so_a_call_over_midnight_lands_next_day() -> None:
    r = rec(datetime(2025, 6, 5, 23, 0, 0, tzinfo=UTC), 2 * 3600)
    assert key("focus", r).startswith("MP3/Daily/2025/06/06/20250606010000_")
    # masergy names use the setup time: the same call stays on the day it started
    assert key("masergy-default", r).startswith("20250605/20250605230000-")


def test_time_zone_moves_dates_and_times() -> None:
    r = rec(datetime(2025, 6, 5, 23, 30, 0, tzinfo=UTC), 60)  # 00:31 next day in London (BST)
    assert key("focus", r, tz="Europe/London").startswith("MP3/Daily/2025/06/06/20250606003100_")
    assert key("focus", r, tz="America/New_York").startswith("MP3/Daily/2025/06/05/20250605193100_")
    winter = rec(datetime(2025, 1, 5, 23, 30, 0, tzinfo=UTC), 60)  # GMT: no shift
    assert key("focus", winter, tz="Europe/London").startswith("MP3/Daily/2025/01/05/")


def test_masergy_presets() -> None:
    r = rec(datetime(2025, 6, 5, 9, 8, 7, tzinfo=UTC), 10)
    assert (
        key("masergy-default", r) == "20250605/20250605090807-a84b4c76e66710@pc33.example.com.mp3"
    )
    assert key("masergy-custom", r, AudioFormat.WAV_16_8000_S) == (
        "20250605/20250605090807-441110000333-441230000321-a84b4c76e66710@pc33.example.com.wav"
    )


def test_jinja_template_and_strict_undefined() -> None:
    r = rec(datetime(2025, 6, 5, 9, 8, 7, tzinfo=UTC), 10)
    layout = "calls/{{ setup_time.strftime('%Y-%m') }}/{{ direction }}/{{ id }}.{{ ext }}"
    assert key(layout, r) == "calls/2025-06/unknown/1122.mp3"
    with pytest.raises(LayoutError):
        key("{{ nope }}/x", r)
    with pytest.raises(LayoutError):
        validate_layout("{{ id.__class__.__mro__ }}")  # the sandbox refuses


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("/etc/passwd", "etc/passwd"),
        ("../../x/../y", "x/y"),
        ("a/./b//c", "a/b/c"),
        ("a\\..\\b", "a/b"),
        ("we ird*na:me?.mp3", "we-ird-na-me-.mp3"),
        ("....", None),
    ],
)
def test_sanitise_key(raw: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(LayoutError):
            sanitise_key(raw)
        return
    out = sanitise_key(raw)
    assert out == expected
    assert not out.startswith("/") and ".." not in out.split("/")


def test_hostile_fields_cannot_escape_or_break_fields() -> None:
    r = rec(datetime(2025, 6, 5, 9, 8, 7, tzinfo=UTC), 10)
    r = r.model_copy(update={"from_number": "../../etc_x", "call_id": "/abs/../../id"})
    k = key("focus", r, account="Acme Support_Ltd/..")
    parts = k.split("/")
    assert ".." not in parts and not k.startswith("/")
    assert len(parts[-1].split("_")) == 5  # five fields, still separable
    assert "Acme-Support-Ltd" in parts[-1]
    k2 = key("masergy-default", r)
    assert ".." not in k2.split("/") and k2.count("/") == 1


def test_plan_keeps_keys_distinct_and_adds_sidecars() -> None:
    r = rec(datetime(2025, 6, 5, 9, 8, 7, tzinfo=UTC), 10)
    opts = PlanOptions(
        layout="masergy-default",
        formats=(AudioFormat.WAV_16_8000_S, AudioFormat.WAV_8_8000_M, AudioFormat.MP3),
        metadata_sidecar=True,
        transcript=True,
    )
    objs = plan_recording(r, opts, account="a")
    keys = [o.key for o in objs]
    assert len(set(keys)) == len(keys) == 9
    assert {o.artifact for o in objs} == set(Artifact)
    assert "WAV_16_8000_S/20250605/20250605090807-a84b4c76e66710@pc33.example.com.wav" in keys
    assert "WAV_16_8000_S/20250605/20250605090807-a84b4c76e66710@pc33.example.com.json" in keys
    assert opts.signature() != PlanOptions(layout="focus", formats=(AudioFormat.MP3,)).signature()


def _read(path: Path) -> tuple[int, int, int, bytes]:
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.readframes(w.getnframes())


def test_audio_formats(tmp_path: Path) -> None:
    src = write_call_wav(tmp_path / "in.wav", 2.0, seed=3)
    ch, width, rate, frames = _read(src)
    pcm = np.frombuffer(frames, "<i2").reshape(-1, 2)

    same = convert_audio(src, AudioFormat.WAV_16_8000_S, tmp_path / "s.wav")
    assert same == src  # already the right shape: uploaded as is

    m = convert_audio(src, AudioFormat.WAV_8_8000_M, tmp_path / "m.wav")
    ch, width, rate, frames = _read(m)
    assert (ch, width, rate) == (1, 1, 8000)
    mono = (np.frombuffer(frames, np.uint8).astype(np.int32) - 128) * 256
    expected = pcm.astype(np.int32).mean(axis=1)
    assert len(mono) == len(pcm) and np.abs(mono - expected).max() <= 256

    mp3 = convert_audio(src, AudioFormat.MP3, tmp_path / "c.mp3").read_bytes()
    assert mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0
    assert (mp3[3] >> 6) != 3  # channel mode: not mono
    assert 0 < len(mp3) < src.stat().st_size / 4


def test_other_rates_and_mono_are_converted(tmp_path: Path) -> None:
    src = tmp_path / "mono16k.wav"
    t = np.arange(16000) / 16000
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())
    out = convert_audio(src, AudioFormat.WAV_16_8000_S, tmp_path / "s.wav")
    ch, width, rate, frames = _read(out)
    assert (ch, width, rate) == (2, 2, 8000) and len(frames) == 8000 * 4
