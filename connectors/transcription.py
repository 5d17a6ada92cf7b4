"""Shared transcription logic: per-channel transcription merged onto one timeline.

Engines only turn one channel of float32 16 kHz samples into segments; splitting channels,
skipping silent ones, labelling speakers (channel 0 = caller, 1 = callee) and merging by time
happen once, here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from catalog.audio import Audio, read_wav, resample
from catalog.models import Recording, Speaker, Transcript, TranscriptSegment, Word
from triggers.spoken_numbers import normalize_numbers

# Quieter than this (peak, full scale = 1.0) is treated as an empty channel: a one-sided
# recording must not make the engine hallucinate words into silence.
SILENCE_PEAK = 0.003

# An engine gets the call's non-silent channels at once, [(samples at 16 kHz, channel), ...]:
# one that works per channel loops; one that can decode both together does
CallEngine = Callable[[list[tuple[np.ndarray, int]]], list[TranscriptSegment]]


def transcribe_channels(
    recording: Recording, audio_path: Path, engine: CallEngine, engine_name: str
) -> Transcript:
    audio: Audio = read_wav(audio_path)
    channels = []
    for ch in range(min(audio.channels, 2)):
        samples = resample(audio.channel_float(ch), audio.sample_rate, 16000)
        if samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK:
            continue
        channels.append((samples, ch))
    segments = engine(channels) if channels else []
    for seg in segments:
        normalized = normalize_numbers(seg.text)
        if normalized != seg.text:
            seg.text_normalized = normalized
    segments.sort(key=lambda s: (s.start, s.channel))
    return Transcript(recording_id=recording.id, engine=engine_name, segments=segments)


def engine_word(word: Any, recording_time: Callable[[float], float]) -> Word:
    """A word as faster-whisper gives it (``word``, ``start``, ``end``, ``probability``, in the
    model's time) → a stored Word in recording time."""
    return Word(
        word=word.word.strip(),
        start=recording_time(word.start),
        end=recording_time(word.end),
        probability=round(word.probability, 4),
    )


MAX_HINTS_CHARS = 400


def hotwords_text(hints: Sequence[str]) -> str:
    """Rule phrases and names → the decoder's hotword string (deduplicated, bounded)."""
    seen: dict[str, None] = {}
    for h in hints:
        h = " ".join(str(h).split())
        if h and h.casefold() not in {k.casefold() for k in seen}:
            seen[h] = None
    out = ""
    for h in seen:
        nxt = f"{out}, {h}" if out else h
        if len(nxt) > MAX_HINTS_CHARS:
            break
        out = nxt
    return out


def speaker_of(channel: int) -> Speaker:
    return Speaker.of_channel(channel)
