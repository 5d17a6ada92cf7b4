"""A call's waveform as server-rendered SVG: one lane per channel (caller above, callee below),
min/max peaks per column, so the page shows who spoke when without any client-side decoding.
Keyword-rule matches and notes with an offset are drawn as markers on the same time axis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from catalog.audio import AudioError, read_wav

WIDTH = 1000
LANE = 60  # pixels per channel
LABELS = ("caller", "callee")


@dataclass(frozen=True)
class Marker:
    at: float  # seconds
    label: str
    kind: str  # match | note


def peaks(samples: np.ndarray, columns: int = WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (min, max) of one channel scaled to -1..1; flat when silent."""
    x = samples.astype(np.float32) / 32768.0
    if len(x) == 0:
        z = np.zeros(columns, dtype=np.float32)
        return z, z
    if len(x) < columns:  # very short: repeat samples so every column has one
        x = np.repeat(x, -(-columns // len(x)))
    starts = np.linspace(0, len(x), columns, endpoint=False).astype(int)
    return np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)


def waveform_svg(path: Path, markers: Sequence[Marker] = ()) -> str | None:
    """The SVG markup, or None when the file is not readable audio."""
    try:
        audio = read_wav(path)
    except (AudioError, OSError):
        return None
    duration = max(audio.duration, 1e-6)
    lanes = audio.channels
    height = LANE * lanes + 14
    parts = [
        f'<svg class="waveform" id="waveform" viewBox="0 0 {WIDTH} {height}" '
        f'preserveAspectRatio="none" role="img" data-duration="{duration:.3f}" '
        f'aria-label="Waveform of both channels, {duration:.0f} seconds; click to play from a '
        'point">'
    ]
    for ch in range(lanes):
        lo, hi = peaks(audio.samples[:, ch])
        mid = LANE * ch + LANE / 2
        scale = LANE / 2 - 2
        top = " ".join(f"{i},{mid - hi[i] * scale:.1f}" for i in range(WIDTH))
        bottom = " ".join(f"{i},{mid - lo[i] * scale:.1f}" for i in reversed(range(WIDTH)))
        name = LABELS[ch] if ch < len(LABELS) else f"channel {ch}"
        parts.append(
            f'<polygon class="lane {name}" points="{top} {bottom}"><title>{name}</title></polygon>'
        )
        parts.append(f'<text x="4" y="{LANE * ch + 12}" class="lane-label">{name}</text>')
    for m in markers:
        x = min(WIDTH - 1, max(0.0, m.at / duration * WIDTH))
        parts.append(
            f'<line class="marker {escape(m.kind)}" x1="{x:.1f}" x2="{x:.1f}" y1="0" '
            f'y2="{LANE * lanes}"><title>{escape(m.label)} at {m.at:.1f} s</title></line>'
        )
    parts.append(
        f'<rect class="cursor" id="wave-cursor" x="0" y="0" width="2" height="{LANE * lanes}"/>'
    )
    parts.append(f'<text x="4" y="{height - 2}" class="axis">0:00</text>')
    end = f"{int(duration // 60)}:{int(duration % 60):02d}"
    parts.append(
        f'<text x="{WIDTH - 4}" y="{height - 2}" class="axis" text-anchor="end">{end}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
