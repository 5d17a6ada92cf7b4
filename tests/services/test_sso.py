"""Single sign-on without a browser: the ``oidc:`` section (validation with one-line errors,
secret by reference, export and round trip, switching off), the account side of a sign-in
(match by verified e-mail, creation with the default role, group mapping, refusals), the "SSO
only" flag on the password form and through the people service. The flow against the real
provider is in tests/portal/test_sso_browser.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalog.audit import Audit, AuditFilter
from catalog.directory import Directory
from catalog.users import Users
from services import sso_settings
from services.config.base import ApplyContext, ConfigFileError
from services.config.document import apply_document, export_document, sections
from services.people import People, PeopleError
from services.sso import Identity, SsoError, identity_of, sign_in

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "client-secret-from-the-environment"
GOOD = {
    "issuer": "https://login.example.com/realms/acme/",
    "client_id": "recflow",
    "client_secret": "${OIDC_SECRET}",
    "default_role": "supervisor",
    "groups_claim": "roles",
}


def _apply(catalog, raw, environ=None):  # type: ignore[no-untyped-def]
    section = next(s for s in sections() if s.key == "oidc")
    ctx = ApplyContext(
        catalog=catalog, document={"oidc": raw}, environ=environ or {"OIDC_SECRET": SECRET}
    )
    return section.apply(section.validate(raw, ctx), ctx)


def _problems(catalog, raw, environ=None) -> str:  # type: ignore[no-untyped-def]
    section = next(s for s in sections() if s.key == "oidc")
    ctx = ApplyContext(
        catalog=catalog, document={"oidc": raw}, environ=environ or {"OIDC_SECRET": SECRET}
    )
    with pytest.raises(ConfigFileError) as e:
        section.validate(raw, ctx)
    return str(e.value)


def test_section_stores_the_secret_encrypted_and_exports_the_reference(catalog):
    changes = _apply(catalog, GOOD)
    assert changes == [
        "oidc: single sign-on with https://login.example.com/realms/acme (client recflow)"
    ]
    stored = catalog.get_document("oidc")
    assert SECRET not in str(stored)  # encrypted at rest
    loaded = sso_settings.load(catalog)
    assert loaded is not None and loaded.client_secret.get_secret_value() == SECRET
    assert loaded.default_role.value == "supervisor" and loaded.scopes == [
        "openid",
        "email",
        "profile",
    ]
    exported = export_document(catalog)["oidc"]
    assert exported["client_secret"] == "${OIDC_SECRET}" and SECRET not in str(exported)
    assert _apply(catalog, exported) == []  # idempotent: the export applies back unchanged
    assert _apply(catalog, {**GOOD, "client_id": "other"}) == [
        "oidc.client_id: 'recflow' -> 'other'"
    ]
    assert _apply(catalog, GOOD, {"OIDC_SECRET": "rotated-secret"})[-1:] == [
        "oidc.client_secret: changed"
    ]


def test_a_literal_secret_is_exported_masked_and_the_mask_keeps_it(catalog):
    _apply(catalog, {**GOOD, "client_secret": "literal-secret-value"})
    exported = export_document(catalog)["oidc"]
    assert exported["client_secret"] == "**********"
    assert _apply(catalog, exported) == []
    assert sso_settings.load(catalog).client_secret.get_secret_value() == "literal-secret-value"


def test_null_switches_single_sign_on_off(catalog):
    _apply(catalog, GOOD)
    assert sso_settings.button_label(catalog) == ""
    assert _apply(catalog, None) == ["oidc: single sign-on switched off"]
    assert sso_settings.load(catalog) is None and sso_settings.button_label(catalog) is None
    assert "oidc" not in export_document(catalog)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"issuer": "http://idp.example.com"}, "oidc.issuer: Value error, must be an https URL"),
        ({"issuer": "not a url"}, "oidc.issuer: Value error, must be a URL like"),
        ({"default_role": "emperor"}, "oidc.default_role: Input should be 'admin', 'group_admin'"),
        (
            {"client_secret": "${NOT_SET}"},
            "oidc.client_secret: environment variable NOT_SET is not set",
        ),
        ({"client_secret": 42}, "oidc.client_secret: must be a string"),
        ({"scopes": ["email"]}, "oidc.scopes: Value error, must include openid"),
        ({"client_id": ""}, "oidc.client_id: String should have at least 1 character"),
        ({"tenant": "x"}, "oidc.tenant: Extra inputs are not permitted"),
        ({"client_secret": "**********"}, "oidc.client_secret: masked, but no stored secret"),
    ],
)
def test_invalid_sections_are_refused_with_one_line(catalog, change, expected):
    message = _problems(catalog, {**GOOD, **change})
    assert message.startswith(expected), message
    assert "\n" not in message


def test_missing_fields_and_wrong_shape(catalog):
    assert _problems(catalog, {"issuer": "https://idp.example.com"}).count("Field required") == 2
    assert (
        _problems(catalog, ["issuer"]) == "oidc: must be a mapping (issuer, client_id, …) or null"
    )
    with pytest.raises(ConfigFileError):  # through the whole document: nothing applied
        apply_document(catalog, {"oidc": {**GOOD, "issuer": "ftp://x"}})
    assert sso_settings.load(catalog) is None


def test_http_issuer_allowed_on_loopback_only(catalog):
    _apply(catalog, {**GOOD, "issuer": "http://127.0.0.1:9000"})
    assert sso_settings.load(catalog).issuer == "http://127.0.0.1:9000"


# ---------------------------------------------------------------- the account side


@pytest.fixture
def oidc(catalog):  # type: ignore[no-untyped-def]
    _apply(catalog, GOOD)
    d = Directory(catalog)
    d.upsert_group("sales")
    d.upsert_group("support")
    return sso_settings.load(catalog)


def _who(email="ann@example.com", verified=True, groups=None) -> Identity:  # type: ignore[no-untyped-def]
    return Identity("sub-1", email, verified, groups)


def test_first_sign_in_creates_the_user_and_maps_groups(catalog, oidc):
    done = sign_in(catalog, oidc, _who(groups=["sales", "unknown-team"]), now=NOW)
    assert done.created and done.groups == ["sales"]
    u = done.user
    assert u.role.value == "supervisor" and u.sso_only and u.last_login_at == NOW
    assert Directory(catalog).groups_of(u.id) == ["sales"]
    audit = Audit(catalog).list(AuditFilter(resource="user:ann@example.com"))
    assert [e.action for e in audit] == ["user.update", "user.create"]
    assert "not recflow groups: unknown-team" in audit[0].detail
    # the next sign-in matches the same account; the claim replaces the groups
    again = sign_in(catalog, oidc, _who(groups=["support"]), now=NOW)
    assert not again.created and again.user.id == u.id
    assert Directory(catalog).groups_of(u.id) == ["support"]
    # no claim at all: groups stay as they are
    sign_in(catalog, oidc, _who(groups=None), now=NOW)
    assert Directory(catalog).groups_of(u.id) == ["support"]


def test_existing_local_user_is_matched_by_email_and_keeps_password_login(catalog, oidc):
    made = Users(catalog).create("bob@example.com", "admin")
    done = sign_in(catalog, oidc, _who("bob@example.com"), now=NOW)
    assert not done.created and done.user.id == made.user.id and done.user.role.value == "admin"
    assert not done.user.sso_only
    assert Users(catalog).authenticate("bob@example.com", made.password, NOW).ok


@pytest.mark.parametrize(
    ("who", "code"),
    [
        (_who(""), "no_email"),
        (_who(verified=False), "email_not_verified"),
        (_who("sftp1234abcd@sftp.recflow.invalid"), "reserved"),
    ],
)
def test_identities_refused(catalog, oidc, who, code):
    with pytest.raises(SsoError) as e:
        sign_in(catalog, oidc, who, now=NOW)
    assert e.value.code == code
    assert Users(catalog).list() == []


def test_unverified_email_accepted_when_configured(catalog):
    _apply(catalog, {**GOOD, "require_verified_email": False})
    settings = sso_settings.load(catalog)
    assert sign_in(catalog, settings, _who(verified=False), now=NOW).created


def test_disabled_and_locked_accounts_are_refused(catalog, oidc):
    users = Users(catalog, max_failures=1)
    made = users.create("ann@example.com", "user")
    users.update(made.user.id, disabled=True)
    with pytest.raises(SsoError) as e:
        sign_in(catalog, oidc, _who(), now=NOW)
    assert e.value.code == "disabled"
    users.update(made.user.id, disabled=False)
    users.authenticate("ann@example.com", "wrong-password-here", NOW)  # locks (max_failures=1)
    with pytest.raises(SsoError) as e:
        sign_in(catalog, oidc, _who(), now=NOW)
    assert e.value.code == "locked"
    assert sign_in(catalog, oidc, _who(), now=NOW + timedelta(hours=1)).user.id == made.user.id


def test_claims_to_identity():
    from services.sso_settings import OidcSettings

    s = OidcSettings(
        issuer="https://i.example", client_id="c", client_secret="x", groups_claim="roles"
    )
    who = identity_of(
        s, {"sub": "1", "email": " Ann@Example.COM ", "email_verified": True, "roles": "sales"}
    )
    assert (who.email, who.email_verified, who.groups) == ("ann@example.com", True, ["sales"])
    assert identity_of(s, {"sub": "1", "email": "a@b.c"}).groups is None
    assert not identity_of(
        s, {"sub": "1", "email": "a@b.c", "email_verified": "false"}
    ).email_verified
    off = s.model_copy(update={"groups_claim": ""})
    assert identity_of(off, {"sub": "1", "roles": ["x"]}).groups is None


# ---------------------------------------------------------------- "SSO only"


def test_sso_only_refuses_the_right_password_only(catalog):
    users = Users(catalog)
    made = users.create("ann@example.com", "user", sso_only=True)
    assert users.authenticate("ann@example.com", made.password, NOW).reason == "sso_only"
    wrong = users.authenticate("ann@example.com", "wrong-password-here", NOW)
    assert wrong.reason == "bad_credentials"  # no hint for someone guessing


def test_people_service_sets_sso_only_with_audit(catalog):
    users = Users(catalog)
    admin = users.create("admin@example.com", "admin").user
    target = users.create("ann@example.com", "user").user
    people = People(catalog, admin)
    view = people.update(target.id, sso_only=True)
    assert view.sso_only and view.as_dict()["sso_only"] is True
    entry = Audit(catalog).list(AuditFilter(action="user.update"))[0]
    assert [(c.field, c.old, c.new) for c in entry.changes] == [("sso_only", False, True)]
    with pytest.raises(PeopleError) as e:
        people.update(admin.id, sso_only=True)
    assert e.value.status == 403
    made = people.create("new@example.com", "user", sso_only=True)
    assert made.user.sso_only


def test_sso_only_account_has_no_password_to_change(catalog):
    from services.people import change_own_password

    made = Users(catalog).create("ann@example.com", "user", sso_only=True)
    with pytest.raises(PeopleError) as e:
        change_own_password(catalog, made.user, made.password, "a-new-password-123")
    assert "single sign-on only" in e.value.reason


def test_client_secret_follows_key_rotation(tmp_path):
    from catalog.repository import Catalog
    from catalog.settings import RecflowSettings
    from services.secrets_rotation import rotate
    from services.sso_settings import SsoSettingsError

    def open_with(key: str, previous: str | None = None) -> Catalog:
        return Catalog.open(
            RecflowSettings(
                data_dir=tmp_path / "data", secret_key=key, secret_key_previous=previous
            )
        )

    old = open_with("old-key-0123456789")
    _apply(old, GOOD)
    old.db.dispose()
    with pytest.raises(SsoSettingsError, match="RECFLOW_SECRET_KEY_PREVIOUS"):
        sso_settings.load(open_with("new-key-0123456789"))
    both = open_with("new-key-0123456789", "old-key-0123456789")
    assert sso_settings.load(both).client_secret.get_secret_value() == SECRET
    assert rotate(both).sso_client_secret == 1
    fresh = open_with("new-key-0123456789")
    assert sso_settings.load(fresh).client_secret.get_secret_value() == SECRET
