"""The `account:` section of the config file: name, type, features, legal hold, IP allow-list."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from catalog.models import AccountFeatures, AccountSettings, NetworkList
from catalog.repository import Catalog
from recflow.config_file import ApplyContext, parse_model


class FeaturesPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transcription: bool | None = None
    forced_comments: bool | None = None
    communication_reviews: bool | None = None
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
            feats.communication_reviews = False
    return merged


class AccountSection:
    key = "account"
    order = 0

    def validate(self, raw: Any, ctx: ApplyContext) -> AccountPatch:
        return parse_model(AccountPatch, raw or {}, self.key)  # type: ignore[no-any-return]

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
