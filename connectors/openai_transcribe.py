"""Transcription through any OpenAI-compatible ``/v1/audio/transcriptions`` endpoint
(OpenAI, a self-hosted faster-whisper-server, vLLM, LocalAI …).

Each channel is uploaded as its own mono WAV so segments keep their speaker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
from pydantic import Field, SecretStr

from catalog.audio import wav_bytes
from catalog.models import Recording, Transcript, TranscriptSegment, Word
from connectors.base import (
    AuthError,
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorError,
    PermanentError,
    RetriableError,
)
from connectors.transcription import hotwords_text, speaker_of, transcribe_channels


class OpenAITranscribeConfig(ConnectorConfig):
    base_url: str = Field("https://api.openai.com", description="Server root, without /v1")
    api_key: SecretStr | None = Field(None, description="Bearer token, if the server needs one")
    model: str = Field("whisper-1", description="Model name the server knows")
    language: str | None = Field("en", description="Spoken language; None to detect")
    timeout: float = Field(120.0, gt=0, description="Seconds per channel upload")


def map_http_error(resp: httpx.Response) -> ConnectorError:
    body = resp.text[:300]
    if resp.status_code in (401, 403):
        return AuthError(f"HTTP {resp.status_code}: {body}")
    if resp.status_code == 429 or resp.status_code >= 500:
        retry_after = resp.headers.get("Retry-After")
        try:
            hint = float(retry_after) if retry_after else None
        except ValueError:
            hint = None
        return RetriableError(f"HTTP {resp.status_code}: {body}", retry_after=hint)
    return PermanentError(f"HTTP {resp.status_code}: {body}")


def segments_from_response(data: dict[str, Any], channel: int) -> list[TranscriptSegment]:
    """verbose_json → segments; words (when returned top-level) are assigned by time."""
    words = [
        Word(word=str(w.get("word", "")).strip(), start=float(w["start"]), end=float(w["end"]))
        for w in data.get("words") or []
    ]
    raw_segments = data.get("segments") or []
    if not raw_segments and data.get("text"):
        end = words[-1].end if words else float(data.get("duration") or 0.0)
        raw_segments = [{"start": 0.0, "end": end, "text": data["text"]}]
    out = []
    for seg in raw_segments:
        start, end = float(seg.get("start", 0.0)), float(seg.get("end", 0.0))
        text = str(seg.get("text", "")).strip()
        if not text:
            continue
        mine = [w for w in words if start <= (w.start + w.end) / 2 <= end]
        out.append(
            TranscriptSegment(
                speaker=speaker_of(channel),
                channel=channel,
                start=start,
                end=end,
                text=text,
                words=mine,
            )
        )
    return out


class OpenAITranscribeConnector(Connector):
    kind = "openai_transcribe"
    display_name = "OpenAI-compatible transcription API"
    config_model = OpenAITranscribeConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"transcribe"})
    takes_hints: ClassVar[bool] = True  # sent as the API's `prompt`
    config: OpenAITranscribeConfig

    @property
    def url(self) -> str:
        root = self.config.base_url.rstrip("/")
        return root if root.endswith("/v1") else root + "/v1"

    def _headers(self) -> dict[str, str]:
        if self.config.api_key is None:
            return {}
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    def _channel(
        self, samples: np.ndarray, channel: int, hints: Sequence[str] = ()
    ) -> list[TranscriptSegment]:
        pcm = np.clip(samples * 32768.0, -32768, 32767).astype(np.int16)
        form: dict[str, str | list[str]] = {
            "model": self.config.model,
            "response_format": "verbose_json",
            "timestamp_granularities[]": ["segment", "word"],
        }
        if self.config.language:
            form["language"] = self.config.language
        if hints:
            # the API's `prompt` guides spelling and vocabulary (whisper-1 reads its last 224
            # tokens); the same bounded list the built-in engine gets as hotwords
            form["prompt"] = hotwords_text(hints) + "."
        try:
            resp = httpx.post(
                f"{self.url}/audio/transcriptions",
                data=form,
                files={"file": (f"channel{channel}.wav", wav_bytes(pcm, 16000), "audio/wav")},
                headers=self._headers(),
                timeout=self.config.timeout,
            )
        except httpx.TimeoutException as e:
            raise RetriableError(f"timeout: {e}") from e
        except httpx.TransportError as e:
            raise RetriableError(f"cannot connect: {e}") from e
        if resp.status_code != 200:
            raise map_http_error(resp)
        try:
            return segments_from_response(resp.json(), channel)
        except (ValueError, KeyError, TypeError) as e:
            raise PermanentError(f"unexpected response: {e}") from e

    async def transcribe(
        self, recording: Recording, audio: Path, hints: Sequence[str] = ()
    ) -> Transcript:
        return await asyncio.to_thread(
            transcribe_channels,
            recording,
            audio,
            lambda channels: [s for x, ch in channels for s in self._channel(x, ch, hints)],
            f"openai:{self.config.model}",
        )

    async def check(self) -> CheckResult:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                resp = await client.get(f"{self.url}/models", headers=self._headers())
        except httpx.HTTPError as e:
            return CheckResult(ok=False, code="cannot_connect", message=str(e))
        if resp.status_code == 200:
            return CheckResult(ok=True, message="reachable")
        err = map_http_error(resp)
        return CheckResult(ok=False, code=err.code, message=str(err))
