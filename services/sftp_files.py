"""The bytes behind the hosted SFTP tree: converted audio in a size-bounded cache, the stored
file itself where no conversion is needed, and the monthly SMS CSV written when it is read.

- WAV_16_8000_S: the store already holds 16-bit stereo 8 kHz WAVs, so the stored file is served
  as is (no copy, no cache).
- MP3 and WAV_8_8000_M: converted by the archive's converter (``convert_audio``) on first read
  into ``DATA_DIR/sftp-cache``; later reads (any client) are served from there. The cache is
  bounded by ``sftp_server.cache_mb``: least recently used files go first. A file being read
  when it is evicted stays readable to that reader (its descriptor keeps it; Unix semantics).
  One conversion per file at a time: twenty clients asking for the same new MP3 wait for one
  conversion, not twenty.
- The monthly SMS CSV: written on open into an anonymous file (unlinked at once), so a month of
  SMS never sits in memory and nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import wave
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import numpy as np

from catalog.repository import Catalog
from catalog.sftp_queries import CallEntry
from catalog.sms import iter_sms
from services.archive_layout import MP3_BITRATE_KBPS, AudioFormat, convert_audio, passthrough
from services.sms_format import month_bounds, write_csv


class ConversionCache:
    """Converted files under ``root``, at most ``max_bytes`` in all (LRU eviction)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Lock] = {}
        self._lru: OrderedDict[str, int] = OrderedDict()  # file name -> size, oldest first
        # conversions are CPU-bound and hold a call's samples in memory: one per core at most
        self._converting = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self.conversions = 0
        for p in sorted(self.root.glob("*.*"), key=lambda p: p.stat().st_mtime):
            if p.name.startswith("tmp"):
                p.unlink(missing_ok=True)  # a conversion cut short by a crash
            else:
                self._lru[p.name] = p.stat().st_size

    @staticmethod
    def name(recording_id: str, fmt: AudioFormat) -> str:
        return f"{recording_id}.{fmt.value}.{fmt.ext}"

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(self._lru.values())

    def size_of(self, recording_id: str, fmt: AudioFormat) -> int | None:
        with self._lock:
            return self._lru.get(self.name(recording_id, fmt))

    def get(self, recording_id: str, fmt: AudioFormat, produce: Callable[[Path], None]) -> Path:
        """The cached file, made first by ``produce(tmp_path)`` when it is not cached."""
        name = self.name(recording_id, fmt)
        path = self.root / name
        with self._lock:
            busy = self._busy.setdefault(name, threading.Lock())
        with busy:
            with self._lock:
                if name in self._lru and path.exists():
                    self._lru.move_to_end(name)
                    return path
            fd, tmp_name = tempfile.mkstemp(prefix="tmp", suffix=f".{fmt.ext}", dir=self.root)
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                with self._converting:
                    produce(tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            self.conversions += 1
            with self._lock:
                self._lru[name] = path.stat().st_size
                self._lru.move_to_end(name)
                self._evict(keep=name)
                self._busy.pop(name, None)
            return path

    def _evict(self, keep: str) -> None:
        total = sum(self._lru.values())
        for old in list(self._lru):
            if total <= self.max_bytes:
                break
            if old == keep:
                continue
            total -= self._lru.pop(old)
            (self.root / old).unlink(missing_ok=True)


def source_path(catalog: Catalog, call: CallEntry, scratch: Path) -> Path:
    """A local path of the stored recording (downloaded into ``scratch`` for remote stores)."""
    store = catalog.store
    try:
        local = store.local_path(call.file_key)
        if local.exists():
            return local
    except Exception:  # remote stores have no local path
        pass
    scratch.mkdir(parents=True, exist_ok=True)
    dest = scratch / f"src-{call.id}.wav"
    if not dest.exists():
        with store.open(call.file_key) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return dest


def id3_tag(call: CallEntry) -> bytes:
    """An ID3v2.4 tag (UTF-8): title, caller, year and the recording id. Players show who
    called whom; the tag also marks the file as MP3 to tools that sniff the first bytes (an
    8 kHz MP3 is MPEG-2.5, whose frame sync ``FF E3`` some of them do not know)."""

    def frame(fid: bytes, payload: bytes) -> bytes:
        return fid + _syncsafe(len(payload)) + b"\x00\x00" + payload

    end = call.ended_at.astimezone(UTC)
    when = f"{end:%Y-%m-%d %H:%M:%S} UTC"
    frames = b"".join(
        [
            frame(b"TIT2", b"\x03" + f"{call.from_number} to {call.to_number} {when}".encode()),
            frame(b"TPE1", b"\x03" + call.from_number.encode()),
            frame(b"TDRC", b"\x03" + f"{end:%Y-%m-%dT%H:%M:%S}".encode()),
            frame(b"TXXX", b"\x03" + b"recflow recording id\x00" + call.id.encode()),
        ]
    )
    return b"ID3\x04\x00\x00" + _syncsafe(len(frames)) + frames


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


STREAM_FRAMES = 8000 * 10  # ten seconds of 8 kHz audio per step


def stream_convert(src: Path, fmt: AudioFormat, dest: Path) -> Path:
    """``convert_audio`` in ten-second steps, so a conversion holds ten seconds of samples, not
    the whole call (the output is byte for byte the same; a test compares them). Sources that
    need resampling take the archive's whole-file path."""
    with wave.open(str(src), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        if (
            fmt is AudioFormat.WAV_16_8000_S
            or width != 2
            or rate != 8000
            or channels not in (1, 2)
            or w.getcomptype() != "NONE"
        ):
            return convert_audio(src, fmt, dest)
        if fmt is AudioFormat.MP3:
            import lameenc

            enc = lameenc.Encoder()
            enc.set_bit_rate(MP3_BITRATE_KBPS)
            enc.set_in_sample_rate(8000)
            enc.set_channels(2)
            enc.set_quality(2)
            with open(dest, "wb") as out:
                while frames := w.readframes(STREAM_FRAMES):
                    x = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)
                    if channels == 1:
                        x = np.repeat(x, 2, axis=1)
                    out.write(bytes(enc.encode(np.ascontiguousarray(x, dtype="<i2").tobytes())))
                out.write(bytes(enc.flush()))
            return dest
        with wave.open(str(dest), "wb") as o:
            o.setnchannels(1)
            o.setsampwidth(1)
            o.setframerate(8000)
            while frames := w.readframes(STREAM_FRAMES):
                x = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)
                if channels == 1:
                    x = np.repeat(x, 2, axis=1)
                mono = x.astype(np.int32).mean(axis=1)
                o.writeframes((np.clip(np.rint(mono / 256.0), -128, 127) + 128).astype(np.uint8))
    return dest


