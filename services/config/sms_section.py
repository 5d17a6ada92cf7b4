"""The `sms:` and `contacts:` sections of the config file.

```yaml
sms:
  subscribers: ["+441110000333"]          # optional: whose SMS these are (direction)
  to_email: {enabled: true, to: sms-archive@acme.example, connector: mail}
  monthly_csv: {enabled: true, schedule: "15 0 * * *"}
contacts:
  "+441110000333": Alice Agent
```

``sms`` is declarative: what the file says is the whole SMS configuration (omitted fields take
their defaults). ``contacts`` replaces the directory (numbers not listed are removed).
"""

from __future__ import annotations

from typing import Any

from catalog.repository import Catalog
from catalog.sms import (
    SmsSettings,
    SmsValidationError,
    clean_number,
    contacts,
    get_sms_settings,
    number_key,
    replace_contacts,
    save_sms_settings,
)
from services.config.base import ApplyContext, ConfigFileError, parse_model


def _connector_names(doc: dict[str, Any]) -> set[str] | None:
    """Connector names the file declares, or None when it has no connectors section."""
    raw = doc.get("connectors")
    if raw is None:
        return None
    names: set[str] = set()
    if isinstance(raw, list):
        names = {str(c.get("name")) for c in raw if isinstance(c, dict) and c.get("name")}
    elif isinstance(raw, dict):
        names = {str(k) for k in raw}
    return names


class SmsSection:
    key = "sms"
    order = 40  # after connectors, which it names

    def validate(self, raw: Any, ctx: ApplyContext) -> SmsSettings:
        parsed: SmsSettings = parse_model(SmsSettings, raw or {}, self.key)
        problems: list[tuple[str, str]] = []
        mail = parsed.to_email
        if mail.enabled and not mail.to:
            problems.append(("sms.to_email.to", "required when to_email is enabled"))
        if mail.enabled and not mail.connector:
            problems.append(("sms.to_email.connector", "required when to_email is enabled"))
        declared = _connector_names(ctx.document)
        if mail.connector and declared is not None and mail.connector not in declared:
            problems.append(
                ("sms.to_email.connector", f"no connector named {mail.connector!r} in this file")
            )
        for i, number in enumerate(parsed.subscribers):
            try:
                clean_number(number, "number")
            except SmsValidationError as e:
                problems.append((f"sms.subscribers.{i}", e.message))
        problems.extend(self._template_problems(parsed))
        if problems:
            raise ConfigFileError(problems)
        return parsed

    @staticmethod
    def _template_problems(parsed: SmsSettings) -> list[tuple[str, str]]:
        from templates.render import TemplateRenderError, check_template

        out = []
        for path, source in (
            ("sms.to_email.subject_template", parsed.to_email.subject_template),
            ("sms.to_email.body_template", parsed.to_email.body_template),
            ("sms.monthly_csv.file_name", parsed.monthly_csv.file_name),
        ):
            if source:
                try:
                    check_template(source, name=path)
                except TemplateRenderError as e:
                    out.append((path, str(e)))
        if parsed.monthly_csv.schedule:
            from catalog.schedules import cron_error  # Prefect's rule, not croniter's alone

            if error := cron_error(parsed.monthly_csv.schedule):
                out.append(("sms.monthly_csv.schedule", error))
        return out

    def apply(self, parsed: SmsSettings, ctx: ApplyContext) -> list[str]:
        current = get_sms_settings(ctx.catalog)
        if current == parsed:
            return []
        save_sms_settings(ctx.catalog, parsed)
        before, after = current.model_dump(mode="json"), parsed.model_dump(mode="json")
        return [f"sms.{k}: {before[k]!r} -> {after[k]!r}" for k in after if before[k] != after[k]]

    def export(self, catalog: Catalog) -> dict[str, Any] | None:
        if catalog.get_document("sms") is None:
            return None
        return get_sms_settings(catalog).model_dump(mode="json", exclude_none=True)


class ContactsSection:
    key = "contacts"
    order = 41

    def validate(self, raw: Any, ctx: ApplyContext) -> dict[str, str]:
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigFileError([(self.key, "must be a mapping of number: name")])
        problems: list[tuple[str, str]] = []
        out: dict[str, str] = {}
        seen: dict[str, str] = {}
        for number, name in raw.items():
            path = f"{self.key}.{number}"
            try:
                cleaned = clean_number(str(number), "number")
            except SmsValidationError as e:
                problems.append((path, e.message))
                continue
            if not isinstance(name, str) or not name.strip() or len(name) > 255:
                problems.append((path, "name must be a non-empty string (at most 255 characters)"))
                continue
            key = number_key(cleaned)
            if key in seen:
                problems.append((path, f"the same number as {seen[key]!r}"))
                continue
            seen[key] = str(number)
            out[cleaned] = name.strip()
        if problems:
            raise ConfigFileError(problems)
        return out

    def apply(self, parsed: dict[str, str], ctx: ApplyContext) -> list[str]:
        return replace_contacts(ctx.catalog, parsed)

    def export(self, catalog: Catalog) -> dict[str, str] | None:
        return contacts(catalog) or None
