"""Generic HTTP webhook: POST/PUT/GET, Jinja2 body, custom headers, HMAC-SHA256 signature.

The signature header carries ``t=<unix time>,v1=<hex hmac of "<t>.<body>">`` (the Stripe/Slack
scheme), so a receiver can reject replays; ``Idempotency-Key`` lets it drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from connectors.base import (
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
    PermanentError,
)
from connectors.transport import send


class WebhookConfig(ConnectorConfig):
    url: str = Field(description="Endpoint URL (http or https)")
    method: Literal["POST", "PUT", "GET"] = Field("POST", description="HTTP method")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers")
    secret_headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Headers holding credentials (Authorization …)"
    )
    body_template: str = Field(
        "",
        description="Jinja2 template of the body; sees `message` and `data`. Empty = the "
        "notification as JSON",
    )
    content_type: str = Field("application/json", description="Content-Type of the body")
    signing_secret: SecretStr | None = Field(
        None, description="When set, sign each request with HMAC-SHA256"
    )
    signature_header: str = Field("X-Recflow-Signature", description="Header for the signature")
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds per request")
    verify_tls: bool = Field(True, description="Verify the server certificate")

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return v

    @field_validator("body_template")
    @classmethod
    def _compiles(cls, v: str) -> str:
        if v:
            from templates.render import TemplateRenderError, check_template

            try:
                check_template(v, name="body_template")
            except TemplateRenderError as e:
                raise ValueError(str(e)) from None
        return v


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None
) -> bool:
    """Receiver side of :func:`sign` (used by tests and by people writing receivers)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


class WebhookConnector(Connector):
    kind: ClassVar[str] = "webhook"
    display_name: ClassVar[str] = "Webhook (HTTP)"
    config_model: ClassVar[type[ConnectorConfig]] = WebhookConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    config: WebhookConfig

    def build_body(self, message: Notification) -> bytes:
        if self.config.body_template:
            from templates.render import TemplateRenderError, render_string

            try:
                text = render_string(
                    self.config.body_template,
                    {"message": message.model_dump(mode="json"), "data": message.data},
                    name=f"{self.name}.body_template",
                )
            except TemplateRenderError as e:
                raise ConfigError(str(e)) from None
            return text.encode()
        return json.dumps(message.model_dump(mode="json"), separators=(",", ":")).encode()

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        c = self.config
        body = self.build_body(message)
        headers = {"Content-Type": c.content_type, "Idempotency-Key": idempotency_key}
        headers.update(c.headers)
        headers.update({k: v.get_secret_value() for k, v in c.secret_headers.items()})
        if c.signing_secret is not None:
            headers[c.signature_header] = sign(
                c.signing_secret.get_secret_value(), int(time.time()), body
            )
        kwargs: dict[str, Any] = {"headers": headers}
        if c.method == "GET":
            kwargs["params"] = {"idempotency_key": idempotency_key}
        else:
            kwargs["content"] = body
        r = await send(
            c.method, c.url, what="webhook", timeout=c.timeout, verify=c.verify_tls, **kwargs
        )
        try:
            data = r.json()
            ext = data.get("id") if isinstance(data, dict) else None
        except ValueError:
            ext = None
        return str(ext or f"http-{r.status_code}")

    async def check(self) -> CheckResult:
        """Reachability without delivering anything: HEAD, then OPTIONS when the receiver does
        not implement HEAD (405/501 — many small receivers handle only POST). Any HTTP answer
        proves the server is there; the codes are the ones a delivery would get (auth for
        401/403, cannot_connect for transport failures and 5xx other than 501)."""
        answer = ""
        for method in ("HEAD", "OPTIONS"):
            try:
                r = await send(
                    method,
                    self.config.url,
                    what="webhook check",
                    timeout=self.config.timeout,
                    verify=self.config.verify_tls,
                    ok_statuses=(404, 405, 501),
                )
            except ConnectorError as e:
                if isinstance(e, PermanentError):  # another 4xx: the server answered
                    return CheckResult(ok=True, message=f"reachable ({e})")
                return CheckResult(ok=False, code=e.code, message=str(e))
            answer = f"{method} answered HTTP {r.status_code}"
            if r.status_code not in (405, 501):
                break
        return CheckResult(ok=True, message=f"reachable ({answer})")
