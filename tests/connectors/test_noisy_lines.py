"""Noisy lines (white noise mixed into real espeak-ng phone-band speech, seeded): the front end
measures each channel's SNR, the VAD listens harder on a noisy channel so whole utterances are
not skipped, and a very noisy channel has its steady noise suppressed before decoding."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from catalog.audio import resample
from connectors.faster_whisper import FasterWhisperConfig, channel_speech
from connectors.speech_frontend import RATE, denoise, prepare, snr_db
from tests.support import make_call

LINES = [
    ("caller", "Hello, what time does your shop open on Saturday?"),
    ("callee", "We open at nine and close at five."),
    ("caller", "Lovely, thanks for your help."),
]


@pytest.fixture(scope="module")
def caller() -> np.ndarray:
    """The caller's channel at 8 kHz, full scale 1.0: two utterances with the callee between."""
    with wave.open(str(make_call(LINES).stereo)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    return pcm[:, 0].astype(np.float64) / 32768


@pytest.fixture(scope="module")
def callee() -> np.ndarray:
    """The callee's channel (en-us+f3, a high voice the front end slows down)."""
    with wave.open(str(make_call(LINES).stereo)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    return pcm[:, 1].astype(np.float64) / 32768


def noisy(x: np.ndarray, snr: float, seed: int) -> np.ndarray:
    """``x`` with white noise ``snr`` dB under its active speech."""
    active = x[np.abs(x) > 0.01 * np.abs(x).max()]
    noise = np.random.default_rng(seed).standard_normal(x.size)
    return (x + noise * np.sqrt(np.mean(active**2) / 10 ** (snr / 10))).astype(np.float32)


def test_snr_is_measured_against_the_channels_own_noise_floor(caller) -> None:
    assert snr_db(resample(caller.astype(np.float32), 8000, RATE)) > 60
    assert snr_db(np.zeros(RATE * 5, np.float32)) == float("inf")  # a silent leg is not noisy
    for snr in (20, 10):
        measured = snr_db(resample(noisy(caller, snr, 0), 8000, RATE))
        assert snr - 1 <= measured <= snr + 5, (snr, measured)


def test_suppression_removes_noise_more_than_it_changes_speech(caller) -> None:
    clean = resample(caller.astype(np.float32), 8000, RATE)
    x = resample(noisy(caller, 10, 1), 8000, RATE)
    before = float(np.mean((x - clean) ** 2))
    after = float(np.mean((denoise(x) - clean) ** 2))
    assert 10 * np.log10(before / after) >= 3, (before, after)


def test_only_a_noisy_channel_is_suppressed(caller) -> None:
    clean = prepare(caller.astype(np.float32), 8000, suppress_below_db=15)
    assert not clean.suppressed
    assert not prepare(noisy(caller, 20, 0), 8000, suppress_below_db=15).suppressed
    very = prepare(noisy(caller, 10, 0), 8000, suppress_below_db=15)
    assert very.suppressed
    assert very.samples.shape == very.heard.shape


def test_a_slowed_high_voice_is_suppressed_only_when_noisy(callee) -> None:
    clean = prepare(callee.astype(np.float32), 8000, suppress_below_db=15)
    assert clean.time_scale > 1  # slowed (speaker normalisation)
    assert not clean.suppressed  # the VAD hears exactly what the model hears
    very = prepare(noisy(callee, 10, 0), 8000, suppress_below_db=15)
    assert very.time_scale > 1 and very.suppressed
    assert very.samples.shape == very.heard.shape  # both slowed: chunk indices line up


def _covers(chunks: list[dict[str, int]], start_s: float, end_s: float) -> bool:
    return any(c["start"] <= start_s * RATE and c["end"] >= end_s * RATE for c in chunks)


def test_a_noisy_channel_keeps_every_utterance_for_the_decoder(caller) -> None:
    """At 20 dB SNR Silero's default threshold skipped "Lovely, thanks for your help" (7-10 s)
    on some noise draws; the noisy-channel threshold keeps both utterances on every draw."""
    default, off = FasterWhisperConfig(), FasterWhisperConfig(noisy_below_db=0)
    lost_without = 0
    for seed in range(6):
        front = prepare(noisy(caller, 20, seed), 8000)
        assert front.snr_db < default.noisy_below_db
        chunks = channel_speech(front, default)
        assert _covers(chunks, 0.5, 4.0) and _covers(chunks, 7.2, 10.0), (seed, chunks)
        lost_without += not _covers(channel_speech(front, off), 7.2, 10.0)
    assert lost_without >= 2  # the case the setting exists for
