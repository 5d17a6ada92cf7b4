"""The `categories:` section of the config file: the admin-defined list of call categories
(and `custom_fields:`, the admin-defined custom fields). The file states the whole list:
applying it adds what is new and removes what it no longer names (unassigning those)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from catalog.repository import Catalog
from catalog.workspace import (
    CustomField,
    delete_custom_field,
    list_categories,
    list_custom_fields,
    put_custom_field,
    set_category_list,
)
from services.config.base import ApplyContext, parse_model
from services.workspace import NAME_RE


class CategoryList(RootModel[list[str]]):
    @field_validator("root")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not NAME_RE.match(name):
                raise ValueError(
                    f"{name!r} is not a category name (letters, digits, space, _ . -; max 64)"
                )
        if len(set(v)) != len(v):
            raise ValueError("a category is listed twice")
        return v


class CategoriesSection:
    key = "categories"
    order = 50

    def validate(self, raw: Any, ctx: ApplyContext) -> list[str]:
        return parse_model(CategoryList, raw or [], self.key).root  # type: ignore[no-any-return]

    def apply(self, parsed: list[str], ctx: ApplyContext) -> list[str]:
        added, removed = set_category_list(ctx.catalog, parsed)
        return [f"categories: added {n}" for n in added] + [
            f"categories: removed {n}" for n in removed
        ]

    def export(self, catalog: Catalog) -> Any | None:
        return list_categories(catalog) or None


class FieldDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    type: Literal["text", "date", "option"] = "text"
    options: list[str] = Field(default_factory=list, max_length=200)


class FieldList(RootModel[list[FieldDef]]):
    @field_validator("root")
    @classmethod
    def _unique(cls, v: list[FieldDef]) -> list[FieldDef]:
        names = [f.name for f in v]
        if len(set(names)) != len(names):
            raise ValueError("a custom field is listed twice")
        for f in v:
            if f.type == "option" and not f.options:
                raise ValueError(f"custom field {f.name}: an option list needs options")
        return v


class CustomFieldsSection:
    key = "custom_fields"
    order = 51

    def validate(self, raw: Any, ctx: ApplyContext) -> list[FieldDef]:
        return parse_model(FieldList, raw or [], self.key).root  # type: ignore[no-any-return]

    def apply(self, parsed: list[FieldDef], ctx: ApplyContext) -> list[str]:
        out = []
        have = {f.name for f in list_custom_fields(ctx.catalog)}
        for f in parsed:
            if put_custom_field(
                ctx.catalog, CustomField(name=f.name, kind=f.type, options=f.options)
            ):
                out.append(f"custom_fields: {'changed' if f.name in have else 'added'} {f.name}")
        for name in sorted(have - {f.name for f in parsed}):
            delete_custom_field(ctx.catalog, name)
            out.append(f"custom_fields: removed {name}")
        return out

    def export(self, catalog: Catalog) -> Any | None:
        fields = list_custom_fields(catalog)
        if not fields:
            return None
        return [
            {"name": f.name, "type": f.kind, **({"options": f.options} if f.options else {})}
            for f in fields
        ]
