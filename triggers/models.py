"""Keyword rules and matches: plain data, written by people in the config file (and later the
portal), so every field says what it means and unknown keys are errors."""

from __future__ import annotations

import enum
import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from catalog.models import Speaker
from triggers.normalize import normalize_text

DEFAULT_TEMPLATE = "keyword_alert"


class SpeakerScope(enum.StrEnum):
    """Whose words a rule looks at. Channel 0 of a recording is the caller, channel 1 the callee."""

    caller = "caller"
    callee = "callee"
    either = "either"

    def admits(self, speaker: Speaker) -> bool:
        return self is SpeakerScope.either or self.value == speaker.value


class Window(BaseModel):
    """Where in the call a phrase must *start* to count.

    Exactly one form: ``first_seconds`` (``[0, N)``), ``last_seconds`` (``[duration - N, end]``)
    or an absolute range ``start_seconds``/``end_seconds`` (``[start, end)``; either side may be
    left open). Half-open intervals make adjacent windows partition a call with no overlap.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_seconds: float | None = Field(None, gt=0, description="Only the first N seconds")
    last_seconds: float | None = Field(None, gt=0, description="Only the last N seconds")
    start_seconds: float | None = Field(None, ge=0, description="Absolute range start (inclusive)")
    end_seconds: float | None = Field(None, gt=0, description="Absolute range end (exclusive)")

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        forms = [
            self.first_seconds is not None,
            self.last_seconds is not None,
            self.start_seconds is not None or self.end_seconds is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "give exactly one of first_seconds, last_seconds or start_seconds/end_seconds"
            )
        if (
            self.start_seconds is not None
            and self.end_seconds is not None
            and self.end_seconds <= self.start_seconds
        ):
            raise ValueError("end_seconds must be after start_seconds")
        return self

    def bounds(self, duration: float) -> tuple[float, float]:
        """``[lo, hi)`` in seconds for a call of ``duration`` seconds."""
        if self.first_seconds is not None:
            return 0.0, self.first_seconds
        if self.last_seconds is not None:
            return max(0.0, duration - self.last_seconds), float("inf")
        lo = self.start_seconds if self.start_seconds is not None else 0.0
        hi = self.end_seconds if self.end_seconds is not None else float("inf")
        return lo, hi


class Near(BaseModel):
    """Proximity: a phrase of ``phrases`` within ``within_words`` words of one of ``near`` in the
    same speaker turn (either order)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phrases: list[str] = Field(description="One side: any of these phrases")
    near: list[str] = Field(description="Other side: any of these phrases")
    within_words: int = Field(
        5, ge=0, le=100, description="Most words allowed between the two phrases"
    )


class Action(BaseModel):
    """Where a match goes: a configured connector and the template of the message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connector: str = Field(min_length=1, description="Name of a configured connector")
    template: str = Field(
        DEFAULT_TEMPLATE, min_length=1, description="Message template (templates/<name>.*)"
    )


class Rule(BaseModel):
    """A keyword rule.

    It fires when every clause given holds over the words in scope (speaker and window): at
    least one ``any`` phrase, every ``all`` phrase, no ``none`` phrase, every ``near`` pair.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[\w][\w .:-]*$", description="Unique rule name"
    )
    description: str = Field("", description="What the rule is for (shown in alerts)")
    enabled: bool = Field(True, description="Disabled rules are kept but never evaluated")
    any_: list[str] = Field(
        default_factory=list, alias="any", description="Fires if any of these is said"
    )
    all_: list[str] = Field(
        default_factory=list, alias="all", description="Needs every one of these said"
    )
    none: list[str] = Field(default_factory=list, description="Needs none of these said")
    near: list[Near] = Field(default_factory=list, description="Proximity clauses")
    speaker: SpeakerScope = Field(SpeakerScope.either, description="caller | callee | either")
    window: Window | None = Field(None, description="Part of the call to look at")
    min_confidence: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Ignore phrases heard with less confidence (least word probability)",
    )
    actions: list[Action] = Field(default_factory=list, description="Where matches are sent")

    @field_validator("any_", "all_", "none")
    @classmethod
    def _phrases(cls, v: list[str]) -> list[str]:
        for p in v:
            _check_phrase(p)
        return v

    @field_validator("near")
    @classmethod
    def _near(cls, v: list[Near]) -> list[Near]:
        for clause in v:
            if not clause.phrases or not clause.near:
                raise ValueError("near needs phrases on both sides")
            for p in (*clause.phrases, *clause.near):
                _check_phrase(p)
        return v

    @model_validator(mode="after")
    def _something(self) -> Rule:
        if not (self.any_ or self.all_ or self.none or self.near):
            raise ValueError("empty phrase lists: give at least one of any, all, none or near")
        return self

    @property
    def positive(self) -> bool:
        """Whether something must be *said* for the rule to fire (not absence only)."""
        return bool(self.any_ or self.all_ or self.near)

    def to_file(self) -> dict[str, object]:
        """The rule as the config file writes it (aliases, defaults left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _check_phrase(p: str) -> None:
    if not normalize_text(p):
        raise ValueError(f"phrase {p!r} has no words after normalisation")


class RuleSet(BaseModel):
    """All rules of an account, with a version that changes whenever any rule changes (compiled
    matchers are cached by it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        seen: set[str] = set()
        for r in self.rules:
            if r.name in seen:
                raise ValueError(f"rule {r.name!r} is defined twice")
            seen.add(r.name)
        return self

    @property
    def version(self) -> str:
        doc = json.dumps([r.to_file() for r in self.rules], sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]


MatchKind = Literal["phrase", "near", "absent"]


class Match(BaseModel):
    """One reason a rule fired: a phrase said (``phrase``), a proximity pair (``near``) or a
    phrase that was required to be absent and was (``absent``, spanning the window looked at)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = Field(description="Rule name")
    phrase: str = Field(description="The rule's phrase as written (for near: 'a ~ b')")
    kind: MatchKind = Field("phrase", description="phrase | near | absent")
    speaker: Speaker | None = Field(description="Who said it; None for absence over both sides")
    start: float = Field(description="Seconds from the start of the call")
    end: float = Field(description="Seconds from the start of the call")
    snippet: str = Field("", description="The words around the match, as transcribed")
    confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least recogniser probability of the matched words; None for absence",
    )
