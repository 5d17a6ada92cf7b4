"""What the decoder is given. A channel whose speech starts with the recording gets `lead_in_s`
of silence before it (the decoder sees the silence every later utterance has from the VAD's
padding); no timestamp moves. The encoder window ends `encoder_pad_s` after the audio.
The decoder is replaced by a recorder of what it was given, so this is exact and fast; what the
lead-in does to accuracy is measured in benchmarks/acceptance_wer.py (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from faster_whisper.transcribe import Segment, Word

from connectors.faster_whisper import FasterWhisperConfig, FasterWhisperConnector, _Channel

RATE = 16000


def _segment(start: float, end: float) -> Segment:
    words = [Word(start=start, end=(start + end) / 2, word=" Thank", probability=0.9)]
    words.append(Word(start=(start + end) / 2, end=end, word=" you.", probability=0.9))
    return Segment(
        id=1, seek=0, start=start, end=end, text=" Thank you.", tokens=[], avg_logprob=-0.2,
        compression_ratio=1.0, no_speech_prob=0.0, words=words, temperature=0.0,
    )  # fmt: skip


class Recorder(FasterWhisperConnector):
    """The engine with its decoder replaced: keeps the audio it is given and answers with one
    segment whose words start 0.2 s after the speech does, in the decoder's own time."""

    given: list[np.ndarray]

    def _decode(self, audio: np.ndarray, hotwords: str) -> Any:
        self.given.append(audio)
        silence = int(np.argmax(np.abs(audio) > 0)) / RATE
        return iter([_segment(silence + 0.2, silence + 1.0)])


def _channel(speech_from_s: float) -> _Channel:
    samples = np.zeros(RATE * 4, np.float32)
    start = round(speech_from_s * RATE)
    samples[start : start + RATE] = 0.1
    chunk = {"start": start, "end": start + RATE}
    return _Channel(0, 1.0, samples, samples[start : start + RATE], [chunk])


def _run(speech_from_s: float, lead_in_s: float) -> tuple[np.ndarray, Any]:
    engine = Recorder(FasterWhisperConfig(lead_in_s=lead_in_s))
    engine.given = []
    (seg,) = engine._one_channel(_channel(speech_from_s), "")
    (audio,) = engine.given
    return audio, seg


@pytest.mark.parametrize("lead_in_s", [0.5, 1.0])
def test_speech_at_the_very_start_gets_a_lead_in_and_keeps_its_times(lead_in_s):
    audio, seg = _run(0.0, lead_in_s)
    lead = round(lead_in_s * RATE)
    assert audio.size == RATE + lead
    assert not np.any(audio[:lead]) and np.all(audio[lead:] == np.float32(0.1))
    # the decoder heard the first word 0.2 s after the speech began: so does the transcript
    assert (seg.start, seg.end) == (0.2, 1.0)
    assert [(w.start, w.end) for w in seg.words] == [(0.2, 0.6), (0.6, 1.0)]


def test_speech_after_a_pause_is_decoded_as_it_is():
    audio, seg = _run(1.5, 0.5)
    assert audio.size == RATE and np.all(audio == np.float32(0.1))
    assert (seg.start, seg.end) == (1.7, 2.5)  # chunk offset restored, nothing taken off


def test_lead_in_zero_is_off():
    audio, seg = _run(0.0, 0.0)
    assert audio.size == RATE
    assert (seg.start, seg.end) == (0.2, 1.0)


@pytest.mark.parametrize(
    ("pad_frames", "content", "window"),
    [(1000, 500, 1600), (1000, 2500, 3000), (None, 500, 3000), (200, 2950, 3000)],
)
def test_encoder_window_ends_pad_after_the_audio(monkeypatch, pad_frames, content, window):
    """encoder_pad_s: the encoder sees the audio's frames and the padding asked for, rounded up
    to ENCODER_STEP_S (2 s); never more than faster-whisper's 30 s; all of it when off."""
    import faster_whisper

    from connectors.faster_whisper import _model_class

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(faster_whisper.WhisperModel, "encode", lambda self, f: seen.append(f.shape))
    model = object.__new__(_model_class())
    model.encoder_pad_frames = pad_frames
    features = np.zeros((80, 3000), np.float32)
    features[:, :content] = -0.5  # log-mel of real audio is never exactly zero
    model.encode(features)
    assert seen == [(80, window)]


def test_without_the_fallback_a_recording_transcribes_the_same_every_time():
    """A caller saying the same sentences four times compresses like a decoding loop, so
    faster-whisper's fallback re-decoded those windows by random sampling: repeated runs gave
    10 to 83 caller words. With temperature_fallback off (the default) the model is never asked
    to sample, and two runs give the same transcript."""
    from catalog.models import Recording
    from connectors.faster_whisper import load_model
    from tests.support import CANCEL_CALL, make_call

    call = make_call(CANCEL_CALL * 4)
    engine = FasterWhisperConnector(FasterWhisperConfig())
    model = load_model(engine.config)
    inner, temperatures = model.model, []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            if name != "generate":
                return getattr(inner, name)

            def generate(*args: Any, **kwargs: Any) -> Any:
                temperatures.append(kwargs.get("sampling_temperature") or 0.0)
                return inner.generate(*args, **kwargs)

            return generate

    model.model = Counting()
    try:
        runs = [engine.transcribe_sync(Recording(), call.stereo) for _ in range(2)]
    finally:
        model.model = inner
    assert set(temperatures) == {0.0}
    texts = [[(s.channel, s.text) for s in t.segments] for t in runs]
    assert texts[0] == texts[1]
    caller = " ".join(text for ch, text in texts[0] if ch == 0)
    assert len(caller.split()) >= 60, caller  # all four times, not a sampled fragment
