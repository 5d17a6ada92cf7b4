"""Portal languages (issue 16): gettext catalogs (``portal/locale/<lang>/LC_MESSAGES/
messages.po``, Babel format) for English, French, Portuguese (Brazil), Russian and Spanish;
dates and numbers formatted per locale with Babel.

The language of a page: ``?lang=xx`` (remembered in a cookie), else the user's own setting,
else the first of their groups that has one, else the browser's ``Accept-Language``, else
English. The catalogs are compiled in memory from the .po files at first use (no .mo files in
the tree). The active translation lives in a context variable set by ``render`` just before the
template renders (Starlette renders in the constructor of the response, in the same context).
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {
    "en": "English",
    "fr": "Français",
    "pt_BR": "Português (Brasil)",
    "ru": "Русский",
    "es": "Español",
}
COOKIE = "rf_lang"
_current: ContextVar[str] = ContextVar("portal_language", default="en")


def normalise(tag: str | None) -> str | None:
    """``pt-br`` / ``pt`` → ``pt_BR``, ``fr-CA`` → ``fr``; None when not one of ours."""
    if not tag:
        return None
    tag = tag.strip().replace("-", "_")
    if tag in LANGUAGES:
        return tag
    base = tag.split("_", 1)[0].lower()
    return next((k for k in LANGUAGES if k.split("_", 1)[0] == base), None)


def from_accept_language(header: str) -> str | None:
    choices = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        choices.append((-q, i, tag))
    for _, _, tag in sorted(choices):
        hit = normalise(tag)
        if hit:
            return hit
    return None


@cache
def translations(lang: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def activate(lang: str) -> None:
    _current.set(lang if lang in LANGUAGES else "en")


def current() -> str:
    return _current.get()


def _gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def _locale() -> Locale:
    return Locale.parse(_current.get())


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return format_datetime(value, format="medium", locale=_locale())


def fmt_number(value: Any) -> str:
    return format_decimal(value, locale=_locale())


def install(env: Any) -> None:
    """Give a Jinja environment ``_``/``gettext``/``ngettext`` and the locale filters."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.filters["datetime"] = fmt_datetime
    env.filters["number"] = fmt_number


def negotiate(request: Any, user: Any = None, settings_of: Any = None) -> tuple[str, bool]:
    """(language, chosen by ?lang= now). ``settings_of(user) -> (own language, group
    languages)`` supplies the directory's settings."""
    asked = normalise(request.query_params.get("lang"))
    if asked:
        return asked, True
    remembered = normalise(request.cookies.get(COOKIE))
    if remembered:
        return remembered, False
    if user is not None and settings_of is not None:
        own, groups = settings_of(user)
        for tag in (own, *groups):
            hit = normalise(tag)
            if hit:
                return hit, False
    return from_accept_language(request.headers.get("accept-language", "")) or "en", False
