"""The archive's pure core: object names, audio formats, sidecars and the per-recording plan.

No Prefect, no network, no database: the engine (``services.archive``) and the CLI feed it
recordings and get back what to upload under which key. Everything here is a function of its
inputs, which is what lets the layout tests cover time zones and midnight crossings exactly.

Layouts: the presets ``masergy-default`` and ``masergy-custom`` (Masergy's
``%{setup-time##%Y%m%d}`` notation, accepted for user templates too), ``focus`` (the Focus SFTP
structure ``<format>/Daily/YYYY/MM/DD/<end>_<from>_<to>_<account>_<id>.<ext>``), or any Jinja2
template rendered in a sandbox with strict undefined. Every rendered name goes through
:func:`sanitise_key`: no absolute paths, no ``..``, only safe characters.
"""

from __future__ import annotations

import hashlib
import json
import re
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from catalog.models import Recording, Transcript, assume_utc

# ---------------------------------------------------------------- formats


class AudioFormat(str, Enum):  # noqa: UP042 (str mix-in: JSON/YAML as plain names)
    """Archive audio formats, named as the Focus SFTP folders name them."""

    MP3 = "MP3"  # stereo MP3
    WAV_16_8000_S = "WAV_16_8000_S"  # 16-bit stereo 8 kHz
    WAV_8_8000_M = "WAV_8_8000_M"  # 8-bit unsigned mono 8 kHz

    @property
    def ext(self) -> str:
        return "mp3" if self is AudioFormat.MP3 else "wav"

    @property
    def content_type(self) -> str:
        return "audio/mpeg" if self is AudioFormat.MP3 else "audio/wav"


MP3_BITRATE_KBPS = 32  # MPEG-2.5 at 8 kHz: 32 kbit/s stereo is transparent for phone audio


def _read_pcm(src: Path) -> tuple[np.ndarray, int]:
    """16-bit samples (frames, channels) and the sample rate of a PCM WAV."""
    from catalog.audio import read_wav

    audio = read_wav(src)
    return audio.samples, audio.sample_rate


