"""The account's announcement prompt at a stable URL for the PBX/SBC, and the custom upload.

``GET /announcements/<account guid>.wav`` needs no login (a PBX fetches it); the account GUID in
the path is the only way to name it, and the portal's IP allow-list still applies. 404 while
the account's choice is ``none`` (or ``custom`` without an upload).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from catalog.audit import diff
from portal.deps import AdminUser, client_ip, csrf_protect, state_of
from services.announcements import AnnouncementError, prompt_path, save_custom

router = APIRouter()
MAX_UPLOAD = 5 * 1024 * 1024


@router.get("/announcements/{account_guid}.wav", include_in_schema=False)
def announcement(request: Request, account_guid: str) -> Response:
    st = state_of(request)
    acct = st.catalog.account()
    if account_guid != acct.account_guid:
        raise HTTPException(404, "no such announcement")
    try:
        path = prompt_path(st.catalog.settings.resolved_data_dir, acct.features.announcements)
    except AnnouncementError as e:
        raise HTTPException(503, str(e)) from None
    if path is None:
        raise HTTPException(404, "this account plays no announcement")
    return FileResponse(path, media_type="audio/wav")


@router.post("/account/announcement", dependencies=[Depends(csrf_protect)])
async def upload_announcement(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "choose a WAV file to upload")
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(400, "an announcement file is at most 5 MB")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.wav"
        path.write_bytes(data)
        try:
            seconds = save_custom(st.catalog.settings.resolved_data_dir, path)
        except AnnouncementError as e:
            raise HTTPException(400, str(e)) from None
    before = st.catalog.account()
    after = before.model_copy(deep=True)
    after.features.announcements = "custom"
    st.catalog.save_account(after)
    st.audit.record(
        "config_change",
        initiator=user.email,
        client_ip=client_ip(request),
        resource="account",
        changes=diff(before, after),
        detail=f"custom announcement uploaded ({seconds:.1f} s)",
    )
    return RedirectResponse("/account?tab=features", 303)
