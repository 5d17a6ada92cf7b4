"""What the transcript must get right for people and rules to act on it (bundled tiny.en, real
espeak-ng phone-band speech): spoken order numbers as digits that fire a rule, rule phrases heard
with the account's hints, timestamps in recording time, lossy formats transcribed."""

from __future__ import annotations

import av
import numpy as np
import pytest

from catalog.audio import Audio, read_wav, write_wav
from catalog.models import Recording, Speaker, TranscriptSegment, Word
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from connectors.faster_whisper import (
    FasterWhisperConfig,
    FasterWhisperConnector,
    drop_trailing_hallucination,
    load_model,
)
from connectors.transcription import hotwords_text
from services.transcription import decoder_hints
from tests.support import make_call
from triggers import RuleSet, compile_rules

ORDER = [
    ("caller", "Hi, I want to cancel my subscription. My order number is four five seven two nine.")
]
# The bare model heard "We are moving to 100% higher next month." (kept: the case hints fix)
SUPPLIER = [("caller", "We are moving to another supplier next month.")]


@pytest.fixture(scope="module")
def whisper() -> FasterWhisperConnector:
    return FasterWhisperConnector(FasterWhisperConfig())


def _rules(*rules: dict) -> RuleSet:
    return RuleSet.model_validate({"rules": list(rules)})


def test_spoken_order_number_is_stored_as_digits_and_fires_a_rule(whisper):
    t = whisper.transcribe_sync(Recording(), make_call(ORDER).stereo)
    seg = [s for s in t.segments if "order" in s.text.lower()]
    assert seg, t.text
    assert "45729" in seg[0].text_normalized  # digits for people, search and CRM notes
    assert "45729" not in seg[0].text  # the raw text is kept as the engine wrote it
    compiled = compile_rules(_rules({"name": "order", "any": ["45729"], "speaker": "caller"}))
    matches = compiled.evaluate(t)
    assert [m.rule for m in matches] == ["order"]


def test_rule_phrase_the_bare_model_mishears_is_heard_with_hints(whisper):
    call = make_call(SUPPLIER)
    rules = _rules({"name": "churn", "any": ["another supplier"]})
    bare = whisper.transcribe_sync(Recording(), call.stereo)
    hinted = whisper.transcribe_sync(Recording(), call.stereo, hints=["another supplier"])
    assert "another supplier" not in bare.text.lower(), bare.text
    assert "another supplier" in hinted.text.lower(), hinted.text
    assert not compile_rules(rules).evaluate(bare)
    assert [m.rule for m in compile_rules(rules).evaluate(hinted)] == ["churn"]


def test_hints_off_in_the_engine_config_means_none_are_used(tmp_path):
    call = make_call(SUPPLIER)
    off = FasterWhisperConnector(FasterWhisperConfig(hints=False))
    t = off.transcribe_sync(Recording(), call.stereo, hints=["another supplier"])
    assert "another supplier" not in t.text.lower(), t.text


def test_high_voice_timestamps_are_in_recording_time(whisper):
    # the callee voice (en-us+f3) is slowed 5 % before the model; times must be mapped back
    call = make_call([("callee", "Thank you for calling, how can I help you today?")])
    t = whisper.transcribe_sync(Recording(), call.stereo)
    words = [w for s in t.segments if s.speaker is Speaker.callee for w in s.words]
    assert words
    assert max(w.end for w in words) <= call.seconds + 0.05
    assert all(0 <= w.probability <= 1 for w in words)  # per-word confidence stored