def _to_8k(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == 8000:
        return samples
    from scipy.signal import resample_poly

    g = int(np.gcd(rate, 8000))
    out = resample_poly(samples.astype(np.float32), 8000 // g, rate // g, axis=0)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def _stereo(samples: np.ndarray) -> np.ndarray:
    return samples if samples.shape[1] == 2 else np.repeat(samples[:, :1], 2, axis=1)


def _is_wav_16_8000_s(src: Path) -> bool:
    try:
        with wave.open(str(src), "rb") as w:
            return (
                w.getnchannels() == 2
                and w.getsampwidth() == 2
                and w.getframerate() == 8000
                and w.getcomptype() == "NONE"
            )
    except (wave.Error, EOFError, OSError):
        return False


def passthrough(src: Path, fmt: AudioFormat) -> bool:
    """True when ``src`` already is ``fmt`` byte for byte (uploaded as is, no conversion)."""
    return fmt is AudioFormat.WAV_16_8000_S and _is_wav_16_8000_s(src)


def convert_audio(src: Path, fmt: AudioFormat, dest: Path) -> Path:
    """Write ``src`` (a PCM WAV) to ``dest`` in ``fmt``; returns the file to upload.

    The store already holds 16-bit stereo 8 kHz WAVs, so WAV_16_8000_S usually needs no work:
    the source file itself is returned and uploaded as is.
    """
    if passthrough(src, fmt):
        return src
    samples, rate = _read_pcm(src)
    samples = _to_8k(samples, rate)
    if fmt is AudioFormat.WAV_16_8000_S:
        with wave.open(str(dest), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(np.ascontiguousarray(_stereo(samples), dtype="<i2").tobytes())
    elif fmt is AudioFormat.WAV_8_8000_M:
        mono = samples.astype(np.int32).mean(axis=1)
        u8 = (np.clip(np.rint(mono / 256.0), -128, 127) + 128).astype(np.uint8)
        with wave.open(str(dest), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(1)
            w.setframerate(8000)
            w.writeframes(u8.tobytes())
    else:
        import lameenc

        enc = lameenc.Encoder()
        enc.set_bit_rate(MP3_BITRATE_KBPS)
        enc.set_in_sample_rate(8000)
        enc.set_channels(2)
        enc.set_quality(2)
        pcm = np.ascontiguousarray(_stereo(samples), dtype="<i2").tobytes()
        dest.write_bytes(bytes(enc.encode(pcm)) + bytes(enc.flush()))
    return dest


# ---------------------------------------------------------------- names

PRESETS: dict[str, str] = {
    "masergy-default": "%{setup-time##%Y%m%d}/%{setup-time##%Y%m%d%H%M%S}-%{call-id}",
    "masergy-custom": (
        "%{setup-time##%Y%m%d}/%{setup-time##%Y%m%d%H%M%S}-%{caller-number}-%{callee-number}"
        "-%{call-id}"
    ),
    "focus": (
        "{{ format }}/Daily/{{ end_time.strftime('%Y/%m/%d') }}/"
        "{{ end_time.strftime('%Y%m%d%H%M%S') }}_{{ from_number }}_{{ to_number }}"
        "_{{ account }}_{{ id }}.{{ ext }}"
    ),
}

_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._+@=,-]")
_SAFE_FIELD = re.compile(r"[^A-Za-z0-9.+@=-]")  # also no "_" and "/": they separate fields
_MASERGY = re.compile(r"%\{([a-z-]+)(?:##([^}]*))?\}")
MAX_SEGMENT = 200


class LayoutError(ValueError):
    """A layout that cannot render (unknown variable, bad syntax, empty name)."""


def sanitise_field(value: str) -> str:
    """One field of a name (a number, an account name): safe characters only, never ``_`` or
    ``/`` so it cannot break the field structure of a layout like Focus's."""
    out = _SAFE_FIELD.sub("-", value.strip())
    out = re.sub(r"-{2,}", "-", out).strip("-.")
    return out or "unknown"


def sanitise_key(name: str) -> str:
    """A rendered object name made safe: relative, no ``.``/``..`` segments, safe characters,
    bounded segment length. Never raises for odd input; raises only when nothing is left."""
    segments = []
    for raw in name.replace("\\", "/").split("/"):
        seg = _SAFE_SEGMENT.sub("-", raw.strip())
        seg = re.sub(r"\.{2,}", ".", seg).strip()
        if seg in ("", "."):
            continue
        segments.append(seg[:MAX_SEGMENT])
    if not segments:
        raise LayoutError(f"layout rendered an empty name from {name!r}")
    return "/".join(segments)


class LayoutContext(BaseModel):
    """What a layout template can use. Times are in the destination's time zone."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(description="recflow recording id")
    call_id: str = Field(description="SIP Call-ID (sanitised)")
    from_number: str = Field(description="Caller number (sanitised)")
    to_number: str = Field(description="Callee number (sanitised)")
    direction: str = Field(description="inbound, outbound, internal or unknown")
    account: str = Field(description="Account name (sanitised)")
    setup_time: datetime = Field(description="Call setup time, destination time zone")
    end_time: datetime = Field(description="Call end time, destination time zone")
    duration: int = Field(description="Duration in whole seconds")
    format: str = Field(description="MP3, WAV_16_8000_S or WAV_8_8000_M")
    ext: str = Field(description="File extension without the dot: mp3 or wav")


def layout_context(
    rec: Recording, fmt: AudioFormat, *, account: str, tz: str = "UTC"
) -> LayoutContext:
    zone = ZoneInfo(tz)
    started = assume_utc(rec.started_at)
    ended = (
        assume_utc(rec.ended_at)
        if rec.ended_at
        else started + timedelta(seconds=rec.duration_seconds)
    )
    return LayoutContext(
        id=sanitise_field(rec.id),
        call_id=sanitise_field(rec.call_id or rec.id),
        from_number=sanitise_field(rec.from_number),
        to_number=sanitise_field(rec.to_number),
        direction=rec.direction.value,
        account=sanitise_field(account),
        setup_time=started.astimezone(zone),
        end_time=ended.astimezone(zone),
        duration=round(rec.duration_seconds or (ended - started).total_seconds()),
        format=fmt.value,
        ext=fmt.ext,
    )


_MASERGY_FIELDS = {
    "call-id": "call_id",
    "caller-number": "from_number",
    "callee-number": "to_number",
    "recording-id": "id",
    "account": "account",
    "direction": "direction",
    "format": "format",
}
_MASERGY_TIMES = {"setup-time": "setup_time", "end-time": "end_time"}


def _render_masergy(template: str, ctx: LayoutContext) -> str:
    def sub(m: re.Match[str]) -> str:
        name, fmt = m.group(1), m.group(2)
        if name in _MASERGY_TIMES:
            when: datetime = getattr(ctx, _MASERGY_TIMES[name])
            return when.strftime(fmt or "%Y%m%d%H%M%S")
        if name in _MASERGY_FIELDS:
            return str(getattr(ctx, _MASERGY_FIELDS[name]))
        raise LayoutError(f"unknown field %{{{name}}} in layout")

    return _MASERGY.sub(sub, template)


@lru_cache(maxsize=64)
def _compiled(template: str) -> Any:
    """Compiling a template costs milliseconds; an archive renders one per object."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    return env.from_string(template)


def template_of(layout: str) -> str:
    return PRESETS.get(layout, layout)


def validate_layout(layout: str) -> None:
    """Raise LayoutError unless ``layout`` renders for a typical recording."""
    sample = Recording(
        id="00000000-0000-0000-0000-000000000000",
        call_id="abc@example",
        from_number="+441110000333",
        to_number="+441230000321",
        started_at=datetime(2025, 6, 5, 23, 59, 0, tzinfo=UTC),
        ended_at=datetime(2025, 6, 6, 0, 1, 0, tzinfo=UTC),
        duration_seconds=120,
    )
    render_key(layout, layout_context(sample, AudioFormat.MP3, account="acct"))


def render_key(layout: str, ctx: LayoutContext) -> str:
    """The sanitised object key of one audio file. An extension is added when the template
    did not write one, so Masergy-style names still open in a player."""
    template = template_of(layout)
    if "%{" in template:
        raw = _render_masergy(template, ctx)
    else:
        from jinja2 import TemplateError

        try:
            raw = _compiled(template).render(**dict(ctx))
        except TemplateError as e:
            raise LayoutError(f"layout template: {e}") from None
    key = sanitise_key(raw)
    if not key.lower().endswith("." + ctx.ext):
        key = f"{key}.{ctx.ext}"
    return key


def uses_format(layout: str) -> bool:
    t = template_of(layout)
    return "format" in t or "ext" in t


# ---------------------------------------------------------------- sidecars


def sidecar_json(rec: Recording, *, account: str, fmt: AudioFormat, key: str) -> bytes:
    """The JSON metadata written next to an archived file (stable keys, sorted)."""
    doc = {
        "recording_id": rec.id,
        "call_id": rec.call_id,
        "account": account,
        "direction": rec.direction.value,
        "from": {"number": rec.from_number, "name": rec.from_name},
        "to": {"number": rec.to_number, "name": rec.to_name},
        "started_at": assume_utc(rec.started_at).isoformat(),
        "answered_at": assume_utc(rec.answered_at).isoformat() if rec.answered_at else None,
        "ended_at": assume_utc(rec.ended_at).isoformat() if rec.ended_at else None,
        "duration_seconds": rec.duration_seconds,
        "original": {
            "sha256": rec.sha256,
            "size": rec.file_size,
            "channels": rec.channels,
            "sample_rate": rec.sample_rate,
        },
        "audio": {"format": fmt.value, "key": key},
        "participants": [p.model_dump(mode="json") for p in rec.participants],
        "pauses": [p.model_dump(mode="json") for p in rec.pauses],
        "private": rec.private,
    }
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def transcript_text(transcript: Transcript) -> bytes:
    """The transcript as people read it: one line per segment with time and speaker."""
    lines = []
    for seg in transcript.segments:
        minutes, seconds = divmod(seg.start, 60)
        lines.append(
            f"[{int(minutes):02d}:{seconds:04.1f}] {seg.speaker.value}: {seg.text.strip()}"
        )
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- plan


class Artifact(str, Enum):  # noqa: UP042
    audio = "audio"
    metadata = "metadata"
    transcript = "transcript"


@dataclass(frozen=True)
class PlannedObject:
    """One object to put for one recording: which format, which artifact, under which key."""

    fmt: AudioFormat
    artifact: Artifact
    key: str

    @property
    def name(self) -> str:
        """Stable ledger name of this object within the recording ("MP3", "MP3.metadata")."""
        return (
            self.fmt.value
            if self.artifact is Artifact.audio
            else f"{self.fmt.value}.{self.artifact.value}"
        )

    @property
    def content_type(self) -> str:
        if self.artifact is Artifact.audio:
            return self.fmt.content_type
        return "application/json" if self.artifact is Artifact.metadata else "text/plain"


@dataclass(frozen=True)
class PlanOptions:
    layout: str
    formats: tuple[AudioFormat, ...]
    timezone: str = "UTC"
    metadata_sidecar: bool = False
    transcript: bool = False

    def signature(self) -> str:
        """Changes whenever the set of objects a recording needs changes; a recording archived
        under another signature is planned again (objects already in the ledger are skipped)."""
        raw = json.dumps(
            [
                self.layout,
                [f.value for f in self.formats],
                self.timezone,
                self.metadata_sidecar,
                self.transcript,
            ]
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _stem(key: str, ext: str) -> str:
    return key[: -len(ext) - 1] if key.lower().endswith("." + ext) else key


def plan_recording(rec: Recording, opts: PlanOptions, *, account: str) -> list[PlannedObject]:
    """Every object one recording needs at one destination, keys distinct.

    When several formats share an extension and the layout does not name the format, the
    format becomes the first folder so WAV_16_8000_S and WAV_8_8000_M never overwrite each other.
    """
    exts = [f.ext for f in opts.formats]
    prefix_format = not uses_format(opts.layout) and len(set(exts)) < len(exts)
    out: list[PlannedObject] = []
    for fmt in opts.formats:
        ctx = layout_context(rec, fmt, account=account, tz=opts.timezone)
        key = render_key(opts.layout, ctx)
        if prefix_format:
            key = f"{fmt.value}/{key}"
        out.append(PlannedObject(fmt, Artifact.audio, key))
        stem = _stem(key, fmt.ext)
        if opts.metadata_sidecar:
            out.append(PlannedObject(fmt, Artifact.metadata, f"{stem}.json"))
        if opts.transcript:
            out.append(PlannedObject(fmt, Artifact.transcript, f"{stem}.txt"))
    keys = [o.key for o in out]
    if len(set(keys)) != len(keys):
        raise LayoutError(f"layout {opts.layout!r} gives two objects the same key: {keys}")
    return out


def render_artifact(
    obj: PlannedObject,
    rec: Recording,
    *,
    source: Path,
    workdir: Path,
    account: str,
    transcript: Transcript | None,
    audio_key: Mapping[AudioFormat, str],
    manifest: dict[str, Any] | None = None,
) -> Path:
    """Produce the local file for one planned object (converting audio, writing sidecars).
    ``manifest``: the recording's signed manifest (catalog.manifests), carried in the metadata
    sidecar so an auditor can check the archived original without recflow."""
    if obj.artifact is Artifact.audio:
        return convert_audio(source, obj.fmt, workdir / f"{rec.id}.{obj.name}.{obj.fmt.ext}")
    path = workdir / f"{rec.id}.{obj.name}"
    if obj.artifact is Artifact.metadata:
        doc = json.loads(sidecar_json(rec, account=account, fmt=obj.fmt, key=audio_key[obj.fmt]))
        if manifest is not None:
            doc["manifest"] = manifest
        path.write_bytes(json.dumps(doc, indent=2, sort_keys=True).encode())
    else:
        path.write_bytes(transcript_text(transcript) if transcript else b"")
    return path
