"""/api/v1 communication reviews and agent evaluations: templates, reviews of a call, trends."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from catalog.reviews import Review, ReviewTemplate, list_reviews, templates
from portal.deps import ApiCaller, StateDep
from portal.recording_pages import visible_recording
from services.reports import ReportError, parse_period
from services.reviews import ReviewError, submit_review, trends

router = APIRouter(tags=["reviews"])


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=100)
    answers: dict[str, Any] = Field(default_factory=dict)


class ReviewCreated(BaseModel):
    id: int
    score: float | None = Field(None, description="0–100 when the template is scored")


class ReviewPage(BaseModel):
    items: list[Review]


class TemplatePage(BaseModel):
    items: list[ReviewTemplate]


@router.get("/review-templates", response_model=TemplatePage)
def get_templates(caller: ApiCaller, st: StateDep) -> TemplatePage:
    return TemplatePage(items=templates(st.catalog))


@router.get("/recordings/{recording_id}/reviews", response_model=ReviewPage)
def get_reviews(recording_id: str, caller: ApiCaller, st: StateDep) -> ReviewPage:
    rec = visible_recording(st, caller, recording_id)
    return ReviewPage(items=list_reviews(st.catalog, rec.id))


@router.post("/recordings/{recording_id}/reviews", response_model=ReviewCreated, status_code=201)
def post_review(
    request: Request, recording_id: str, body: ReviewIn, caller: ApiCaller, st: StateDep
) -> ReviewCreated:
    rec = visible_recording(st, caller, recording_id)
    try:
        review = submit_review(
            st.catalog, rec, body.template, body.answers, caller.name, st.users.list(), st.clock()
        )
    except ReviewError as e:
        raise HTTPException(422, str(e)) from None
    st.audit.record(
        "recording.review",
        initiator=caller.name,
        client_ip=request.client.host if request.client else "",
        resource=f"recording:{rec.id}",
        detail=f"template={review.template} score={review.score}",
        at=review.created_at,
    )
    return ReviewCreated(id=review.id, score=review.score)


@router.get("/evaluations")
def get_evaluations(
    caller: ApiCaller,
    st: StateDep,
    by: Annotated[str, Query(description="agent | group")] = "agent",
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Average evaluation score per day per agent (or per supervisor's group)."""
    try:
        period = parse_period(since, until)
        points = trends(st.catalog, caller.visibility(), st.users.list(), period, by)
    except (ReportError, ReviewError) as e:
        raise HTTPException(400, str(e)) from None
    return {"points": [p.__dict__ for p in points]}
