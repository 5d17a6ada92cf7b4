"""The `reports:` section of the config file: scheduled call reports (docs/quality.md).

```yaml
reports:
  - name: daily-calls
    schedule: "0 6 * * *"
    timezone: Europe/London
    period: previous_day        # previous_week | previous_month
    group_by: user              # all | day | user | group | direction
    format: xlsx                # csv | xlsx
    connector: ops-mail         # an email connector (to: optional) or a storage connector
    to: [ops@example.com]
```
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter, ValidationError

from catalog.report_schedules import ReportSchedule, load_schedules, save_schedules
from catalog.repository import Catalog
from services.config.base import ApplyContext, ConfigFileError
from services.config.rules_section import _known_connectors

_LIST = TypeAdapter(list[ReportSchedule])


class ReportsSection:
    key = "reports"
    order = 60  # after connectors (which reports name)

    def validate(self, raw: Any, ctx: ApplyContext) -> list[ReportSchedule]:
        from croniter import croniter

        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise ConfigFileError([(self.key, "must be a list of scheduled reports")])
        try:
            items = _LIST.validate_python(raw)
        except ValidationError as e:
            problems = []
            for err in e.errors():
                loc = list(err["loc"])
                if loc and isinstance(loc[0], int) and loc[0] < len(raw):
                    item = raw[loc[0]]
                    loc[0] = (
                        item.get("name") if isinstance(item, dict) else None
                    ) or f"#{loc[0] + 1}"
                problems.append((".".join([self.key, *map(str, loc)]), err["msg"]))
            raise ConfigFileError(problems) from None
        problems = []
        known = _known_connectors(ctx)
        names = [r.name for r in items]
        for r in items:
            at = f"{self.key}.{r.name}"
            if names.count(r.name) > 1:
                problems.append((at, "duplicate report name"))
            if not croniter.is_valid(r.schedule):
                problems.append((f"{at}.schedule", f"not a cron expression: {r.schedule!r}"))
            try:
                ZoneInfo(r.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append((f"{at}.timezone", f"unknown time zone {r.timezone!r}"))
            if r.connector not in known:
                problems.append((f"{at}.connector", f"unknown connector {r.connector!r}"))
        if problems:
            raise ConfigFileError(problems)
        return items

    def apply(self, parsed: list[ReportSchedule], ctx: ApplyContext) -> list[str]:
        current = load_schedules(ctx.catalog)
        if current == parsed:
            return []
        save_schedules(ctx.catalog, parsed)
        before = {r.name: r for r in current}
        after = {r.name: r for r in parsed}
        lines = [f"reports.{n}: added" for n in sorted(set(after) - set(before))]
        lines += [f"reports.{n}: removed" for n in sorted(set(before) - set(after))]
        lines += [
            f"reports.{n}: changed"
            for n in sorted(set(after) & set(before))
            if after[n] != before[n]
        ]
        return lines

    def export(self, catalog: Catalog) -> Any | None:
        items = load_schedules(catalog)
        return [
            r.model_dump(mode="json", exclude_defaults=True)
            | {"name": r.name, "schedule": r.schedule, "connector": r.connector}
            for r in items
        ] or None
