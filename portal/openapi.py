"""The API's OpenAPI document declares how to authenticate (an HTTP bearer scheme, required by
every operation), so generated clients and fuzzers send the token; and the Swagger UI page is
not served: it loads its script from a CDN, which the portal's own CSP (script-src 'self')
blocks, leaving a blank page. The document itself stays at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

SCHEME = "bearerAuth"


def declare_bearer_auth(api: FastAPI) -> None:
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema:
            return api.openapi_schema
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: `recflow tokens create NAME` (shown once)",
        }
        schema["security"] = [{SCHEME: []}]
        return schema

    api.openapi = openapi  # type: ignore[method-assign]


def drop_swagger_ui(api: FastAPI) -> None:
    api.router.routes[:] = [
        r
        for r in api.router.routes
        if getattr(r, "path", "") not in ("/docs", "/docs/oauth2-redirect")
    ]
    api.docs_url = None