def call_file(catalog: Catalog, cache: ConversionCache, call: CallEntry, fmt: AudioFormat) -> Path:
    """The file whose bytes are ``call`` in ``fmt``."""
    src = source_path(catalog, call, cache.root / "sources")
    if passthrough(src, fmt):
        return src

    def produce(dest: Path) -> None:
        raw = dest.with_name(dest.name + ".raw")
        try:
            out = stream_convert(src, fmt, raw)
            with open(dest, "wb") as f:
                if fmt is AudioFormat.MP3:
                    f.write(id3_tag(call))
                with open(out, "rb") as body:
                    shutil.copyfileobj(body, f, 1 << 20)
        finally:
            raw.unlink(missing_ok=True)

    return cache.get(call.id, fmt, produce)


def open_sms_csv(
    catalog: Catalog, year: int, month: int, numbers: frozenset[str] | None, scratch: Path
) -> int:
    """A read-only descriptor of the month's CSV (header only for a month without SMS),
    restricted to messages with a party in ``numbers`` unless that is None."""
    start, end = month_bounds(year, month)
    messages = iter_sms(catalog, since=start, until=end)
    if numbers is not None:
        messages = (m for m in messages if {m.from_number, m.to_number} & numbers)
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="tmpsms", suffix=".csv", dir=scratch)
    try:
        with open(fd, "w", newline="", encoding="utf-8", closefd=False) as f:
            write_csv(messages, f)
        return os.open(name, os.O_RDONLY)
    finally:
        os.close(fd)
        os.unlink(name)
