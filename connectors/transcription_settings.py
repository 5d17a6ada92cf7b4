"""The account's transcription settings (the `transcription:` section of the config file).

Either a named connector with the ``transcribe`` capability does the work (``connector:``), or
the built-in faster-whisper engine does, with the settings below. Stored in the catalog as the
``transcription`` document; the worker builds its engine from it (see ``engine_config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.faster_whisper import (
    DEFAULT_PROMPT,
    LEAD_IN_S,
    NOISY_BELOW_DB,
    SUPPRESS_BELOW_DB,
    VAD_MIN_SILENCE_MS,
    VAD_NOISY_THRESHOLD,
    VAD_SPEECH_PAD_MS,
    VAD_THRESHOLD,
    FasterWhisperConfig,
)

BUNDLED = "bundled:tiny.en"
# Fields that describe the built-in engine; with ``connector:`` set they would be stored and
# ignored, so the section refuses them (the named connector carries its own config).
ENGINE_FIELDS = (
    "model",
    "language",
    "beam_size",
    "device",
    "compute_type",
    "cpu_threads",
    "initial_prompt",
    "vad_filter",
    "vad_threshold",
    "vad_speech_pad_ms",
    "vad_min_silence_ms",
    "noisy_below_db",
    "vad_noisy_threshold",
    "suppress_below_db",
    "lead_in_s",
)


class TranscriptionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connector: str | None = Field(
        None, min_length=1, description="A configured connector with the transcribe capability"
    )
    model: str = Field(
        BUNDLED,
        min_length=1,
        description="bundled:tiny.en, a CTranslate2 model directory, or a model name the host has",
    )
    language: str | None = Field(
        "en", description="Spoken language (ISO 639-1); null to detect (multilingual models)"
    )
    beam_size: int = Field(5, ge=1, le=10, description="5 = accurate; 1 = greedy, faster")
    hints: bool = Field(
        True, description="Rule phrases, contact names and the account name as decoder hints"
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: Literal[
        "default",
        "auto",
        "int8",
        "int8_float16",
        "int8_float32",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    ] = "int8"
    cpu_threads: int = Field(0, ge=0, le=256, description="0 = all cores")
    initial_prompt: str = Field(DEFAULT_PROMPT, max_length=600)
    vad_filter: bool = True
    vad_threshold: float = Field(VAD_THRESHOLD, gt=0, lt=1, description="Silero speech probability")
    vad_speech_pad_ms: int = Field(VAD_SPEECH_PAD_MS, ge=0, le=2000)
    vad_min_silence_ms: int = Field(VAD_MIN_SILENCE_MS, ge=0, le=10000)
    noisy_below_db: float = Field(
        NOISY_BELOW_DB, ge=0, le=120, description="SNR (dB) below which a channel is noisy"
    )
    vad_noisy_threshold: float = Field(
        VAD_NOISY_THRESHOLD, gt=0, lt=1, description="Silero threshold on a noisy channel"
    )
    suppress_below_db: float = Field(
        SUPPRESS_BELOW_DB, ge=0, le=120, description="SNR (dB) below which noise is suppressed"
    )
    lead_in_s: float = Field(
        LEAD_IN_S, ge=0, le=2, description="Silence before speech that starts with the recording"
    )

    @model_validator(mode="after")
    def _consistent(self) -> TranscriptionSettings:
        if self.connector is not None:
            given = [f for f in ENGINE_FIELDS if f in self.model_fields_set]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: set on the connector {self.connector!r} itself;"
                    " here only `connector` and `hints` apply"
                )
        english_only = self.model.endswith(".en") or self.model == BUNDLED
        if english_only and self.language not in ("en", None):
            raise ValueError(
                f"model {self.model!r} is English-only; for language {self.language!r}"
                " give a multilingual model (e.g. small, medium, large-v3)"
            )
        if self.language is not None and not (
            2 <= len(self.language) <= 3 and self.language.isalpha() and self.language.islower()
        ):
            raise ValueError(f"language {self.language!r}: give an ISO 639-1 code such as 'en'")
        if self.model.startswith(("/", "./", "~")) and not Path(self.model).expanduser().is_dir():
            raise ValueError(f"model {self.model!r}: no such model directory")
        if self.model.startswith("bundled:") and self.model != BUNDLED:
            raise ValueError(f"model {self.model!r}: the only bundled model is {BUNDLED}")
        return self

    def engine_config(self) -> FasterWhisperConfig:
        """The built-in engine's configuration for these settings."""
        return FasterWhisperConfig(
            model=str(Path(self.model).expanduser()) if self.model.startswith("~") else self.model,
            language=self.language,
            beam_size=self.beam_size,
            hints=self.hints,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
            initial_prompt=self.initial_prompt,
            vad_filter=self.vad_filter,
            vad_threshold=self.vad_threshold,
            vad_speech_pad_ms=self.vad_speech_pad_ms,
            vad_min_silence_ms=self.vad_min_silence_ms,
            noisy_below_db=self.noisy_below_db,
            vad_noisy_threshold=self.vad_noisy_threshold,
            suppress_below_db=self.suppress_below_db,
            lead_in_s=self.lead_in_s,
        )

    def to_file(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_defaults=True)


def settings_from_document(doc: dict[str, object] | None) -> TranscriptionSettings:
    """The stored document (validated when it was applied) → settings; none = the defaults."""
    return TranscriptionSettings.model_validate(doc or {})
