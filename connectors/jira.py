"""Jira: one issue per message in a configured project (summary, excerpt, labels, link).

Dedup: each issue carries a label derived from the idempotency key (``recflow-<hash>``); a JQL
search for it runs before creating, so a retried delivery finds the issue it already made. The
jira library is blocking (requests), so calls run in a worker thread; its own retry loop is
turned off so retry policy stays in one place (the delivery loop).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator

from connectors.base import (
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
    error_for_status,
)
from connectors.transport import run_blocking

_SUMMARY_MAX = 255
_DESCRIPTION_MAX = 32000


class JiraConfig(ConnectorConfig):
    server: str = Field(description="Jira base URL, e.g. https://acme.atlassian.net")
    email: str = Field("", description="Account email/user for basic auth (Jira Cloud API token)")
    api_token: SecretStr | None = Field(None, description="API token (Cloud) or password")
    personal_access_token: SecretStr | None = Field(
        None, description="Bearer PAT (Jira Data Center) instead of email + api_token"
    )
    project: str = Field(description="Project key, e.g. SUP")
    issue_type: str = Field("Task", description="Issue type name")
    labels: list[str] = Field(default_factory=lambda: ["recflow"], description="Labels to add")
    ca_file: str = Field("", description="CA bundle to trust; empty = system store")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")

    @model_validator(mode="after")
    def _auth(self) -> JiraConfig:
        if self.personal_access_token is None and not (self.email and self.api_token):
            raise ValueError("set email + api_token, or personal_access_token")
        return self


def _vendor_error(e: BaseException) -> ConnectorError | None:
    from jira.exceptions import JIRAError

    if isinstance(e, JIRAError) and int(e.status_code or 0) >= 400:
        headers = getattr(e.response, "headers", None) or {}
        return error_for_status(
            int(e.status_code or 0), "jira", retry_after=headers.get("Retry-After")
        )
    return None


def dedup_label(idempotency_key: str) -> str:
    return "recflow-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def issue_fields(message: Notification, config: JiraConfig, idempotency_key: str) -> dict[str, Any]:
    """The create-issue body (pure; golden-tested)."""
    desc = message.markdown or message.text
    if message.fields:
        desc += "\n\n" + "\n".join(f"*{f.label}:* {f.value}" for f in message.fields)
    if message.link_url:
        desc += f"\n\n[{message.link_text}|{message.link_url}]"
    labels = [*config.labels, *message.labels, dedup_label(idempotency_key)]
    return {
        "project": {"key": config.project},  # a dict avoids an extra GET /project/KEY
        "summary": " ".join(message.title.split())[:_SUMMARY_MAX],
        "description": desc[:_DESCRIPTION_MAX],
        "issuetype": {"name": config.issue_type},
        # Jira labels may not contain spaces
        "labels": list(dict.fromkeys(label.replace(" ", "-") for label in labels if label)),
    }


class JiraConnector(Connector):
    kind: ClassVar[str] = "jira"
    requires: ClassVar[tuple[str, ...]] = ("jira",)
    extra: ClassVar[str] = "crm"
    display_name: ClassVar[str] = "Jira"
    config_model: ClassVar[type[ConnectorConfig]] = JiraConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    config: JiraConfig

    def _client(self):  # type: ignore[no-untyped-def]
        from jira import JIRA

        c = self.config
        options: dict[str, Any] = {"server": c.server, "verify": c.ca_file or True}
        kwargs: dict[str, Any] = {
            "options": options,
            "get_server_info": False,
            "timeout": c.timeout,
            "max_retries": 0,
        }
        if c.personal_access_token is not None:
            kwargs["token_auth"] = c.personal_access_token.get_secret_value()
        else:
            assert c.api_token is not None
            kwargs["basic_auth"] = (c.email, c.api_token.get_secret_value())
        client = JIRA(**kwargs)
        client._session.trust_env = False  # REQUESTS_CA_BUNDLE must not override ca_file
        return client

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        return await run_blocking(
            lambda: self._create(self._client(), message, idempotency_key), _vendor_error
        )

    async def check(self) -> CheckResult:
        try:
            who = await run_blocking(lambda: self._client().myself(), _vendor_error)
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"authenticated as {who.get('displayName', '?')}")

    def _create(self, j: Any, message: Notification, key: str) -> str:
        label = dedup_label(key)
        found = j.search_issues(
            f'project = "{self.config.project}" AND labels = "{label}"', maxResults=1, fields="key"
        )
        if found:
            return str(found[0].key)
        issue = j.create_issue(fields=issue_fields(message, self.config, key), prefetch=False)
        return str(issue.key)
