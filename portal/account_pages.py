"""The account screen with the Focus seed's tabs: General, Features, Retention, Security & Auth,
Integrations. Supervisors see it read-only; only administrators change it. Writes go through
``services.config.account_section.merge``, the same code as `recflow config apply`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from catalog.audit import diff
from catalog.models import AccountSettings, ReviewMode
from catalog.reviews import templates as review_templates
from portal import config_bridge
from portal.auth_pages import render
from portal.deps import AdminUser, StaffUser, client_ip, csrf_protect, state_of
from portal.security import in_networks, parse_networks
from services.announcements import CHOICES
from services.announcements import canonical as canonical_announcement
from services.announcements import label as announcement_label
from services.config.account_section import AccountPatch, FeaturesPatch, merge
from services.sftp_settings import sftp_view

router = APIRouter(dependencies=[Depends(csrf_protect)])
TABS = [
    ("general", "General"),
    ("features", "Features"),
    ("retention", "Retention"),
    ("security", "Security & Auth"),
    ("integrations", "Integrations"),
]
ANNOUNCEMENTS = CHOICES  # services.announcements: real prompts for each


def _checked(form: Any, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def _account_page(
    request: Request,
    tab: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    st = state_of(request)
    user = request.state.user
    ctx: dict[str, Any] = {
        "tabs": TABS,
        "tab": tab if tab in dict(TABS) else "general",
        "account": st.catalog.account(),
        "can_edit": user.is_admin,
        "notice": notice,
        "error": error,
        "announcements": [(a, announcement_label(a)) for a in ANNOUNCEMENTS],
        "announcement_now": canonical_announcement(st.catalog.account().features.announcements),
        "announcement_url": str(request.base_url).rstrip("/")
        + f"/announcements/{st.catalog.account().account_guid}.wav",
        "client_ip": client_ip(request),
        "tokens": st.tokens.list() if user.is_admin else [],
        "sections": {v.key: v for v in config_bridge.views(st.catalog)},
        "sftp": sftp_view(st.catalog) if tab == "integrations" else None,
    }
    ctx.update(extra or {})
    return render(request, "account.html", ctx, status)


def _save(request: Request, user: Any, before: AccountSettings, after: AccountSettings) -> int:
    st = state_of(request)
    changes = diff(before.model_dump(mode="json"), after.model_dump(mode="json"), "account")
    if changes:
        st.catalog.save_account(after)
        st.forget_allow_list()
        st.audit.record(
            "config_change",
            initiator=user.email,
            client_ip=client_ip(request),
            resource="account",
            changes=changes,
        )
    return len(changes)


@router.get("/account")
def account(request: Request, user: StaffUser, tab: str = "general") -> Response:
    return _account_page(request, tab)


@router.get("/settings")
def settings_redirect(user: StaffUser) -> Response:
    return RedirectResponse("/settings/config", 303)


@router.post("/account/features")
async def save_features(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    current = st.catalog.account()
    want_fc = _checked(form, "forced_comments")
    want_cr = _checked(form, "communication_reviews")
    notice = None
    if want_fc and want_cr:
        # Focus: "if you enable both, the first one enabled will be switched off"
        if current.features.forced_comments and not current.features.communication_reviews:
            want_fc = False
            notice = (
                "Communication reviews enabled: forced comments were switched off "
                "(they exclude each other)."
            )
        else:
            want_cr = False
            notice = (
                "Forced comments enabled: communication reviews were switched off "
                "(they exclude each other)."
            )
    announcements = str(form.get("announcements", "none"))
    if announcements not in ANNOUNCEMENTS:
        return _account_page(request, "features", error="Unknown announcement choice.", status=400)
    mode = ReviewMode.off
    if want_cr:
        mode = ReviewMode.mandatory if _checked(form, "reviews_mandatory") else ReviewMode.enabled
    if mode is ReviewMode.mandatory and not review_templates(st.catalog):
        return _account_page(
            request,
            "features",
            error="Mandatory reviews need a review template first (the reviews: section).",
            status=400,
        )
    patch = AccountPatch(
        features=FeaturesPatch(
            transcription=_checked(form, "transcription"),
            forced_comments=want_fc,
            communication_reviews=mode,
            announcements=announcements,
            dynamic_private_calls=_checked(form, "dynamic_private_calls"),
        )
    )
    n = _save(request, user, current, merge(current, patch))
    return _account_page(request, "features", notice=notice or f"Saved ({n} change(s)).")


@router.post("/account/general")
async def save_general(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    current = st.catalog.account()
    name = str(form.get("name", "")).strip()
    if not (1 <= len(name) <= 200):
        return _account_page(
            request, "general", error="The account name needs 1-200 characters.", status=400
        )
    n = _save(request, user, current, merge(current, AccountPatch(name=name)))
    return _account_page(request, "general", notice=f"Saved ({n} change(s)).")


@router.post("/account/retention")
async def save_retention(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    current = st.catalog.account()
    hold = _checked(form, "legal_hold")
    n = _save(request, user, current, merge(current, AccountPatch(legal_hold=hold)))
    msg = (
        "Legal hold is ON: no recording will be deleted, retention included."
        if hold
        else "Legal hold is off."
    )
    return _account_page(request, "retention", notice=f"{msg} ({n} change(s))")


@router.post("/account/security")
async def save_security(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    current = st.catalog.account()
    lines = [ln.strip() for ln in str(form.get("ip_allow_list", "")).splitlines() if ln.strip()]
    nets, bad = parse_networks(lines)
    if bad:
        return _account_page(
            request,
            "security",
            error=f"Not an address or CIDR: {', '.join(bad)}",
            status=400,
            extra={"draft": "\n".join(lines)},
        )
    ip = client_ip(request)
    if nets and not in_networks(ip, nets) and not _checked(form, "confirm_lockout"):
        # the issue: warn before saving a list that excludes the admin's own address
        return _account_page(
            request,
            "security",
            status=409,
            error=f"This list does not include your current address {ip}: saving it locks you "
            "out. Tick the confirmation box to save anyway.",
            extra={"draft": "\n".join(lines), "need_confirm": True},
        )
    normalized = [str(n) for n in nets]
    n = _save(request, user, current, merge(current, AccountPatch(ip_allow_list=normalized)))
    return _account_page(request, "security", notice=f"Saved ({n} change(s)).")


@router.post("/account/tokens")
async def create_token(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()[:128]
    if not name:
        return _account_page(request, "integrations", error="A token needs a name.", status=400)
    tok, secret = st.tokens.create(name, created_by=user.email, now=st.clock())
    st.audit.record(
        "token_created",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"token:{tok.name}",
    )
    return _account_page(
        request,
        "integrations",
        notice="Token created. Copy it now: it is shown only once.",
        extra={"new_token": secret},
    )


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: str, user: AdminUser) -> Response:
    st = state_of(request)
    gone = [t for t in st.tokens.list() if t.id == token_id]
    for t in st.tokens.revoke(token_id) if gone else []:
        st.audit.record(
            "token_revoked",
            initiator=user.email,
            client_ip=client_ip(request),
            resource=f"token:{t.name}",
        )
    return _account_page(
        request, "integrations", notice="Token revoked." if gone else "No such active token."
    )
