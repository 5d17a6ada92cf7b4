"""Transcription for one recording: which engine the account configured, and the hints the
decoder is given (the account's own vocabulary, so a rule phrase the bare model mishears is
heard)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from catalog.models import Recording, Transcript
from catalog.repository import Catalog
from connectors.transcription_settings import TranscriptionSettings, settings_from_document
from services.retry import RetryPolicy, call_with_retries

if TYPE_CHECKING:
    from connectors.faster_whisper import FasterWhisperConnector

DOCUMENT = "transcription"
MAX_HINTS = 60


def current_settings(catalog: Catalog) -> TranscriptionSettings:
    return settings_from_document(catalog.get_document(DOCUMENT))


@lru_cache(maxsize=8)
def _engine(settings_json: str) -> FasterWhisperConnector:
    from connectors.faster_whisper import FasterWhisperConnector

    settings = TranscriptionSettings.model_validate_json(settings_json)
    return FasterWhisperConnector(settings.engine_config())


def builtin_engine(settings: TranscriptionSettings) -> FasterWhisperConnector:
    """The built-in engine for these settings (one per distinct settings, per process)."""
    return _engine(json.dumps(settings.model_dump(mode="json"), sort_keys=True))


def rule_phrases(catalog: Catalog) -> list[str]:
    """Phrases of enabled rules that must be *said* (any, all, near); ``none`` phrases are left
    out: hinting them would bias the decoder against the absence the rule looks for."""
    from catalog.trigger_matches import load_rules_document
    from triggers.models import Rule

    out: list[str] = []
    for raw in load_rules_document(catalog).get("rules", []):
        try:
            rule = Rule.model_validate(raw)
        except ValueError:
            continue
        if not rule.enabled:
            continue
        out += rule.any_ + rule.all_
        for clause in rule.near:
            out += clause.phrases + clause.near
    return out


def decoder_hints(catalog: Catalog, recording: Recording) -> list[str]:
    """Account name, the parties' names (signalled or from the contacts directory) and the
    rule phrases, deduplicated, in that order (the engine bounds the total length)."""
    from catalog.sms import contact_names

    hints: list[str] = []
    name = catalog.account().name
    if name and name != "recflow":
        hints.append(name)
    hints += [p.name for p in recording.participants if p.name]
    numbers = [recording.from_number, recording.to_number]
    hints += list(contact_names(catalog, [n for n in numbers if n]).values())
    hints += rule_phrases(catalog)
    seen: set[str] = set()
    out = []
    for h in hints:
        key = " ".join(h.split()).casefold()
        if key and key not in seen:
            seen.add(key)
            out.append(" ".join(h.split()))
    return out[:MAX_HINTS]


def hints_for(catalog: Catalog, recording: Recording, transcriber: object) -> list[str]:
    """Hints for this recording when the settings want them and the engine takes them."""
    if not getattr(transcriber, "takes_hints", False) or not current_settings(catalog).hints:
        return []
    return decoder_hints(catalog, recording)


async def transcribe_and_store(
    catalog: Catalog, recording: Recording, transcriber: Any, policy: RetryPolicy | None = None
) -> Transcript:
    """Transcribe one recording with the account's hints and store the transcript, under the one
    retry policy (``services.retry``: only retriable errors — an engine's 429/5xx, timeouts — are
    tried again; a corrupt file fails at once).

    Not a Prefect task: each task run costs the Prefect server a task run and three state
    events to record, ~12 ms of its CPU per recording on two cores (docs/benchmarks.md), and the
    retries are ours anyway. The flow logs what was transcribed."""
    audio = catalog.store.local_path(recording.file_key)
    hints = hints_for(catalog, recording, transcriber)

    async def once() -> Transcript:
        if hints:
            return await transcriber.transcribe(recording, audio, hints=hints)  # type: ignore[no-any-return]
        return await transcriber.transcribe(recording, audio)  # type: ignore[no-any-return]

    transcript = await call_with_retries(policy or RetryPolicy.from_env(), once)
    catalog.save_transcript(transcript)
    return transcript
