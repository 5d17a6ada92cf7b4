"""Portal languages: every message marked in the templates is translated into every language
(extracted afresh from the templates, so a new untranslated string fails here), placeholders
agree, and the language is chosen by ?lang=, the user's setting, the group's, Accept-Language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from catalog.directory import Directory
from portal.i18n import LANGUAGES, LOCALE_DIR, from_accept_language
from tests.portal.portal_support import csrf_of, logged_in

PORTAL = Path(__file__).resolve().parents[2] / "portal"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _marked() -> set[str]:
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    out = set()
    for _file, _line, msg, _comments, _ctx in extract_from_dir(str(PORTAL), method_map, options):
        out.add(msg[0] if isinstance(msg, tuple) else msg)
    return out


@pytest.mark.parametrize("lang", [k for k in LANGUAGES if k != "en"])
def test_catalog_is_complete(lang):
    marked = _marked()
    assert len(marked) > 50
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        cat = read_po(f, locale=lang)
    have = {}
    for m in cat:
        if m.id:
            have[m.id[0] if isinstance(m.id, tuple) else m.id] = m
    missing = sorted(marked - set(have))
    assert not missing, (
        f"{lang}: not in the catalog (run pybabel extract + scripts/translations_policy.py): {missing}"
    )
    for key in marked:
        m = have[key]
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(forms), f"{lang}: untranslated {key!r}"
        if isinstance(m.id, tuple):
            assert len(forms) == cat.num_plurals, f"{lang}: {key!r} needs {cat.num_plurals} forms"
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) == set(PLACEHOLDER.findall(key)), (lang, key)


def test_accept_language_parsing():
    assert from_accept_language("de-DE,de;q=0.9,pt-BR;q=0.8,en;q=0.5") == "pt_BR"
    assert from_accept_language("ru;q=0.2, es-MX;q=0.7") == "es"
    assert from_accept_language("de, ja") is None


def test_language_choice(app, catalog, make_user, clock):
    admin = make_user("boss@example.com", "admin")
    b = logged_in(app, admin, clock)
    assert ">People<" in b.get("/people").text  # English by default
    page = b.get("/people?lang=fr").text
    assert '<html lang="fr">' in page and ">Personnes<" in page and "Ajouter une personne" in page
    assert ">Personnes<" in b.get("/people").text  # remembered
    page = b.get(f"/people/{admin.new.user.id}?lang=ru").text
    assert "Безопасность" in page and "г." in page  # Russian date format: "2 мар. 2026 г., …"

    fresh = logged_in(app, admin, clock, headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert ">Personas<" in fresh.get("/people").text

    ann = make_user("ann@example.com", "user")
    d = Directory(catalog)
    d.upsert_group("lisboa", language="pt_BR")
    d.set_user_groups(ann.new.user.id, ["lisboa"])
    a = logged_in(app, ann, clock)
    assert "Minha conta" in a.get("/me").text  # the group's language
    html = a.get("/me").text
    r = a.post("/me/language", data={"language": "ru", "csrf": csrf_of(html)})
    assert r.status_code == 200
    assert "Мой профиль" in a.get("/me").text  # the user's own setting beats the group's
    assert a.post("/me/language", data={"language": "xx", "csrf": csrf_of(html)}).status_code == 400


def test_login_page_still_renders_without_user(app):
    r = TestClient(app).get("/login?lang=pt_BR")
    assert r.status_code == 200 and '<html lang="pt-BR">' in r.text
