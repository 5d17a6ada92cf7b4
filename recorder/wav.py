"""Incremental 16-bit PCM WAV files that survive a crash.

The header is written first with the RIFF and data sizes set to 0xFFFFFFFF (the convention
for "streaming, size unknown"), audio is appended about once a second, and the real sizes go in
when the call ends. A process killed in between leaves a file whose data is good up to the last
write; :func:`repair` trims it to whole frames and fixes the header.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

HEADER_SIZE = 44
_UNKNOWN = 0xFFFFFFFF


def header(channels: int, rate: int, data_bytes: int) -> bytes:
    block = channels * 2
    riff = _UNKNOWN if data_bytes == _UNKNOWN else 36 + data_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        riff,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        rate,
        rate * block,
        block,
        16,
        b"data",
        data_bytes,
    )


class WavWriter:
    def __init__(self, path: Path, *, channels: int = 2, rate: int = 8000) -> None:
        self.path = path
        self.channels = channels
        self.rate = rate
        self.frames = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        self._f = os.fdopen(fd, "wb", buffering=0)
        self._f.write(header(channels, rate, _UNKNOWN))

    def write(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self._f.write(pcm.astype("<i2", copy=False).tobytes())
            self.frames += len(pcm)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def close(self) -> None:
        """Final sizes, then fsync: the file is complete and durable."""
        if self._f.closed:
            return
        self._f.seek(0)
        self._f.write(header(self.channels, self.rate, self.frames * self.channels * 2))
        os.fsync(self._f.fileno())
        self._f.close()


def repair(path: Path) -> tuple[int, int, int]:
    """Make a half-written file valid; returns (channels, rate, frames)."""
    with open(path, "r+b") as f:
        head = f.read(HEADER_SIZE)
        if len(head) < HEADER_SIZE or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path} is not a WAV file we wrote")
        channels, rate = struct.unpack_from("<HI", head, 22)
        if channels not in (1, 2) or rate <= 0:
            raise ValueError(f"{path} has an unexpected format")
        size = os.fstat(f.fileno()).st_size
        block = channels * 2
        frames = max(0, size - HEADER_SIZE) // block
        f.truncate(HEADER_SIZE + frames * block)
        f.seek(0)
        f.write(header(channels, rate, frames * block))
        f.flush()
        os.fsync(f.fileno())
    return channels, rate, frames
