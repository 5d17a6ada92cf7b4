"""Domain models: the one home for what a recording, a transcript, an SMS and a delivery are.

Pure pydantic, no I/O. Connectors, flows, triggers and the portal all speak these types; the
SQLAlchemy rows in ``catalog.tables`` are only their storage shape.
"""

from __future__ import annotations

import enum
import ipaddress
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WrapValidator, field_validator


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def assume_utc(dt: datetime) -> datetime: ...
@overload
def assume_utc(dt: None) -> None: ...
def assume_utc(dt: datetime | None) -> datetime | None:
    """``dt`` with UTC attached when it is naive. Everything recflow stores is UTC, but SQLite
    hands datetimes back without a zone; an aware ``dt`` (or None) is returned unchanged."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class Direction(enum.StrEnum):
    inbound = "inbound"
    outbound = "outbound"
    internal = "internal"
    unknown = "unknown"


class Speaker(enum.StrEnum):
    """Who a channel belongs to. Channel 0 is always the caller, channel 1 the callee."""

    caller = "caller"
    callee = "callee"

    @classmethod
    def of_channel(cls, channel: int) -> Speaker:
        return cls.caller if channel == 0 else cls.callee

    @property
    def channel(self) -> int:
        return 0 if self is Speaker.caller else 1


class RecordingStatus(enum.StrEnum):
    """Life of a recording in the catalog; see docs/operations.md for the state diagram."""

    captured = "captured"  # durable on disk and in the catalog, waiting for a worker
    dispatched = "dispatched"  # v1 only (a run created before any claim); read as captured
    processing = "processing"  # a worker claimed it (catalog.work_items) and runs its flow
    processed = "processed"  # the one successful run finished
    failed = "failed"  # the run failed with a permanent error; needs a human or a retry
    not_recorded = "not_recorded"  # the recording policy said no: metadata only, no audio, no run


class Participant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field("", description="E.164 or extension as signalled")
    name: str = Field("", description="Display name, when the signalling carried one")
    role: Speaker | None = Field(None, description="Channel this participant was recorded on")
    participant_id: str = Field("", description="SIPREC participant id, when captured by SIPREC")


class PauseSpan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: float = Field(description="Seconds from the start of the recording")
    end: float = Field(description="Seconds from the start of the recording")
    reason: str = Field("", description="dtmf, reinvite or api")


class Recording(BaseModel):
    """A captured call. The audio lives in the recording store under ``file_key``."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    id: str = Field(default_factory=new_id)
    call_id: str = ""
    from_number: str = ""
    from_name: str = ""
    to_number: str = ""
    to_name: str = ""
    direction: Direction = Direction.unknown
    started_at: datetime = Field(default_factory=utcnow, description="Call setup time (UTC)")
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float = 0.0
    channels: int = 2
    sample_rate: int = 8000
    codec: str = ""
    file_key: str = ""
    file_size: int = 0
    sha256: str = ""
    private: bool = False
    participants: list[Participant] = Field(default_factory=list)
    pauses: list[PauseSpan] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Capture statistics etc.")
    status: RecordingStatus = RecordingStatus.captured
    attempt: int = Field(0, description="Processing attempt; bumps when a crashed run is retried")
    flow_run_id: str | None = None
    error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None

    @property
    def title(self) -> str:
        """Human name of the call, used as the flow run name."""
        when = self.started_at.strftime("%Y-%m-%d %H:%M:%S")
        return f"{self.from_number or '?'} → {self.to_number or '?'} {when} [{self.id[:8]}]"


class Word(BaseModel):
    model_config = ConfigDict(extra="forbid")

    word: str
    start: float
    end: float
    probability: float = 1.0


# Below this mean word probability a segment is shown faded (portal) for a person to check by
# ear. The bundled tiny.en model gives clean phone speech 0.7-0.95 per segment; a hallucinated
# or misheard stretch falls under 0.5.
LOW_CONFIDENCE = 0.5


class TranscriptSegment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: Speaker
    channel: int
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    text_normalized: str = Field(
        "", description="text with spoken numbers as digits; empty when it equals text"
    )

    @property
    def display_text(self) -> str:
        return self.text_normalized or self.text

    @property
    def confidence(self) -> float | None:
        """Mean probability of the segment's words, as the engine gave them; None when the
        engine gave no words (nothing to judge by)."""
        if not self.words:
            return None
        return sum(w.probability for w in self.words) / len(self.words)

    def is_low_confidence(self) -> bool:
        """Shown faded in the portal: the engine was unsure of most of these words."""
        c = self.confidence
        return c is not None and c < LOW_CONFIDENCE