@pytest.mark.parametrize("codec,fmt,suffix", [("libmp3lame", None, ".mp3"), ("aac", "mp4", ".m4a")])
def test_lossy_formats_are_transcribed(whisper, tmp_path, codec, fmt, suffix):
    call = make_call(ORDER)
    pcm = read_wav(call.stereo).samples
    path = tmp_path / f"call{suffix}"
    with av.open(str(path), "w", format=fmt) as c:
        stream = c.add_stream(codec, rate=8000 if codec == "libmp3lame" else 16000, layout="stereo")
        src = pcm if codec == "libmp3lame" else np.repeat(pcm, 2, axis=0)  # AAC: no 8 kHz here
        frame = av.AudioFrame.from_ndarray(src.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = stream.rate
        for packet in stream.encode(frame):
            c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    decoded = read_wav(path)
    stored = tmp_path / "stored.wav"
    write_wav(stored, Audio(decoded.samples, decoded.sample_rate))
    t = whisper.transcribe_sync(Recording(), stored)
    text = t.text_of(Speaker.caller).lower()
    assert "cancel" in text and "subscription" in text, text
    assert not t.text_of(Speaker.callee)


def test_hotwords_are_deduplicated_and_bounded():
    assert hotwords_text(["Acme", "acme", " another  supplier ", ""]) == "Acme, another supplier"
    long = hotwords_text([f"phrase number {i}" for i in range(200)])
    assert 0 < len(long) <= 400


def test_decoder_hints_come_from_the_account(tmp_path):
    from catalog import trigger_matches as store
    from catalog.models import Participant
    from catalog.sms import replace_contacts

    cat = Catalog.open(RecflowSettings(data_dir=tmp_path))
    acct = cat.account()
    acct.name = "Acme Support"
    cat.save_account(acct)
    replace_contacts(cat, {"+441110000333": "Siobhan Kelly", "+441110000444": "Someone Else"})
    rules = [
        {"name": "churn", "any": ["another supplier"], "none": ["thank you"]},
        {"name": "off", "enabled": False, "any": ["never hinted"]},
        {"name": "prox", "near": [{"phrases": ["refund"], "near": ["manager"]}]},
    ]
    store.save_rules_document(cat, "v1", rules)
    rec = Recording(
        from_number="+441110000333",
        to_number="+441632960555",
        participants=[Participant(number="+441632960555", name="Bob Agent")],
    )
    hints = decoder_hints(cat, rec)
    assert hints == [
        "Acme Support",
        "Bob Agent",
        "Siobhan Kelly",
        "another supplier",
        "refund",
        "manager",
    ]


def test_openai_compatible_engine_sends_hints_as_prompt(httpserver):
    import asyncio
    import json

    from werkzeug import Response

    from connectors.openai_transcribe import OpenAITranscribeConfig, OpenAITranscribeConnector

    prompts = []

    def handler(request):
        prompts.append(request.form.get("prompt"))
        body = {
            "text": "four five seven two nine",
            "segments": [
                {"start": 0.0, "end": 2.0, "text": "my order is four five seven two nine"}
            ],
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1/audio/transcriptions", method="POST").respond_with_handler(
        handler
    )
    conn = OpenAITranscribeConnector(OpenAITranscribeConfig(base_url=httpserver.url_for("/v1")))
    call = make_call(ORDER)
    t = asyncio.run(conn.transcribe(Recording(), call.stereo, hints=["Acme", "another supplier"]))
    assert prompts == ["Acme, another supplier."]  # the silent callee channel is not sent
    assert t.segments[0].text_normalized == "my order is 45729"
    asyncio.run(conn.transcribe(Recording(), call.stereo))
    assert prompts[-1] is None


def _seg(start: float, end: float, words: list[tuple[str, float]]) -> TranscriptSegment:
    step = (end - start) / len(words)
    return TranscriptSegment(
        speaker=Speaker.callee,
        channel=1,
        start=start,
        end=end,
        text=" ".join(w for w, _ in words),
        words=[
            Word(word=w, start=start + i * step, end=start + (i + 1) * step, probability=p)
            for i, (w, p) in enumerate(words)
        ],
    )


def test_a_low_confidence_tail_where_speech_ends_is_dropped():
    body = _seg(
        0.0, 26.757, [("you", 0.98), ("will", 0.99), ("get", 0.99), ("confirmation.", 0.96)]
    )
    # as decoded on an acceptance-check rendering: the model ran on past the last word
    tail = _seg(26.757, 27.139, [("Kill", 0.0331), ("you.", 0.58)])
    assert drop_trailing_hallucination([body, tail]) == [body]
    # kept: a confident closing phrase, a new utterance after a pause, a long last segment
    said = _seg(26.757, 27.4, [("Thank", 0.62), ("you.", 0.97)])
    assert drop_trailing_hallucination([body, said]) == [body, said]
    later = _seg(30.0, 30.4, [("Kill", 0.0331), ("you.", 0.58)])
    assert drop_trailing_hallucination([body, later]) == [body, later]
    long = _seg(26.757, 29.0, [("and", 0.1), ("a", 0.9), ("long", 0.9), ("tail", 0.9)])
    assert drop_trailing_hallucination([body, long]) == [body, long]
    assert drop_trailing_hallucination([tail]) == [tail]


def test_decoding_stops_at_the_padding_after_the_last_word():
    from types import SimpleNamespace as NS

    from connectors.faster_whisper import _until_tail

    decoded: list[str] = []

    def segments():  # what faster-whisper yields, one window's worth at a time
        for name, end in (("a", 4.0), ("b", 9.0), ("tail", 9.9)):
            decoded.append(name)
            yield NS(end=end, words=[NS(end=end)])

    out = []
    for seg in _until_tail(segments(), 10.0, 1.2):
        out.append(seg.words[-1].end)
        seg.words[-1].end += 100  # restore_speech_timestamps moves times after the yield
    assert out == [4.0, 9.0]  # 1.0 s left after 9.0: the VAD padding is not decoded again
    assert decoded == ["a", "b"]
    assert [s.end for s in _until_tail(segments(), 10.0, 0)] == [4.0, 9.0, 9.9]


def test_speech_ends_where_it_stops_not_at_the_end_of_the_recording():
    from faster_whisper.vad import VadOptions

    from catalog.audio import resample
    from connectors.faster_whisper import speech_chunks

    audio = read_wav(make_call(SUPPLIER).stereo)
    speech = resample(audio.channel_float(0), audio.sample_rate, 16000)
    x = np.concatenate([speech, np.zeros(8000, np.float32)])  # hung up soon after speaking
    opts = VadOptions(speech_pad_ms=800, min_silence_duration_ms=2000)
    assert speech_chunks(x, opts, trim_end=False)[-1]["end"] == x.size  # Silero's own
    [chunk] = speech_chunks(x, opts)
    last_loud = int(np.flatnonzero(np.abs(speech) > 0.01)[-1])
    # the speech, its 800-ms padding and a frame or two of Silero's lag; not the pause after
    assert last_loud + 800 * 16 <= chunk["end"] <= last_loud + 800 * 16 + 2048 < x.size
    assert speech_chunks(speech, opts) == speech_chunks(speech, opts, trim_end=False)


def test_both_channels_of_a_short_call_are_decoded_in_one_pass(whisper):
    joint = FasterWhisperConnector(FasterWhisperConfig(joint_max_s=30))
    call = make_call(
        [
            ("caller", "Hello, what time does your shop open on Saturday?"),
            ("callee", "We open at nine and close at five."),
        ]
    )
    model = load_model(joint.config)
    passes = []
    encode = model.encode
    model.encode = lambda features: passes.append(1) or encode(features)
    try:
        t = joint.transcribe_sync(Recording(), call.stereo)
        assert len(passes) == 1
        whisper.transcribe_sync(Recording(), call.stereo)  # the default: a pass per channel
        assert len(passes) == 3
    finally:
        del model.encode
    caller, callee = t.text_of(Speaker.caller).lower(), t.text_of(Speaker.callee).lower()
    assert "saturday" in caller and "saturday" not in callee, t.text
    assert "close" in callee and "close" not in caller, t.text
    # recording time: the caller's line comes first, the callee's (slowed 15 %) after it
    caller_end = max(w.end for s in t.segments if s.speaker is Speaker.caller for w in s.words)
    callee_start = min(w.start for s in t.segments if s.speaker is Speaker.callee for w in s.words)
    assert caller_end <= callee_start <= call.seconds
