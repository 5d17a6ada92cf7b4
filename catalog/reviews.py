"""Communication reviews (Focus) and agent evaluations (Masergy): templates and completed
reviews.

Templates are one settings document (``review_templates``), written by the ``reviews:`` config
section; completed reviews are rows (``recording_reviews``), one per review, with the answers,
the 0–100 score when the template is scored, and the agent (the user whose number is a party of
the call) the score belongs to.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Float, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import assume_utc, utcnow
from catalog.tables import Base

if TYPE_CHECKING:
    from catalog.repository import Catalog

TEMPLATES_KEY = "review_templates"


class FieldType(enum.StrEnum):
    short_text = "short_text"
    long_text = "long_text"
    dropdown = "dropdown"
    date = "date"
    toggle = "toggle"
    slider = "slider"


class ReviewField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\- ]+$")
    label: str = Field("", max_length=200, description="Shown to the reviewer; default: name")
    type: FieldType
    required: bool = False
    options: list[str] = Field(default_factory=list, description="dropdown choices")
    option_scores: list[float] = Field(
        default_factory=list, description="dropdown: 0..1 per option (scored templates)"
    )
    min: float = 0
    max: float = 10
    weight: float = Field(0, ge=0, le=1000, description="> 0: this field counts in the score")

    @model_validator(mode="after")
    def _check(self) -> ReviewField:
        if self.type is FieldType.dropdown and not self.options:
            raise ValueError(f"dropdown {self.name!r} needs options")
        if self.option_scores and len(self.option_scores) != len(self.options):
            raise ValueError(f"{self.name!r}: option_scores needs one value per option")
        if any(not 0 <= s <= 1 for s in self.option_scores):
            raise ValueError(f"{self.name!r}: option_scores are between 0 and 1")
        if self.type is FieldType.slider and self.max <= self.min:
            raise ValueError(f"slider {self.name!r}: max must be above min")
        scorable = (FieldType.toggle, FieldType.slider, FieldType.dropdown)
        if self.weight and self.type not in scorable:
            raise ValueError(f"{self.name!r}: only toggle, slider and dropdown fields are scored")
        if self.weight and self.type is FieldType.dropdown and not self.option_scores:
            raise ValueError(f"{self.name!r}: a weighted dropdown needs option_scores")
        return self


class ReviewTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    title: str = Field("", max_length=200)
    fields: list[ReviewField] = Field(min_length=1)

    @property
    def scored(self) -> bool:
        return any(f.weight > 0 for f in self.fields)

    @model_validator(mode="after")
    def _unique(self) -> ReviewTemplate:
        names = [f.name for f in self.fields]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate field names: {', '.join(dup)}")
        return self


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    recording_id: str
    template: str
    author: str
    agent: str = Field("", description="User whose number is on the call (scored reviews)")
    answers: dict[str, Any]
    score: float | None = Field(None, description="0–100 when the template is scored")
    created_at: datetime


class ReviewRow(Base):
    __tablename__ = "recording_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    template: Mapped[str] = mapped_column(String(100))
    author: Mapped[str] = mapped_column(String(320))
    agent: Mapped[str] = mapped_column(String(320), default="")
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_recording_reviews_author", "author", "recording_id"),
        Index("ix_recording_reviews_agent", "agent", "created_at"),
    )


def _review(row: ReviewRow) -> Review:
    return Review(
        id=row.id,
        recording_id=row.recording_id,
        template=row.template,
        author=row.author,
        agent=row.agent,
        answers=dict(row.answers or {}),
        score=row.score,
        created_at=assume_utc(row.created_at),
    )


def templates(catalog: Catalog) -> list[ReviewTemplate]:
    doc = catalog.get_document(TEMPLATES_KEY) or {}
    return [ReviewTemplate.model_validate(t) for t in doc.get("templates", [])]


def save_templates(catalog: Catalog, items: Sequence[ReviewTemplate]) -> None:
    catalog.put_document(TEMPLATES_KEY, {"templates": [t.model_dump(mode="json") for t in items]})


def add_review(
    catalog: Catalog,
    recording_id: str,
    template: str,
    author: str,
    answers: dict[str, Any],
    score: float | None,
    agent: str = "",
    now: datetime | None = None,
) -> Review:
    with catalog.db.session() as s:
        row = ReviewRow(
            recording_id=recording_id,
            template=template,
            author=author,
            agent=agent,
            answers=answers,
            score=score,
            created_at=now or utcnow(),
        )
        s.add(row)
        s.flush()
        return _review(row)


def list_reviews(catalog: Catalog, recording_id: str) -> list[Review]:
    with catalog.db.session() as s:
        rows = s.scalars(
            select(ReviewRow)
            .where(ReviewRow.recording_id == recording_id)
            .order_by(ReviewRow.created_at, ReviewRow.id)
        )
        return [_review(r) for r in rows]


def has_review_by(catalog: Catalog, recording_id: str, author: str) -> bool:
    with catalog.db.session() as s:
        q = select(ReviewRow.id).where(
            ReviewRow.recording_id == recording_id, ReviewRow.author == author
        )
        return s.scalar(q.limit(1)) is not None


def delete_reviews_of(catalog: Catalog, recording_ids: list[str]) -> int:
    with catalog.db.session() as s:
        result = s.execute(delete(ReviewRow).where(ReviewRow.recording_id.in_(recording_ids)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
