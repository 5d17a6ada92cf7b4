"""Reading and normalising WAV files. Every recording in the store is 16-bit PCM WAV, mono or
stereo, at its original sample rate; this module is where other shapes are turned into that
(or rejected with a message a person can act on)."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUPPORTED_RATES = range(8000, 192001)


class AudioError(ValueError):
    """The file is not audio we can record or transcribe; the message says why."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # int16, shape (frames, channels)
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.sample_rate

    def channel_float(self, ch: int) -> np.ndarray:
        return self.samples[:, ch].astype(np.float32) / 32768.0


def read_wav(path: Path) -> Audio:
    """Read a PCM WAV (8/16/24/32-bit integer, 1 or 2 channels) into 16-bit samples."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise AudioError(f"{path}: cannot read ({e.strerror})") from None
    if size == 0:
        raise AudioError(f"{path}: file is empty")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = (
                w.getnchannels(),
                w.getsampwidth(),
                w.getframerate(),
                w.getnframes(),
            )
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise AudioError(f"{path}: not a PCM WAV file ({e})") from None
    if channels not in (1, 2):
        raise AudioError(f"{path}: {channels} channels; recordings are mono or stereo")
    if rate not in SUPPORTED_RATES:
        raise AudioError(f"{path}: unsupported sample rate {rate} Hz")
    usable = len(raw) - len(raw) % (width * channels)
    if usable == 0:
        raise AudioError(f"{path}: WAV holds no audio frames")
    raw = raw[:usable]
    if width == 1:  # unsigned 8-bit
        pcm = (np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        pcm = np.frombuffer(raw, "<i2").copy()
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        pcm = ((b[:, 2].astype(np.int8).astype(np.int16)) << 8) | b[:, 1]
    elif width == 4:
        pcm = (np.frombuffer(raw, "<i4") >> 16).astype(np.int16)
    else:
        raise AudioError(f"{path}: unsupported sample width {width * 8} bits")
    return Audio(pcm.astype(np.int16).reshape(-1, channels), rate)


def write_wav(path: Path, audio: Audio) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(audio.channels)
        w.setsampwidth(2)
        w.setframerate(audio.sample_rate)
        w.writeframes(np.ascontiguousarray(audio.samples, dtype="<i2").tobytes())


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A mono or multi-channel 16-bit WAV in memory (for HTTP uploads)."""
    import io

    buf = io.BytesIO()
    arr = samples if samples.ndim == 2 else samples.reshape(-1, 1)
    with wave.open(buf, "wb") as w:
        w.setnchannels(arr.shape[1])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.ascontiguousarray(arr, dtype="<i2").tobytes())
    return buf.getvalue()


def resample(x: np.ndarray, rate: int, target: int = 16000) -> np.ndarray:
    """Band-limited resampling of float32 mono audio (what speech engines want)."""
    if rate == target:
        return x.astype(np.float32)
    from scipy.signal import resample_poly

    g = np.gcd(rate, target)
    return resample_poly(x, target // g, rate // g).astype(np.float32)
