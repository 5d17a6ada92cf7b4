"""Administration pages: audit trail, connectors (enable toggle, Test button), keyword rules and
every other configuration section (edited through the config file's own Section objects)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from catalog.audit import AuditFilter
from portal import config_bridge
from portal.auth_pages import render
from portal.deps import AdminUser, StaffUser, client_ip, csrf_protect, state_of
from portal.recording_pages import parse_day

router = APIRouter(dependencies=[Depends(csrf_protect)])
log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 15.0


# ---------------------------------------------------------------- audit trail


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
    flt = AuditFilter(
        since=parse_day(since), until=parse_day(until, end=True),
        initiator=(initiator or "").strip() or None, action=action or None,
        resource=(resource or "").strip() or None,
    )
    entries = st.audit.list(flt, before_seq=before, limit=100)
    return render(
        request, "audit.html",
        {"entries": entries, "actions": st.audit.actions(),
         "f": {"since": since or "", "until": until or "", "initiator": initiator or "",
               "action": action or "", "resource": resource or ""},
         "next_before": entries[-1].seq if len(entries) == 100 else None},
    )


# ---------------------------------------------------------------- connectors


def _configured(st: Any) -> list[dict[str, Any]]:
    """Configured connectors as rows (name, kind, enabled), whatever shape the section has."""
    value = config_bridge.export_section(st.catalog, "connectors")
    rows: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for name, cfg in value.items():
            if isinstance(cfg, dict):
                rows.append({"name": name, "kind": cfg.get("kind", name),
                             "enabled": cfg.get("enabled", True)})
    elif isinstance(value, list):
        for cfg in value:
            if isinstance(cfg, dict) and "name" in cfg:
                rows.append({"name": cfg["name"], "kind": cfg.get("kind", cfg["name"]),
                             "enabled": cfg.get("enabled", True)})
    return rows


def _installed() -> tuple[list[dict[str, Any]], list[Any]]:
    try:
        from connectors import registry
    except Exception as e:  # the portal must render even when a plugin tree is broken
        log.warning("connector registry unavailable: %s", e)
        return [], []
    kinds = [
        {"kind": k, "display_name": getattr(c, "display_name", k),
         "capabilities": sorted(getattr(c, "capabilities", []))}
        for k, c in sorted(registry.available().items())
    ]
    return kinds, registry.load_errors()


def _connectors_page(request: Request, **extra: Any) -> Response:
    st = state_of(request)
    kinds, errors = _installed()
    views = {v.key: v for v in config_bridge.views(st.catalog)}
    ctx = {"installed": kinds, "load_errors": errors, "configured": _configured(st),
           "section": views.get("connectors"), "can_edit": request.state.user.is_admin,
           "notice": None, "error": None, "problems": [], "draft": None, "check": None}
    ctx.update(extra)
    return render(request, "connectors.html", ctx, extra.get("status", 200))


@router.get("/connectors")
def connectors(request: Request, user: StaffUser) -> Response:
    return _connectors_page(request)


@router.post("/connectors/{name}/enabled")
async def toggle_connector(request: Request, name: str, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    enabled = form.get("enabled") in ("on", "true", "1")
    value = config_bridge.export_section(st.catalog, "connectors")
    found = False
    if isinstance(value, dict) and isinstance(value.get(name), dict):
        value[name]["enabled"] = enabled
        found = True
    elif isinstance(value, list):
        for cfg in value:
            if isinstance(cfg, dict) and cfg.get("name") == name:
                cfg["enabled"] = enabled
                found = True
    if not found:
        raise HTTPException(404, f"no connector named {name!r}")
    outcome = config_bridge.apply_section(st.catalog, "connectors", value)
    if not outcome.ok:
        return _connectors_page(request, problems=outcome.problems, status=400,
                                error="The change was not applied.")
    if outcome.diff:
        st.audit.record("config_change", initiator=user.email, client_ip=client_ip(request),
                        resource=f"connector:{name}", changes=outcome.diff)
    return _connectors_page(request, notice=f"{name}: {'enabled' if enabled else 'disabled'}.")


async def run_check(name: str) -> dict[str, Any]:
    """Build the configured connector and run its check(); the stable codes (ok,
    cannot_connect, invalid_auth, invalid_config, …) are what the page shows."""
    try:
        from flows.deliveries import load_connector

        conn = load_connector(name)
        if asyncio.iscoroutine(conn):
            conn = await conn
    except LookupError as e:
        return {"ok": False, "code": "not_configured", "message": str(e)}
    except Exception as e:
        code = getattr(e, "code", "invalid_config")
        return {"ok": False, "code": code, "message": str(e)[:500]}
    try:
        result = await asyncio.wait_for(conn.check(), CHECK_TIMEOUT_S)
        return {"ok": bool(result.ok), "code": result.code, "message": result.message[:500]}
    except TimeoutError:
        return {"ok": False, "code": "cannot_connect", "message": "no answer in time"}
    except Exception as e:
        return {"ok": False, "code": getattr(e, "code", "unknown"), "message": str(e)[:500]}
    finally:
        close = getattr(conn, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:
                log.debug("aclose of %s failed", name, exc_info=True)


@router.post("/connectors/{name}/test")
async def test_connector(request: Request, name: str, user: StaffUser) -> Response:
    st = state_of(request)
    result = await run_check(name)
    st.audit.record(
        "connector_test", initiator=user.email, client_ip=client_ip(request),
        resource=f"connector:{name}", outcome="ok" if result["ok"] else "failed",
        detail=f"{result['code']}: {result['message']}"[:4000],
    )
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(result)
    return _connectors_page(request, check={"name": name, **result})


# ---------------------------------------------------------------- configuration sections


def _settings_page(request: Request, template: str = "settings.html", **extra: Any) -> Response:
    st = state_of(request)
    ctx = {"views": config_bridge.views(st.catalog), "can_edit": request.state.user.is_admin,
           "notice": None, "error": None, "problems": [], "drafts": {}, "only": None}
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
        value = value.get("rules", [{"name": k, **v} for k, v in value.items() if isinstance(v, dict)])
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
            request, back, status=400, error=f"Nothing was changed: {key} is not valid.",
            problems=outcome.problems, drafts={key: text}, **extra,
        )
    if outcome.diff:
        st.forget_allow_list()
        st.audit.record("config_change", initiator=user.email, client_ip=client_ip(request),
                        resource=key, changes=outcome.diff)
    if back == "rules.html":
        extra["rules"] = _rules(request)
    return _settings_page(request, back, notice=f"{key}: {len(outcome.changes)} change(s) applied.",
                          **extra)
