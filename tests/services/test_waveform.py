"""The server-rendered waveform: one lane per channel whose peaks follow who spoke when, and
markers at the given times."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np

from services.waveform import WIDTH, Marker, peaks, waveform_svg


def _wav(path: Path) -> Path:
    rate, n = 8000, 8000 * 4
    t = np.arange(n) / rate
    tone = (12000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    left = np.where(t < 2, tone, 0).astype(np.int16)  # caller speaks first
    right = np.where(t >= 2, tone, 0).astype(np.int16)  # then the callee
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([left, right], axis=1).tobytes())
    return path


def _lane_heights(svg: str, name: str) -> list[float]:
    pts = re.search(rf'<polygon class="lane {name}" points="([^"]+)"', svg).group(1).split()
    ys = [float(p.split(",")[1]) for p in pts]
    top, bottom = ys[:WIDTH], ys[WIDTH:][::-1]
    return [b - t for t, b in zip(top, bottom, strict=True)]


def test_lanes_follow_who_spoke_and_markers_sit_at_their_time(tmp_path):
    svg = waveform_svg(_wav(tmp_path / "c.wav"), [Marker(3.0, "refund <rule>", "match")])
    assert svg is not None and 'data-duration="4.000"' in svg
    caller, callee = _lane_heights(svg, "caller"), _lane_heights(svg, "callee")
    half = WIDTH // 2
    assert min(caller[5 : half - 5]) > 15 and max(caller[half + 5 :]) < 1
    assert max(callee[5 : half - 5]) < 1 and min(callee[half + 5 :]) > 15
    x = float(re.search(r'<line class="marker match" x1="([\d.]+)"', svg).group(1))
    assert x == 750.0
    assert "refund &lt;rule&gt;" in svg  # labels are escaped


def test_unreadable_audio_has_no_waveform_and_short_audio_fills_the_width(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not a wav")
    assert waveform_svg(bad) is None
    lo, hi = peaks(np.array([1000, -1000, 500], dtype=np.int16))
    assert len(lo) == len(hi) == WIDTH and hi.max() > 0 > lo.min()
