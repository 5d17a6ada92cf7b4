"""/api/v1 categories and custom fields: the defined lists, and their values on calls (one call,
or in bulk from a result list). Every change is audited with a field-level diff."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from catalog.audit import FieldChange
from catalog.workspace import (
    CustomField,
    categories_of,
    custom_values_of,
    list_categories,
    list_custom_fields,
)
from portal.deps import ApiCaller, StateDep, client_ip
from portal.recording_pages import visible_recording
from services.search import SearchError
from services.workspace import assign_categories, update_custom_values

router = APIRouter(tags=["categories"])


class CategoriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(max_length=50)


class CategoriesOut(BaseModel):
    recording_id: str
    categories: list[str]


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=1000)
    categories: list[str] = Field(min_length=1, max_length=50)
    mode: Literal["add", "remove", "replace"] = "add"


class BulkOut(BaseModel):
    changed: int


class FieldsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, str | None] = Field(max_length=50)


def _audit_categories(
    st: Any, request: Request, who: str, changes: dict[str, tuple[list[str], list[str]]]
) -> None:
    for rid, (before, after) in changes.items():
        st.audit.record(
            "recording.categories",
            initiator=who,
            client_ip=client_ip(request),
            resource=f"recording:{rid}",
            changes=[FieldChange(field="categories", old=before, new=after)],
        )


@router.get("/categories", response_model=list[str])
def get_categories(caller: ApiCaller, st: StateDep) -> list[str]:
    """The defined categories (config file `categories:` or the portal's admin page)."""
    return list_categories(st.catalog)


@router.put("/recordings/{recording_id}/categories", response_model=CategoriesOut)
def put_categories(
    request: Request, recording_id: str, body: CategoriesIn, caller: ApiCaller, st: StateDep
) -> CategoriesOut:
    """Exactly these categories on this call."""
    rec = visible_recording(st, caller, recording_id)
    try:
        changes = assign_categories(st.catalog, [rec.id], body.categories, by=caller.name)
    except SearchError as e:
        raise HTTPException(400, str(e)) from None
    _audit_categories(st, request, caller.name, changes)
    return CategoriesOut(
        recording_id=rec.id, categories=categories_of(st.catalog, [rec.id])[rec.id]
    )


@router.post("/recordings/categories", response_model=BulkOut)
def bulk_categories(request: Request, body: BulkIn, caller: ApiCaller, st: StateDep) -> BulkOut:
    """Add, remove or replace categories on many calls at once (from a result list)."""
    ids = [visible_recording(st, caller, i).id for i in body.ids]
    try:
        changes = assign_categories(
            st.catalog, ids, body.categories, by=caller.name, mode=body.mode
        )
    except SearchError as e:
        raise HTTPException(400, str(e)) from None
    _audit_categories(st, request, caller.name, changes)
    return BulkOut(changed=len(changes))


@router.get("/custom-fields", response_model=list[CustomField], tags=["custom fields"])
def get_custom_fields(caller: ApiCaller, st: StateDep) -> list[CustomField]:
    return list_custom_fields(st.catalog)


@router.put(
    "/recordings/{recording_id}/custom-fields",
    response_model=dict[str, str],
    tags=["custom fields"],
)
def put_custom_fields(
    request: Request, recording_id: str, body: FieldsIn, caller: ApiCaller, st: StateDep
) -> dict[str, str]:
    """Set (or clear with null) custom field values on this call; returns all its values."""
    rec = visible_recording(st, caller, recording_id)
    try:
        diff = update_custom_values(st.catalog, rec.id, body.values, by=caller.name)
    except SearchError as e:
        raise HTTPException(400, str(e)) from None
    if diff:
        st.audit.record(
            "recording.custom_fields",
            initiator=caller.name,
            client_ip=client_ip(request),
            resource=f"recording:{rec.id}",
            changes=[FieldChange(field=f"custom.{k}", old=o, new=n) for k, (o, n) in diff.items()],
        )
    return custom_values_of(st.catalog, [rec.id])[rec.id]
