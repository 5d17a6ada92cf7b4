"""/api/v1/recordings/{id}/notes: read and add notes on a call a caller may see."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from catalog.audit import FieldChange
from catalog.notes import MAX_NOTE_CHARS, Note, NotYours, add_note, edit_note, list_notes
from portal.deps import ApiCaller, RowIdPath, StateDep
from portal.recording_pages import visible_recording

router = APIRouter(tags=["notes"])


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    pinned: bool = False
    offset: float | None = Field(None, ge=0, le=86_400, description="Seconds into the call")


class NoteEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, min_length=1, max_length=MAX_NOTE_CHARS)
    pinned: bool | None = None
    offset: float | None = Field(None, ge=0, le=86_400)


class NotePage(BaseModel):
    items: list[Note]


@router.get("/recordings/{recording_id}/notes", response_model=NotePage)
def get_notes(recording_id: str, caller: ApiCaller, st: StateDep) -> NotePage:
    """Pinned notes first, then oldest to newest."""
    rec = visible_recording(st, caller, recording_id)
    return NotePage(items=list_notes(st.catalog, rec.id))


@router.post("/recordings/{recording_id}/notes", response_model=Note, status_code=201)
def post_note(
    request: Request, recording_id: str, body: NoteIn, caller: ApiCaller, st: StateDep
) -> Note:
    rec = visible_recording(st, caller, recording_id)
    try:
        note = add_note(
            st.catalog,
            rec.id,
            caller.name,
            body.text,
            pinned=body.pinned,
            offset=body.offset,
            now=st.clock(),
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    st.audit.record(
        "recording.note",
        initiator=caller.name,
        client_ip=request.client.host if request.client else "",
        resource=f"recording:{rec.id}",
        detail="pinned" if body.pinned else "",
        at=note.created_at,
    )
    return note


@router.patch("/recordings/{recording_id}/notes/{note_id}", response_model=Note)
def patch_note(
    request: Request,
    recording_id: str,
    note_id: RowIdPath,
    body: NoteEdit,
    caller: ApiCaller,
    st: StateDep,
) -> Note:
    """Edit one's own note (text, pinned, offset); audited with the changed fields."""
    rec = visible_recording(st, caller, recording_id)
    try:
        out = edit_note(
            st.catalog,
            rec.id,
            note_id,
            caller.name,
            text=body.text,
            pinned=body.pinned,
            offset=body.offset,
        )
    except NotYours as e:
        raise HTTPException(403, str(e)) from None
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    if out is None:
        raise HTTPException(404, "no such note on this recording")
    note, diff = out
    if diff:
        st.audit.record(
            "recording.note_edit",
            initiator=caller.name,
            client_ip=request.client.host if request.client else "",
            resource=f"recording:{rec.id}",
            changes=[
                FieldChange(field=f"note.{note.id}.{k}", old=o, new=n) for k, (o, n) in diff.items()
            ],
        )
    return note
