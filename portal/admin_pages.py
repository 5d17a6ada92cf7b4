"""Administration pages: audit trail, connectors (enable toggle, Test button), keyword rules and
every other configuration section (edited through the config file's own Section objects)."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from catalog.audit import AuditFilter
from portal import config_bridge, connector_forms
from portal.auth_pages import render
from portal.deps import AdminUser, StaffUser, client_ip, csrf_protect, state_of
from portal.recording_pages import parse_day

router = APIRouter(dependencies=[Depends(csrf_protect)])
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- audit trail


def audit_filter(
    since: str | None,
    until: str | None,
    initiator: str | None,
    action: str | None,
    resource: str | None,
) -> AuditFilter:
    """The audit page's query parameters as a filter (the page and its CSV export share it)."""
    return AuditFilter(
        since=parse_day(since),
        until=parse_day(until, end=True),
        initiator=(initiator or "").strip() or None,
        action=action or None,
        resource=(resource or "").strip() or None,
    )


@router.get("/audit")
def audit(
    request: Request,
    user: AdminUser,
    since: str | None = None,
    until: str | None = None,
    initiator: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    before: int | None = None,
) -> Response:
    st = state_of(request)
    flt = audit_filter(since, until, initiator, action, resource)
    entries = st.audit.list(flt, before_seq=before, limit=100)
    return render(
        request,
        "audit.html",
        {
            "entries": entries,
            "actions": st.audit.actions(),
            "f": {
                "since": since or "",
                "until": until or "",
                "initiator": initiator or "",
                "action": action or "",
                "resource": resource or "",
            },
            "next_before": entries[-1].seq if len(entries) == 100 else None,
        },
    )


# ---------------------------------------------------------------- connectors


def _connectors_page(request: Request, **extra: Any) -> Response:
    st = state_of(request)
    ok = connector_forms.available()
    ctx: dict[str, Any] = {
        "installed": connector_forms.installed() if ok else [],
        "load_errors": connector_forms.load_errors() if ok else [],
        "configured": connector_forms.rows(st.catalog) if ok else [],
        "can_edit": request.state.user.is_admin,
        "notice": None,
        "error": None,
        "problems": [],
        "check": None,
        "edit": None,
    }
    ctx.update(extra)
    return render(request, "connectors.html", ctx, extra.get("status", 200))


@router.get("/connectors")
def connectors(
    request: Request, user: StaffUser, edit: str | None = None, kind: str | None = None
) -> Response:
    st = state_of(request)
    form = None
    if edit or kind:
        rows = {r["name"]: r for r in connector_forms.rows(st.catalog)}
        if edit and edit not in rows:
            raise HTTPException(404, f"no connector named {edit!r}")
        k = rows[edit]["kind"] if edit else str(kind)
        try:
            form = {
                "name": edit or "",
                "kind": k,
                "new": not edit,
                "every_call": bool(edit and "every_call" in rows[edit]["on"]),
                "fields": connector_forms.fields(st.catalog, k, edit),
            }
        except KeyError:
            raise HTTPException(404, f"connector kind {k!r} is not installed") from None
    return _connectors_page(request, edit=form)


@router.post("/connectors/save")
async def save_connector(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()
    kind = str(form.get("kind", "")).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name):
        return _connectors_page(
            request, status=400, error="Names are letters, digits, _ . - (max 128)."
        )
    outcome = connector_forms.save(
        st.catalog, name, kind, form, every_call=form.get("every_call") in ("on", "true", "1")
    )
    if not outcome.ok:
        return _connectors_page(
            request, status=400, error=f"{name} was not saved.", problems=outcome.problems
        )
    if outcome.changes:
        st.audit.record(
            "config_change",
            initiator=user.email,
            client_ip=client_ip(request),
            resource=f"connector:{name}",
            changes=outcome.changes,
        )
    return _connectors_page(request, notice=f"{name}: saved ({len(outcome.changes)} change(s)).")


@router.post("/connectors/{name}/enabled")
async def toggle_connector(request: Request, name: str, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    enabled = form.get("enabled") in ("on", "true", "1")
    changes = connector_forms.set_enabled(st.catalog, name, enabled)
    if changes is None:
        raise HTTPException(404, f"no connector named {name!r}")
    if changes:
        st.audit.record(
            "config_change",
            initiator=user.email,
            client_ip=client_ip(request),
            resource=f"connector:{name}",
            changes=changes,
        )
    return _connectors_page(request, notice=f"{name}: {'enabled' if enabled else 'disabled'}.")


@router.post("/connectors/{name}/test")
async def test_connector(request: Request, name: str, user: StaffUser) -> Response:
    st = state_of(request)
    result = await connector_forms.check(st.catalog, name)
    st.audit.record(
        "connector_test",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"connector:{name}",
        outcome="ok" if result["ok"] else "failed",
        detail=f"{result['code']}: {result['message']}"[:4000],
    )
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(result)
    return _connectors_page(request, check={"name": name, **result})


# ---------------------------------------------------------------- configuration sections


def _settings_page(request: Request, template: str = "settings.html", **extra: Any) -> Response:
    st = state_of(request)
    ctx = {
        "views": config_bridge.views(st.catalog),
        "can_edit": request.state.user.is_admin,
        "notice": None,
        "error": None,
        "problems": [],
        "drafts": {},
        "only": None,
    }
    ctx.update(extra)
    return render(request, template, ctx, extra.get("status", 200))


@router.get("/settings/config")
def settings_config(request: Request, user: StaffUser) -> Response:
    return _settings_page(request)


@router.get("/rules")
def rules(request: Request, user: StaffUser) -> Response:
    return _settings_page(request, "rules.html", only="rules", rules=_rules(request))


def _rules(request: Request) -> list[dict[str, Any]]:
    value = config_bridge.export_section(state_of(request).catalog, "rules")
    if isinstance(value, dict):
        value = value.get(
            "rules", [{"name": k, **v} for k, v in value.items() if isinstance(v, dict)]
        )
    return [r for r in value or [] if isinstance(r, dict)]


@router.post("/settings/config/{key}")
async def save_section(request: Request, key: str, user: AdminUser) -> Response:
    st = state_of(request)
    if config_bridge.section(key) is None:
        raise HTTPException(404, f"no configuration section {key!r}")
    form = await request.form()
    text = str(form.get("yaml", ""))[:1_000_000]
    back = "rules.html" if form.get("back") == "rules" else "settings.html"
    extra: dict[str, Any] = {"only": "rules", "rules": []} if back == "rules.html" else {}
    outcome = config_bridge.apply_yaml(st.catalog, key, text)
    if not outcome.ok:
        if back == "rules.html":
            extra["rules"] = _rules(request)
        return _settings_page(
            request,
            back,
            status=400,
            error=f"Nothing was changed: {key} is not valid.",
            problems=outcome.problems,
            drafts={key: text},
            **extra,
        )
    if outcome.diff:
        st.forget_allow_list()
        st.audit.record(
            "config_change",
            initiator=user.email,
            client_ip=client_ip(request),
            resource=key,
            changes=outcome.diff,
        )
    if back == "rules.html":
        extra["rules"] = _rules(request)
    return _settings_page(
        request, back, notice=f"{key}: {len(outcome.changes)} change(s) applied.", **extra
    )
