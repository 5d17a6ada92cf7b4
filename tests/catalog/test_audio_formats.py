"""Every audio format a recorder exports is decoded to the stored shape (16-bit PCM, its own rate,
channels kept apart), and a corrupt file of each format is refused with one line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from catalog.audio import Audio, AudioError, read_wav, write_wav

RATE = 16000
# caller on channel 0 (440 Hz, half scale), callee on channel 1 (1 kHz, quarter scale)
_t = np.arange(RATE * 2) / RATE
PCM = (
    np.stack([0.5 * np.sin(2 * np.pi * 440 * _t), 0.25 * np.sin(2 * np.pi * 1000 * _t)], 1) * 32767
).astype(np.int16)


def _encode(path: Path, codec: str, fmt: str | None, rate: int) -> Path:
    with av.open(str(path), "w", format=fmt) as c:
        stream = c.add_stream(codec, rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(PCM.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    return path


def _sox(src: Path, out: Path, *args: str) -> Path:
    if not shutil.which("sox"):
        pytest.skip("sox is not installed (scripts/setup installs it)")
    subprocess.run(["sox", str(src), *args, str(out)], check=True)
    return out


def make(kind: str, d: Path) -> tuple[Path, int]:
    """A stereo file of ``kind`` and the sample rate it was written at."""
    src = d / "src.wav"
    if not src.exists():
        write_wav(src, Audio(PCM, RATE))
    if kind == "mp3":
        return _encode(d / "a.mp3", "libmp3lame", None, RATE), RATE
    if kind == "m4a":
        return _encode(d / "a.m4a", "aac", "mp4", RATE), RATE
    if kind == "flac":
        return _encode(d / "a.flac", "flac", None, RATE), RATE
    if kind == "opus":
        return _encode(d / "a.ogg", "libopus", "ogg", 48000), 48000
    if kind == "wav24":  # sox writes WAVE_FORMAT_EXTENSIBLE (65534) for 24-bit
        return _sox(src, d / "a24.wav", "-b", "24"), RATE
    if kind == "wav32":
        return _sox(src, d / "a32.wav", "-b", "32"), RATE
    if kind == "float":
        return _sox(src, d / "af.wav", "-e", "floating-point", "-b", "32"), RATE
    raise AssertionError(kind)


KINDS = ["mp3", "m4a", "flac", "opus", "wav24", "wav32", "float"]


def _rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=0))


@pytest.mark.parametrize("kind", KINDS)
def test_each_format_decodes_with_channels_apart(tmp_path, kind):
    path, rate = make(kind, tmp_path)
    audio = read_wav(path)
    assert audio.samples.dtype == np.int16
    assert audio.channels == 2
    assert audio.sample_rate == rate
    assert abs(audio.duration - 2.0) < 0.15  # encoder priming/padding only (AAC: 2 frames)
    rms = _rms(audio.samples)
    # half and quarter scale sines: RMS ≈ 11585 and 5793, whatever the codec
    assert abs(rms[0] - 11585) < 600 and abs(rms[1] - 5793) < 400, rms


def test_sox_24_bit_wav_is_extensible(tmp_path):
    path, _ = make("wav24", tmp_path)
    fmt_tag = int.from_bytes(path.read_bytes()[20:22], "little")
    assert fmt_tag == 65534  # the case the old reader refused with "unknown format: 65534"
    assert np.array_equal(read_wav(path).samples, PCM)  # lossless


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("damage", ["header_only", "garbage_after_magic"])
def test_corrupt_file_is_refused_in_one_line(tmp_path, kind, damage):
    path, _ = make(kind, tmp_path)
    raw = path.read_bytes()
    bad = tmp_path / f"bad{path.suffix}"
    if damage == "header_only":  # the first bytes only: no complete header or frame
        bad.write_bytes(raw[: 20 if path.suffix == ".wav" else 200])
    else:
        bad.write_bytes(raw[:12] + os.urandom(4096))
    with pytest.raises(AudioError) as e:
        read_wav(bad)
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg
    assert "Traceback" not in msg
