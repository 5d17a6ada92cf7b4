"""Helpers shared by the archive tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import socket
import wave
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_call_wav(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    """A stereo 8 kHz 16-bit call: a different tone (plus noise) on each channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(8000 * seconds)) / 8000
    left = 8000 * np.sin(2 * np.pi * (300 + 10 * seed) * t) + rng.normal(0, 300, t.size)
    right = 6000 * np.sin(2 * np.pi * 620 * t) + rng.normal(0, 300, t.size)
    pcm = np.stack([left, right], axis=1).clip(-32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    return path
