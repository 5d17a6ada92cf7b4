"""WAV validation: what ingest accepts, and the clear errors for what it does not."""

from __future__ import annotations

import struct
import wave

import numpy as np
import pytest

from catalog.audio import AudioError, read_wav


def _write(path, channels, width, rate, frames: bytes):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return path


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_integer_pcm_of_any_width_becomes_16_bit(tmp_path, width, channels):
    n = 100
    if width == 1:
        frames = bytes([128 + 64] * n * channels)
        expect = 64 << 8
    else:
        value = 1 << (8 * width - 2)  # a quarter of full scale
        frames = value.to_bytes(width, "little", signed=True) * n * channels
        expect = 1 << 14
    audio = read_wav(_write(tmp_path / "a.wav", channels, width, 11025, frames))
    assert audio.samples.dtype == np.int16
    assert audio.samples.shape == (n, channels)
    assert audio.sample_rate == 11025
    assert int(audio.samples[0, 0]) == expect


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        read_wav(p)


def test_not_a_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio at all, just text" * 10)
    with pytest.raises(AudioError, match="not an audio file recflow can decode") as e:
        read_wav(p)
    assert "\n" not in str(e.value)


def test_float_wav_is_decoded(tmp_path):
    # WAVE_FORMAT_IEEE_FLOAT (3): the wave module refuses it; FFmpeg decodes it
    data = struct.pack("<4f", 0.25, -0.5, 0.0, 1.0)
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    p = tmp_path / "float.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    audio = read_wav(p)
    assert audio.sample_rate == 8000 and audio.samples.shape == (4, 1)
    assert [int(v) for v in audio.samples[:, 0]][:3] == [8192, -16384, 0]
    assert int(audio.samples[3, 0]) == 32767


def test_header_without_frames(tmp_path):
    with pytest.raises(AudioError, match="no audio frames"):
        read_wav(_write(tmp_path / "h.wav", 2, 2, 8000, b""))


def test_truncated_data_keeps_whole_frames(tmp_path):
    p = _write(tmp_path / "t.wav", 2, 2, 8000, b"\x01\x00\x02\x00" * 50)
    raw = p.read_bytes()
    p.write_bytes(raw[:-3])  # a crash mid-frame
    audio = read_wav(p)
    assert audio.samples.shape[1] == 2 and audio.samples.shape[0] == 49


def test_three_channels_rejected(tmp_path):
    with pytest.raises(AudioError, match="3 channels"):
        read_wav(_write(tmp_path / "c.wav", 3, 2, 8000, b"\x00\x00" * 30))
