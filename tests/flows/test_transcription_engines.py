"""The two transcription engines: bundled faster-whisper on real speech, and an
OpenAI-compatible endpoint served by a local fake (pytest-httpserver)."""

from __future__ import annotations

import asyncio
import json

import pytest

from catalog.models import Recording, Speaker
from connectors.base import AuthError, PermanentError, RetriableError
from connectors.faster_whisper import FasterWhisperConfig, FasterWhisperConnector
from connectors.openai_transcribe import OpenAITranscribeConfig, OpenAITranscribeConnector
from tests.support import CANCEL_CALL, make_call, wer


@pytest.fixture(scope="module")
def whisper() -> FasterWhisperConnector:
    return FasterWhisperConnector(FasterWhisperConfig())


def test_stereo_is_transcribed_per_channel_and_merged(whisper):
    call = make_call(CANCEL_CALL)
    t = asyncio.run(whisper.transcribe(Recording(), call.stereo))
    caller = t.text_of(Speaker.caller)
    callee = " ".join(s.text for s in t.segments if s.channel == 1)
    assert wer(call.ref_caller, caller) <= 0.3
    assert wer(call.ref_callee, callee) <= 0.3
    assert [s.start for s in t.segments] == sorted(s.start for s in t.segments)
    first_words = [w for s in t.segments for w in s.words]
    assert first_words and all(w.end >= w.start for w in first_words)


def test_silent_channel_yields_no_segments(whisper, tmp_path):
    import numpy as np

    from catalog.audio import Audio, read_wav, write_wav

    call = make_call(CANCEL_CALL[:1])
    audio = read_wav(call.stereo)
    mono_caller = Audio(
        np.stack([audio.samples[:, 0], np.zeros_like(audio.samples[:, 0])], axis=1), 8000
    )
    p = tmp_path / "one_sided.wav"
    write_wav(p, mono_caller)
    t = asyncio.run(whisper.transcribe(Recording(), p))
    assert t.segments and {s.channel for s in t.segments} == {0}


def _verbose(text: str, offset: float = 0.0) -> dict:
    words = text.split()
    return {
        "text": text,
        "segments": [{"start": offset, "end": offset + len(words) * 0.3, "text": text}],
        "words": [
            {"word": w, "start": offset + i * 0.3, "end": offset + i * 0.3 + 0.25}
            for i, w in enumerate(words)
        ],
    }


def test_openai_compatible_engine_sends_each_channel(httpserver):
    from werkzeug import Response

    seen = []

    def handler(request):
        assert request.headers["Authorization"] == "Bearer sk-test"
        assert request.form["model"] == "whisper-1"
        assert request.form.getlist("timestamp_granularities[]") == ["segment", "word"]
        wav = request.files["file"].read()
        seen.append(wav)
        text = "hello from the caller" if len(seen) == 1 else "hello from the callee"
        return Response(
            json.dumps(_verbose(text, 0.5 * len(seen))), content_type="application/json"
        )

    httpserver.expect_request("/v1/audio/transcriptions", method="POST").respond_with_handler(
        handler
    )
    conn = OpenAITranscribeConnector(
        OpenAITranscribeConfig(base_url=httpserver.url_for("/"), api_key="sk-test")
    )
    t = asyncio.run(conn.transcribe(Recording(), make_call(CANCEL_CALL[:2]).stereo))
    assert len(seen) == 2 and all(w[:4] == b"RIFF" for w in seen)
    assert [(s.speaker.value, s.text) for s in t.segments] == [
        ("caller", "hello from the caller"),
        ("callee", "hello from the callee"),
    ]
    assert len(t.segments[0].words) == 4
    assert "sk-test" not in repr(conn)


@pytest.mark.parametrize(
    ("status", "error", "retry_after"),
    [
        (401, AuthError, None),
        (403, AuthError, None),
        (429, RetriableError, 7.0),
        (500, RetriableError, None),
        (503, RetriableError, None),
        (400, PermanentError, None),
    ],
)
def test_openai_errors_are_mapped(httpserver, status, error, retry_after):
    headers = {"Retry-After": "7"} if retry_after else {}
    httpserver.expect_request("/v1/audio/transcriptions").respond_with_data(
        "nope", status=status, headers=headers
    )
    conn = OpenAITranscribeConnector(OpenAITranscribeConfig(base_url=httpserver.url_for("/v1")))
    with pytest.raises(error) as exc:
        asyncio.run(conn.transcribe(Recording(), make_call(CANCEL_CALL[:1]).stereo))
    if retry_after:
        assert exc.value.retry_after == retry_after


def test_openai_unreachable_is_retriable():
    from tests.support import free_port

    conn = OpenAITranscribeConnector(
        OpenAITranscribeConfig(base_url=f"http://127.0.0.1:{free_port()}", timeout=2)
    )
    with pytest.raises(RetriableError):
        asyncio.run(conn.transcribe(Recording(), make_call(CANCEL_CALL[:1]).stereo))
