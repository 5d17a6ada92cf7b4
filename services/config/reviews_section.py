"""The `reviews:` section of the config file: communication review templates (see
docs/quality.md). A list of templates, each with typed fields (short_text, long_text, dropdown,
date, toggle, slider), required or optional, with an optional weight that makes the template
scored (agent evaluation)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from catalog.models import ReviewMode
from catalog.repository import Catalog
from catalog.reviews import ReviewTemplate, save_templates, templates
from services.config.base import ApplyContext, ConfigFileError

_LIST = TypeAdapter(list[ReviewTemplate])


class ReviewsSection:
    key = "reviews"
    order = 5  # before account (mandatory reviews need a template)

    def validate(self, raw: Any, ctx: ApplyContext) -> list[ReviewTemplate]:
        if raw is None:
            raw = []
        if isinstance(raw, dict) and "templates" in raw:
            raw = raw["templates"]
        if not isinstance(raw, list):
            raise ConfigFileError([(self.key, "must be a list of review templates")])
        try:
            items = _LIST.validate_python(raw)
        except ValidationError as e:
            problems = []
            for err in e.errors():
                loc = list(err["loc"])
                if loc and isinstance(loc[0], int) and loc[0] < len(raw):
                    item = raw[loc[0]]
                    name = item.get("name") if isinstance(item, dict) else None
                    loc[0] = name or f"#{loc[0] + 1}"
                path = ".".join([self.key, *(str(p) for p in loc)])
                problems.append((path, err["msg"].removeprefix("Value error, ")))
            raise ConfigFileError(problems) from None
        names = [t.name for t in items]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigFileError([(f"{self.key}.{n}", "duplicate template name") for n in dup])
        acct = (ctx.document.get("account") or {}).get("features") or {}
        wanted = acct.get("communication_reviews") if isinstance(acct, dict) else None
        try:
            mode = ReviewMode.parse(wanted) if wanted is not None else None
        except ValueError:
            mode = None  # the account section reports the bad value
        if mode is ReviewMode.mandatory and not items:
            raise ConfigFileError(
                [(self.key, "mandatory communication reviews need at least one template")]
            )
        return items

    def apply(self, parsed: list[ReviewTemplate], ctx: ApplyContext) -> list[str]:
        current = templates(ctx.catalog)
        if [t.model_dump() for t in current] == [t.model_dump() for t in parsed]:
            return []
        save_templates(ctx.catalog, parsed)
        before = {t.name for t in current}
        after = {t.name for t in parsed}
        lines = [f"reviews.{n}: added" for n in sorted(after - before)]
        lines += [f"reviews.{n}: removed" for n in sorted(before - after)]
        old = {t.name: t for t in current}
        lines += [
            f"reviews.{t.name}: changed"
            for t in parsed
            if t.name in old and old[t.name].model_dump() != t.model_dump()
        ]
        return lines

    def export(self, catalog: Catalog) -> Any | None:
        items = templates(catalog)
        return [t.model_dump(mode="json", exclude_defaults=True) for t in items] or None
