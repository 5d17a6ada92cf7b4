"""Reading and normalising audio files. Every recording in the store is 16-bit PCM WAV, mono or
stereo, at its original sample rate; this module is where other shapes are turned into that
(or rejected with a message a person can act on).

Plain PCM WAVs (8/16/24/32-bit integer) take a fast path through the standard library; every
other file — WAVE_FORMAT_EXTENSIBLE or float WAVs, FLAC, MP3, M4A/AAC, OGG Vorbis/Opus, … — goes
through one decoder, FFmpeg's, via PyAV."""

from __future__ import annotations

import struct
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


def read_audio(path: Path) -> Audio:
    """Any audio file (see the module docstring) → 16-bit samples at the file's own rate."""
    return read_wav(path)


def _one_line(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)  # FFmpeg's reason without the file name
    text = " ".join(str(text).split()) or type(e).__name__
    return text[:200]


def decode_audio(path: Path) -> Audio:
    """Decode with FFmpeg (PyAV): first audio stream, mono or stereo, kept at its own rate."""
    import av

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: no audio stream in the file")
            stream = container.streams.audio[0]
            channels = stream.codec_context.channels
            rate = stream.codec_context.sample_rate or stream.rate
            if channels not in (1, 2):
                raise AudioError(f"{path}: {channels} channels; recordings are mono or stereo")
            if not rate or rate not in SUPPORTED_RATES:
                raise AudioError(f"{path}: unsupported sample rate {rate} Hz")
            layout = "mono" if channels == 1 else "stereo"
            resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
            chunks: list[np.ndarray] = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1, channels))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1, channels))
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, OSError, UnicodeDecodeError) as e:
        raise AudioError(f"{path}: not an audio file recflow can decode ({_one_line(e)})") from None
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise AudioError(f"{path}: file holds no audio frames")
    pcm = np.concatenate(chunks).astype(np.int16)
    return Audio(np.ascontiguousarray(pcm), int(rate))


def read_wav(path: Path) -> Audio:
    """Read a WAV (PCM 8/16/24/32-bit, float, extensible) or any other audio file into 16-bit
    samples; 1 or 2 channels. Plain PCM WAVs are read without FFmpeg."""
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
    except (wave.Error, EOFError, RuntimeError, ValueError, struct.error):
        # not a plain PCM WAV: extensible/float WAV, FLAC, MP3, M4A, OGG … or not audio at all
        return decode_audio(path)
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
    x = np.ascontiguousarray(x, dtype=np.float32)
    if rate == target or x.size == 0:
        return x
    import soxr

    return np.asarray(soxr.resample(x, rate, target, quality="HQ"), dtype=np.float32)
