"""Apprise: one notification to any of Apprise's 100+ targets (SMS gateways, PagerDuty, Discord,
Mattermost, Telegram, ntfy, generic JSON/form/XML endpoints, …) from a list of Apprise URLs.

The URLs embed credentials, so they are one secret (``urls``: comma- or space-separated, or a list
in the config file). Title and body are the notification's (from the shared message templates),
or ``title_template``/``body_template`` (Jinja2, seeing ``message`` and ``data``) when set.

Each URL is sent to on its own. When some fail, the delivery fails (retriable) naming them, and
the targets that already succeeded for this idempotency key are skipped by the retry in this
process, so a retry does not page the same person twice. Apprise answers only True/False; the
HTTP status it logs (``error=401``) is read back to classify the failure. Apprise is blocking
(requests), so sends run in a worker thread; its own per-plugin throttling stays on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from connectors.base import (
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
    RetriableError,
    error_for_status,
)
from connectors.transport import run_blocking

_SPLIT = re.compile(r"[\s,]+")
_STATUS = re.compile(r"error=(\d{3})")
_SEVERITY = {"info": "info", "warning": "warning", "critical": "failure"}
_SENT_MAX = 4096


def split_urls(value: str) -> list[str]:
    return [u for u in _SPLIT.split(value.strip()) if u]


class AppriseConfig(ConnectorConfig):
    urls: SecretStr = Field(
        description="Apprise URLs (e.g. tgram://bot/chat, pagerduty://…, json://host/path), "
        "comma- or space-separated; they hold credentials"
    )
    title_template: str = Field("", description="Jinja2 title; empty = the notification title")
    body_template: str = Field("", description="Jinja2 body; empty = the notification body")
    body_format: Literal["text", "markdown", "html"] = Field(
        "text", description="Which body to send: plain text, Markdown or HTML"
    )

    @field_validator("urls", mode="before")
    @classmethod
    def _join(cls, v: object) -> object:
        if isinstance(v, list | tuple):
            return ", ".join(str(u) for u in v)
        return v

    @field_validator("urls")
    @classmethod
    def _parse(cls, v: SecretStr) -> SecretStr:
        import apprise

        urls = split_urls(v.get_secret_value())
        if not urls:
            raise ValueError("urls: give at least one Apprise URL")
        for i, url in enumerate(urls, start=1):
            if apprise.Apprise.instantiate(url) is None:
                # the URL itself may hold a token: name its position and scheme only
                scheme = url.split("://", 1)[0] if "://" in url else "?"
                raise ValueError(f"urls: entry {i} ({scheme}://…) is not a URL Apprise knows")
        return v

    @field_validator("title_template", "body_template")
    @classmethod
    def _compiles(cls, v: str) -> str:
        if v:
            from templates.render import TemplateRenderError, check_template

            try:
                check_template(v, name="apprise template")
            except TemplateRenderError as e:
                raise ValueError(str(e)) from None
        return v


class AppriseConnector(Connector):
    kind: ClassVar[str] = "apprise"
    display_name: ClassVar[str] = "Apprise (100+ notification services)"
    config_model: ClassVar[type[ConnectorConfig]] = AppriseConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    config: AppriseConfig

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._sent_lock = threading.Lock()

    def _render(self, template: str, fallback: str, message: Notification, what: str) -> str:
        if not template:
            return fallback
        from templates.render import TemplateRenderError, render_string

        try:
            return render_string(
                template,
                {"message": message.model_dump(mode="json"), "data": message.data},
                name=f"{self.name}.{what}",
            )
        except TemplateRenderError as e:
            raise ConfigError(str(e)) from None

    def content(self, message: Notification) -> tuple[str, str]:
        """(title, body) as sent (pure; tested)."""
        fmt = self.config.body_format
        body = {"markdown": message.markdown, "html": message.html}.get(fmt) or message.text
        if message.link_url and fmt == "text":
            body = f"{body}\n\n{message.link_text}: {message.link_url}"
        return (
            self._render(self.config.title_template, message.title, message, "title_template"),
            self._render(self.config.body_template, body, message, "body_template"),
        )

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        title, body = self.content(message)
        notify_type = _SEVERITY.get(message.severity, "info")
        urls = split_urls(self.config.urls.get_secret_value())
        return await run_blocking(
            lambda: self._send_all(urls, title, body, notify_type, idempotency_key)
        )

    async def check(self) -> CheckResult:
        # the config validator already parsed every URL; sending would notify someone
        n = len(split_urls(self.config.urls.get_secret_value()))
        return CheckResult(ok=True, message=f"{n} Apprise URL(s) parsed (not sent: a probe would)")

    # ------------------------------------------------------------ blocking part

    def _memo(self, key: str, url: str) -> str:
        return hashlib.sha256(f"{key}\0{url}".encode()).hexdigest()

    def _send_all(self, urls: list[str], title: str, body: str, ntype: str, key: str) -> str:
        failures: list[ConnectorError] = []
        sent = 0
        for i, url in enumerate(urls, start=1):
            memo = self._memo(key, url)
            with self._sent_lock:
                if memo in self._sent:
                    sent += 1
                    continue
            err = self._send_one(url, title, body, ntype)
            if err is None:
                sent += 1
                with self._sent_lock:
                    self._sent[memo] = None
                    while len(self._sent) > _SENT_MAX:
                        self._sent.popitem(last=False)
            else:
                scheme = url.split("://", 1)[0]
                failures.append(type(err)(f"apprise target {i} ({scheme}): {err}"))
        if failures:
            # the most retriable failure decides: one target down must not block a retry
            retriable = [f for f in failures if f.retriable]
            first = (retriable or failures)[0]
            if len(failures) > 1:
                msg = "; ".join(str(f) for f in failures)[:500]
                raise (RetriableError(msg) if retriable else type(first)(msg))
            raise first
        return f"apprise:{sent}"

    def _send_one(self, url: str, title: str, body: str, ntype: str) -> ConnectorError | None:
        import apprise

        a = apprise.Apprise()
        if not a.add(url):
            return ConfigError("URL not understood")
        fmt = {"markdown": "markdown", "html": "html"}.get(self.config.body_format, "text")
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = a.notify(body=body, title=title, notify_type=ntype, body_format=fmt)
        if ok:
            return None
        log = captured.getvalue()
        found = _STATUS.findall(log)
        if found:
            return error_for_status(int(found[-1]), "target refused the notification")
        if "connection error" in log.lower() or "timeout" in log.lower():
            return RetriableError("target unreachable")
        return RetriableError(_last_line(log) or "target did not accept the notification")


def _last_line(log: str) -> str:
    """The last warning Apprise logged, URLs blanked (a plugin may log one with its token)."""
    lines = [ln.split(" - ", 2)[-1] for ln in log.strip().splitlines() if ln.strip()]
    return re.sub(r"\S+://\S+", "<url>", lines[-1])[:300] if lines else ""
