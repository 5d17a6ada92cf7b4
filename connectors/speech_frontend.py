"""Phone-band front end: what a channel of a call goes through before a speech model sees it.

Measured on espeak-ng calls through G.711 (benchmarks/acceptance_wer.py, docs/benchmarks.md):

* resampling to 16 kHz with soxr (high quality, linear phase) instead of a polyphase FIR;
* level normalisation: the active speech (frames within 35 dB of the loudest) is brought to
  -20 dBFS RMS, so a quiet leg and a hot leg reach the model alike; peaks are limited;
* speaker normalisation: a crude vocal-tract-length normalisation. A channel whose median pitch
  is high (above 165 Hz, typical of women's and children's voices) is slowed by 22 % — pitch and
  formants down by the same ratio, about the gap between women's and men's formants — which the
  tiny models hear markedly better through the 300-3400 Hz band. Timestamps are mapped back by
  the same factor. 15 % rather than the first 5 %: over 30 renderings of the acceptance calls
  the female leg's WER went from mean 0.12 / worst 0.20 (a fifth of renderings over 0.15) to
  mean 0.10 / worst 0.13 (none); 8, 10 and 18 % were worse, 13 and 20 % close (benchmarks/
  acceptance_wer.py --renderings). 22 % since the engine's later changes (VAD padding, tail
  guard, one pass per channel): on the same 10 renderings the acceptance callee went from mean
  0.124 to 0.089 (worst 0.133 both), and on the generated set (three female voices) callee WER
  from 0.251 to 0.200; 25 % was 0.210, and 28 % broke the acceptance callee (mean 0.18).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.audio import resample

RATE = 16000
TARGET_RMS = 0.1  # -20 dBFS of active speech
HIGH_PITCH_HZ = 165.0
WARP = 1.22


@dataclass(frozen=True)
class Prepared:
    samples: np.ndarray  # float32 mono at 16 kHz
    heard: np.ndarray  # the same before noise suppression: what the VAD judges
    time_scale: float  # model time / time_scale = recording time
    pitch_hz: float  # median pitch estimate (0 when unvoiced or not measured)
    snr_db: float  # speech above the noise floor (inf for a silent channel)

    @property
    def suppressed(self) -> bool:
        return self.heard is not self.samples


def _frame_rms(x: np.ndarray, n: int) -> np.ndarray:
    f = x.size // n
    if f == 0:
        return np.zeros(0, dtype=np.float32)
    fr = x[: f * n].reshape(f, n)
    return np.sqrt(np.mean(fr * fr, axis=1) + 1e-12)


def normalise_level(x: np.ndarray, target_rms: float = TARGET_RMS) -> np.ndarray:
    """Scale so active speech has ``target_rms``; never amplifies a silent channel."""
    rms = _frame_rms(x, RATE // 50)
    if rms.size == 0:
        return x
    loud = float(np.percentile(rms, 99))
    if loud < 1e-4:
        return x
    active = rms[rms > loud * 10 ** (-35 / 20)]
    level = float(np.sqrt(np.mean(active * active)))
    gain = target_rms / level
    peak = float(np.max(np.abs(x)))
    gain = min(gain, 0.99 / peak) if peak > 0 else gain
    return (x * gain).astype(np.float32)


def median_pitch(x: np.ndarray, rate: int = RATE, max_frames: int = 300) -> float:
    """Median F0 of the voiced frames (autocorrelation; 60-400 Hz), 0.0 if none are voiced."""
    n = 640  # 40 ms
    rms = _frame_rms(x, n)
    if rms.size == 0:
        return 0.0
    loud = np.flatnonzero(rms > 0.3 * np.percentile(rms, 95))
    if loud.size == 0:
        return 0.0
    if loud.size > max_frames:
        loud = loud[np.linspace(0, loud.size - 1, max_frames).astype(int)]
    frames = x[: (x.size // n) * n].reshape(-1, n)[loud].astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(frames, 2 * n, axis=1)
    ac = np.fft.irfft(spec * np.conj(spec), axis=1)[:, :n]
    lo, hi = rate // 400, rate // 60
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(len(lag)), lag] / np.maximum(ac[:, 0], 1e-12)
    voiced = lag[strength > 0.3]
    if voiced.size == 0:
        return 0.0
    return float(rate / np.median(voiced))


NOISE_FRAMES = 0.1  # share of a channel's quietest frames taken as its noise floor
SPEECH_FRAMES = 0.2  # share of its loudest frames taken as its speech level


def snr_db(x: np.ndarray) -> float:
    """How far a channel's speech stands above its noise floor, dB (20-ms frames: the loudest
    fifth against the quietest tenth). On a two-party channel the quiet frames are the other
    party's turns and the pauses, so the floor is the line's own noise; within 2 dB of the
    noise mixed into the generated calls (benchmarks/transcribe.py). A silent channel is inf."""
    e = _frame_rms(x, RATE // 50).astype(np.float64) ** 2
    if e.size < 10 or float(e.max()) < 1e-8:
        return float("inf")
    floor = float(np.mean(e[e <= np.quantile(e, NOISE_FRAMES)]))
    speech = float(np.mean(e[e >= np.quantile(e, 1 - SPEECH_FRAMES)]))
    return 10 * float(np.log10(speech / max(floor, 1e-12)))


def denoise(x: np.ndarray, floor_db: float = -20.0, smoothing: float = 0.98) -> np.ndarray:
    """Stationary-noise suppression: a Wiener gain with the decision-directed a-priori SNR
    (Ephraim and Malah), the noise spectrum measured on the channel's own quietest frames (on a
    two-party channel, the other party's turns and the pauses)."""
    n, hop = 512, 128
    if x.size < 4 * n:
        return x
    win = np.hanning(n + 1)[:-1].astype(np.float32)
    pad = np.concatenate([np.zeros(n, np.float32), x.astype(np.float32), np.zeros(n, np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(pad, n)[::hop] * win
    spec = np.fft.rfft(frames, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float64)
    energy = power.sum(axis=1)
    noise = power[energy <= np.quantile(energy, NOISE_FRAMES)].mean(axis=0) + 1e-12
    g_min = 10 ** (floor_db / 20)
    gain = np.empty_like(power)
    prev = np.zeros(power.shape[1])
    for t in range(power.shape[0]):
        post = power[t] / noise
        prior = smoothing * prev + (1 - smoothing) * np.maximum(post - 1, 0)
        g = np.maximum(prior / (1 + prior), g_min)
        gain[t] = g
        prev = g * g * post
    out_frames = np.fft.irfft(spec * gain, n=n, axis=1) * win
    y = np.zeros(pad.size, np.float64)
    for t in range(out_frames.shape[0]):
        y[t * hop : t * hop + n] += out_frames[t]
    y /= float((win**2).sum() / hop)
    return y[n : n + x.size].astype(np.float32)


def prepare(
    x: np.ndarray,
    rate: int,
    *,
    level: bool = True,
    speaker_norm: bool = True,
    warp: float = WARP,
    suppress_below_db: float | None = None,
) -> Prepared:
    """One channel (float32, full scale 1.0, any rate) → what the model is given.

    A channel whose speech is less than ``suppress_below_db`` above its noise floor has the
    noise suppressed; the VAD still judges the channel as it was (``heard``): Silero drops whole
    utterances of suppressed audio (measured: docs/benchmarks.md)."""
    y = resample(x, rate, RATE)
    if level:
        y = normalise_level(y)
    h = y
    snr = snr_db(y)
    if suppress_below_db is not None and snr < suppress_below_db:
        y = denoise(y)
    pitch = median_pitch(y) if speaker_norm else 0.0
    if speaker_norm and pitch > HIGH_PITCH_HZ and warp != 1.0:
        import soxr

        def slow(z: np.ndarray) -> np.ndarray:
            return np.asarray(soxr.resample(z, RATE, int(RATE * warp), quality="HQ"), np.float32)

        # the unsuppressed audio is slowed too only when it differs (once otherwise)
        heard_slow = slow(h) if h is not y else None
        y = slow(y)
        return Prepared(
            y, y if heard_slow is None else heard_slow, int(RATE * warp) / RATE, pitch, snr
        )
    return Prepared(y, h, 1.0, pitch, snr)