class Transcript(BaseModel):
    """Per-speaker segments merged on one timeline (sorted by start time)."""

    model_config = ConfigDict(extra="forbid")

    recording_id: str
    engine: str = ""
    language: str = "en"
    segments: list[TranscriptSegment] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def text_of(self, speaker: Speaker) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.speaker is speaker)


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"


class Delivery(BaseModel):
    """One attempt of one connector call about one subject (a recording or an SMS)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    id: str = Field(default_factory=new_id)
    subject_kind: str = Field("recording", description="recording or sms")
    subject_id: str
    connector: str = Field(description="Configured connector name")
    action: str = Field("", description="every_call, rule:<name>, sms_to_email, archive:<name>")
    idempotency_key: str = Field(description="Same key = same external effect; retries reuse it")
    attempt: int = 1
    status: DeliveryStatus = DeliveryStatus.pending
    external_id: str = ""
    error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReviewMode(enum.StrEnum):
    """Communication reviews: ``off``; ``enabled`` (anyone may review a call); ``mandatory`` (a
    user who played a call completes a review of it before playing another). Falsy when off,
    so ``if features.communication_reviews`` reads as before."""

    off = "off"
    enabled = "enabled"
    mandatory = "mandatory"

    def __bool__(self) -> bool:
        return self is not ReviewMode.off

    @classmethod
    def parse(cls, value: Any) -> ReviewMode:
        """Older documents and forms stored a bool ("on" from a checkbox)."""
        if isinstance(value, ReviewMode):
            return value
        if value is True or value in ("on", "true", "True", "yes"):
            return cls.enabled
        if value is False or value is None or value in ("", "false", "False", "no"):
            return cls.off
        return cls(value)


class AccountFeatures(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transcription: bool = Field(True, description="Transcribe every recording (AI transcription)")
    forced_comments: bool = Field(False, description="Users must comment before leaving a call")
    communication_reviews: ReviewMode = Field(
        ReviewMode.off, description="off | enabled | mandatory (reviews before the next play)"
    )
    announcements: str = Field("none", description="Announcement played to parties: none|standard")
    dynamic_private_calls: bool = Field(True, description="*1 during a call marks it private")

    @field_validator("communication_reviews", mode="before")
    @classmethod
    def _review_mode(cls, value: Any) -> ReviewMode:
        return ReviewMode.parse(value)


def normalize_networks(entries: list[str]) -> list[str]:
    """Addresses and CIDRs as ``ipaddress`` writes them (``192.0.2.1`` -> ``192.0.2.1/32``,
    host bits cleared); raises ValueError naming every entry that is neither."""
    out: list[str] = []
    bad: list[str] = []
    for raw in entries:
        entry = str(raw).strip()
        if not entry:
            continue
        try:
            out.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            bad.append(entry)
    if bad:
        raise ValueError("not an IP address or CIDR: " + ", ".join(repr(b[:60]) for b in bad))
    return out


def _networks(value: Any, handler: Any, info: ValidationInfo) -> list[str]:
    entries: list[str] = handler(value)
    if info.context and info.context.get("stored"):
        return entries  # what is already stored loads as it is (the gate skips bad entries)
    return normalize_networks(entries)


NetworkList = Annotated[list[str], WrapValidator(_networks)]
"""A list of IP addresses/CIDRs, validated and normalised wherever it enters: the config file,
the portal form and the API all build :class:`AccountSettings`."""


class AccountSettings(BaseModel):
    """Account-wide settings (the Focus account screen). One row per account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("recflow", description="Account name; used in archive file names")
    account_type: str = Field("standard", description="Account type")
    account_guid: str = Field(default_factory=new_id, description="Stable account GUID")
    telephony_guid: str = Field(default_factory=new_id, description="Telephony GUID (read-only)")
    features: AccountFeatures = Field(default_factory=AccountFeatures)
    legal_hold: bool = Field(False, description="Account-wide legal hold: nothing is deleted")
    ip_allow_list: NetworkList = Field(
        default_factory=list, description="CIDRs allowed to the portal"
    )
