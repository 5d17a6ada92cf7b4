"""The audit trail: who did what to which resource, from where, when, with field-level diffs.

Every login, failed login, playback, download, deletion and configuration change lands here
(the Masergy seed's audit trail). Secret values never do: ``diff`` masks any field whose name
says it is a secret, and any value that is a ``SecretStr``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import select

from catalog.models import assume_utc, utcnow
from catalog.portal_tables import AuditRow
from catalog.repository import Catalog

MASK = "••••••"
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "private_key", "credential")


class FieldChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Dotted path of the changed field")
    old: Any = Field(None, description="Value before (masked for secrets)")
    new: Any = Field(None, description="Value after (masked for secrets)")


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int
    at: datetime
    initiator: str = Field(description="User e-mail, token name, or 'system'")
    client_ip: str = ""
    action: str = Field(description="login, login_failed, playback, download, config_change, …")
    resource: str = Field("", description="What was touched, e.g. recording:<id>, account")
    outcome: str = "ok"
    changes: list[FieldChange] = Field(default_factory=list)
    detail: str = ""


def is_secret_field(path: str) -> bool:
    leaf = path.rsplit(".", 1)[-1].lower()
    return any(word in leaf for word in SECRET_WORDS)


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        value = {k: getattr(value, k) for k in type(value).model_fields}
    if isinstance(value, dict):
        # an empty mapping is no field at all: "{} → null" is noise in a trail
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value


def _show(path: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, SecretStr) or is_secret_field(path):
        return MASK
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_show(path, v) for v in value]
    if isinstance(value, dict):
        return {k: _show(f"{path}.{k}", v) for k, v in value.items()}
    return str(value)


def diff(before: Any, after: Any, prefix: str = "") -> list[FieldChange]:
    """Field-level differences between two documents (dicts or models), secrets masked.

    A changed secret shows as ``•••••• → ••••••``: the trail proves that it changed, never what
    it was or became.
    """
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(before if before is not None else {}, prefix, a)
    _flatten(after if after is not None else {}, prefix, b)
    changes = []
    for path in sorted(set(a) | set(b)):
        old, new = a.get(path), b.get(path)
        raw_old = old.get_secret_value() if isinstance(old, SecretStr) else old
        raw_new = new.get_secret_value() if isinstance(new, SecretStr) else new
        if raw_old == raw_new:
            continue
        changes.append(
            FieldChange(field=path or "(value)", old=_show(path, old), new=_show(path, new))
        )
    return changes


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    initiator: str | None = None
    action: str | None = None
    resource: str | None = None  # prefix match: "recording:" finds every recording


class Audit:
    def __init__(self, catalog: Catalog) -> None:
        self.db = catalog.db

    def record(
        self,
        action: str,
        *,
        initiator: str,
        client_ip: str = "",
        resource: str = "",
        outcome: str = "ok",
        changes: list[FieldChange] | None = None,
        detail: str = "",
        at: datetime | None = None,
    ) -> None:
        with self.db.session() as s:
            s.add(
                AuditRow(
                    at=at or utcnow(),
                    initiator=initiator[:320],
                    client_ip=client_ip[:64],
                    action=action[:64],
                    resource=resource[:512],
                    outcome=outcome[:16],
                    changes=[c.model_dump(mode="json") for c in changes or []],
                    detail=detail[:4000],
                )
            )

    def list(
        self, flt: AuditFilter | None = None, *, before_seq: int | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        """Newest first; page on with ``before_seq`` = the last entry's seq (keyset)."""
        flt = flt or AuditFilter()
        q = select(AuditRow).order_by(AuditRow.seq.desc())
        if before_seq is not None:
            q = q.where(AuditRow.seq < before_seq)
        if flt.since:
            q = q.where(AuditRow.at >= flt.since)
        if flt.until:
            q = q.where(AuditRow.at < flt.until)
        if flt.initiator:
            q = q.where(AuditRow.initiator == flt.initiator)
        if flt.action:
            q = q.where(AuditRow.action == flt.action)
        if flt.resource:
            q = q.where(AuditRow.resource.startswith(flt.resource, autoescape=True))
        with self.db.session() as s:
            return [
                AuditEntry(
                    seq=r.seq,
                    at=assume_utc(r.at),
                    initiator=r.initiator,
                    client_ip=r.client_ip,
                    action=r.action,
                    resource=r.resource,
                    outcome=r.outcome,
                    changes=r.changes,  # type: ignore[arg-type]
                    detail=r.detail,
                )
                for r in s.scalars(q.limit(limit))
            ]

    def actions(self) -> builtins.list[str]:
        with self.db.session() as s:
            return sorted(s.scalars(select(AuditRow.action).distinct()))
