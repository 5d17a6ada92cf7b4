"""The `account:` section of the config file: name, type, features, legal hold, IP allow-list."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from catalog.models import AccountFeatures, AccountSettings, NetworkList, ReviewMode
from catalog.repository import Catalog
from services.config.base import ApplyContext, ConfigFileError, parse_model


class FeaturesPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("communication_reviews", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> ReviewMode | None:
        return None if value is None else ReviewMode.parse(value)

    @field_validator("announcements")
    @classmethod
    def _announcement(cls, value: str | None) -> str | None:
        from services.announcements import canonical

        return None if value is None else canonical(value)

    transcription: bool | None = None
    forced_comments: bool | None = None
    communication_reviews: ReviewMode | None = None
    announcements: str | None = None
    dynamic_private_calls: bool | None = None


class AccountPatch(BaseModel):
    """What the file may say about the account; omitted fields keep their current value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    account_type: str | None = None
    features: FeaturesPatch | None = None
    legal_hold: bool | None = None
    ip_allow_list: NetworkList | None = None


def merge(current: AccountSettings, patch: AccountPatch) -> AccountSettings:
    data = current.model_dump()
    for key, value in patch.model_dump(exclude_none=True, exclude={"features"}).items():
        data[key] = value
    if patch.features is not None:
        data["features"].update(patch.features.model_dump(exclude_none=True))
    merged = AccountSettings.model_validate(data)
    feats: AccountFeatures = merged.features
    if feats.forced_comments and feats.communication_reviews:
        # the Focus seed: the two are mutually exclusive; the later switch wins
        if patch.features and patch.features.communication_reviews:
            feats.forced_comments = False
        else:
            feats.communication_reviews = ReviewMode.off
    return merged


class AccountSection:
    key = "account"
    order = 0

    def validate(self, raw: Any, ctx: ApplyContext) -> AccountPatch:
        patch: AccountPatch = parse_model(AccountPatch, raw or {}, self.key)
        mode = patch.features.communication_reviews if patch.features else None
        if mode is ReviewMode.mandatory and "reviews" not in ctx.document:
            from catalog.reviews import templates

            if not templates(ctx.catalog):
                raise ConfigFileError(
                    [
                        (
                            "account.features.communication_reviews",
                            "mandatory reviews need a review template (the reviews: section)",
                        )
                    ]
                )
        return patch

    def apply(self, parsed: AccountPatch, ctx: ApplyContext) -> list[str]:
        current = ctx.catalog.account()
        new = merge(current, parsed)
        if new == current:
            return []
        ctx.catalog.save_account(new)
        before, after = current.model_dump(), new.model_dump()
        return [
            f"account.{k}: {before[k]!r} -> {after[k]!r}" for k in after if before[k] != after[k]
        ]

    def export(self, catalog: Catalog) -> dict[str, Any]:
        acct = catalog.account()
        return acct.model_dump(mode="json", exclude={"account_guid", "telephony_guid"})
