"""Communication reviews and agent evaluation: answers checked against the template, a 0–100
score for scored templates, the agent the score belongs to, and trends per agent and group.

Score: each weighted field gives a value in 0..1 — a toggle 1 when on, a slider
``(value - min) / (max - min)``, a dropdown the ``option_scores`` entry of the chosen option —
and the score is ``100 × Σ weight·value / Σ weight`` over the weighted fields. An optional
weighted field left empty counts as 0 (a reviewer cannot raise a score by skipping a question).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from catalog.models import Recording
from catalog.portal_queries import Visibility
from catalog.quality import Period, score_trend
from catalog.repository import Catalog
from catalog.reviews import (
    FieldType,
    Review,
    ReviewField,
    ReviewTemplate,
    add_review,
    templates,
)
from catalog.users import Role, User

MAX_TEXT = {FieldType.short_text: 200, FieldType.long_text: 10_000}


class ReviewError(ValueError):
    pass


def find_template(catalog: Catalog, name: str) -> ReviewTemplate:
    for t in templates(catalog):
        if t.name == name:
            return t
    names = ", ".join(t.name for t in templates(catalog)) or "none configured"
    raise ReviewError(f"no review template {name!r} (templates: {names})")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean(field: ReviewField, value: Any) -> Any:
    """The answer in its stored type, or ReviewError naming the field."""
    t = field.type
    if t in (FieldType.short_text, FieldType.long_text):
        if not isinstance(value, str):
            raise ReviewError(f"{field.name}: text expected")
        if len(value) > MAX_TEXT[t]:
            raise ReviewError(f"{field.name}: at most {MAX_TEXT[t]} characters")
        return value.strip()
    if t is FieldType.dropdown:
        if value not in field.options:
            raise ReviewError(f"{field.name}: choose one of {', '.join(field.options)}")
        return value
    if t is FieldType.date:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ReviewError(f"{field.name}: a date (YYYY-MM-DD) expected") from None
    if t is FieldType.toggle:
        if isinstance(value, bool):
            return value
        if value in ("on", "true", "1", 1):
            return True
        if value in ("off", "false", "0", 0):
            return False
        raise ReviewError(f"{field.name}: true or false expected")
    # slider
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ReviewError(f"{field.name}: a number expected") from None
    if not field.min <= number <= field.max:
        raise ReviewError(f"{field.name}: between {field.min:g} and {field.max:g}")
    return number


def clean_answers(template: ReviewTemplate, raw: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in template.fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ReviewError(f"unknown field(s) for template {template.name}: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for f in template.fields:
        value = raw.get(f.name)
        if f.type is FieldType.toggle and value is None and not f.required:
            value = False  # an unticked checkbox sends nothing
        if _empty(value):
            if f.required:
                raise ReviewError(f"{f.name}: required")
            continue
        out[f.name] = _clean(f, value)
    return out


def score(template: ReviewTemplate, answers: dict[str, Any]) -> float | None:
    total_weight = sum(f.weight for f in template.fields if f.weight > 0)
    if not total_weight:
        return None
    points = 0.0
    for f in template.fields:
        if f.weight <= 0 or f.name not in answers:
            continue
        v = answers[f.name]
        if f.type is FieldType.toggle:
            unit = 1.0 if v else 0.0
        elif f.type is FieldType.slider:
            unit = (float(v) - f.min) / (f.max - f.min)
        else:
            unit = f.option_scores[f.options.index(v)]
        points += f.weight * unit
    return round(100.0 * points / total_weight, 2)


def agent_of(rec: Recording, users: list[User]) -> str:
    """The user the call belongs to: the one whose number is a party (callee first: on an
    inbound call the agent answers; then the caller). Empty when none."""
    for number in (rec.to_number, rec.from_number):
        for u in users:
            if number and number in u.numbers:
                return u.email
    return ""


def submit_review(
    catalog: Catalog,
    rec: Recording,
    template_name: str,
    raw_answers: dict[str, Any],
    author: str,
    users: list[User],
    now: datetime | None = None,
) -> Review:
    if not catalog.account().features.communication_reviews:
        raise ReviewError("communication reviews are switched off for this account")
    template = find_template(catalog, template_name)
    answers = clean_answers(template, raw_answers)
    return add_review(
        catalog,
        rec.id,
        template.name,
        author,
        answers,
        score(template, answers),
        agent=agent_of(rec, users),
        now=now,
    )


@dataclass(frozen=True)
class TrendPoint:
    key: str  # agent e-mail or supervisor (group)
    day: str
    reviews: int
    average_score: float


def trends(
    catalog: Catalog, visibility: Visibility, users: list[User], period: Period, by: str = "agent"
) -> list[TrendPoint]:
    """Average score per day per agent, or per group (a supervisor's group: the agents whose
    numbers are among the supervisor's ``group_numbers``)."""
    if by not in ("agent", "group"):
        raise ReviewError("by must be agent or group")
    if by == "agent":
        return [
            TrendPoint(a or "(no agent)", d, n, round(avg, 2))
            for a, d, n, avg in score_trend(catalog, visibility, period)
        ]
    out: list[TrendPoint] = []
    for sup in sorted(
        (u for u in users if u.role is Role.supervisor and u.group_numbers), key=lambda u: u.email
    ):
        members = [u.email for u in users if set(u.numbers) & set(sup.group_numbers)]
        if not members:
            continue
        per_day: dict[str, tuple[int, float]] = {}
        for _a, d, n, avg in score_trend(catalog, visibility, period, agents=members):
            count, total = per_day.get(d, (0, 0.0))
            per_day[d] = (count + n, total + avg * n)
        out += [
            TrendPoint(sup.email, d, n, round(total / n, 2))
            for d, (n, total) in sorted(per_day.items())
        ]
    return out


def review_required(catalog: Catalog, rec: Recording, person: str) -> str | None:
    """Mandatory reviews: the id of the call ``person`` played last and has not reviewed, when
    that is another call than ``rec`` (a user may replay the call under review)."""
    from catalog.quality import last_audio_access
    from catalog.reviews import has_review_by

    last = last_audio_access(catalog, person)
    if last is None or last[0] == rec.id:
        return None
    if has_review_by(catalog, last[0], person):
        return None
    if catalog.get_recording(last[0]) is None:
        return None  # deleted since (retention): nothing left to review
    return last[0]


def agent_averages(
    catalog: Catalog, visibility: Visibility, users: list[User], period: Period
) -> list[tuple[str, float]]:
    """Average score per agent over the period (for the dashboard's chart)."""
    sums: dict[str, tuple[int, float]] = {}
    for p in trends(catalog, visibility, users, period, "agent"):
        n, total = sums.get(p.key, (0, 0.0))
        sums[p.key] = (n + p.reviews, total + p.average_score * p.reviews)
    return [(k, round(t / n, 1)) for k, (n, t) in sorted(sums.items())]
