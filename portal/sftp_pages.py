"""The "Enable SFTP" switch of the account's Integrations tab (Focus "SFTP Communications
access"): enabling shows a fresh username and password once, with copy buttons; disabling
revokes them; enabling again issues new ones. Administrators only; every change audited."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from portal.account_pages import _account_page
from portal.deps import AdminUser, client_ip, csrf_protect, state_of
from services import sftp_settings

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.post("/account/sftp")
async def switch_sftp(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in ("enable", "disable"):
        return _account_page(request, "integrations", error="Unknown SFTP action.", status=400)
    if action == "disable":
        sftp_settings.disable(st.catalog)
        st.audit.record(
            "sftp.disabled", initiator=user.email, client_ip=client_ip(request), resource="sftp"
        )
        return _account_page(request, "integrations", notice="SFTP disabled; credentials revoked.")
    cred = sftp_settings.enable(st.catalog, now=st.clock())
    st.audit.record(
        "sftp.enabled",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"user:{cred.user.email}",
        detail=f"username={cred.username}",
    )
    return _account_page(
        request,
        "integrations",
        notice="SFTP enabled. Copy the password now: it is shown only once.",
        extra={"sftp_new": cred},
    )
