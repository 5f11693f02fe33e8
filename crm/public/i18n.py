"""Which language a page is shown in, and the switch that changes it.

The order: a ?lang= link the visitor followed (remembered in the session), then the language
kept in the session, then the browser's Accept-Language, then English. Staff pages are
written in English only, so requests to other blueprints always get English.

An address no route matches (a 404, or a 405 for a method no route takes) belongs to no
blueprint. It is answered as a public page, in the visitor's language, unless its first
path segment is one of the staff pages' (/organisations/nope stays English).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from babel import support
from flask import current_app, has_request_context, request, session, url_for
from flask_babel import get_locale, refresh
from wtforms.i18n import messages_path

from crm.languages import CODES, NATIVE_NAMES

DEFAULT_LANGUAGE = "en"
SESSION_KEY = "language"
# Blueprints whose pages follow the visitor's language; None is a request no route matched (a
# 404), which follows it too unless it is under a staff address (see answers_as_public_page).
PUBLIC_BLUEPRINTS = frozenset({"public", "family"})  # family: the follow-up, opt-out and /status pages
TRANSLATED_BLUEPRINTS = PUBLIC_BLUEPRINTS | {None}


def answers_as_public_page() -> bool:
    """Whether this request's page is a public one, shown in the visitor's language: a page of
    the public blueprint, or an address no route matched that is not under a staff page's."""
    if request.blueprint not in TRANSLATED_BLUEPRINTS:
        return False
    if request.url_rule is not None:
        # A route outside any blueprint (the static files) is no public page.
        return request.blueprint in PUBLIC_BLUEPRINTS
    return first_segment(request.path) not in staff_segments()


def first_segment(path: str) -> str:
    """"organisations" for /organisations/12/edit; "" for /."""
    return path.lstrip("/").partition("/")[0]


def staff_segments() -> frozenset[str]:
    """The first path segments of every route outside the public blueprint (organisations,
    login, static...), read from the app's own URL map so that a new staff page counts."""
    return frozenset(
        first_segment(rule.rule)
        for rule in current_app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] not in PUBLIC_BLUEPRINTS
    )


def chosen_language() -> str | None:
    """The language asked for with ?lang=, if it is one we have."""
    wanted = request.args.get("lang", "")
    return wanted if wanted in CODES else None


def remember_language_choice() -> None:
    """Keep a ?lang= choice in the session, so every later page follows it.

    Flask-Babel keeps the locale it chose on `g`, which lives as long as the app context:
    forget it, so that nothing chosen before this request's own choice is reused.
    """
    wanted = chosen_language()
    if wanted and session.get(SESSION_KEY) != wanted:
        session[SESSION_KEY] = wanted
    refresh()


def select_locale() -> str:
    """Flask-Babel's locale selector (babel.init_app(app, locale_selector=select_locale))."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    if not answers_as_public_page():
        return DEFAULT_LANGUAGE
    remembered = session.get(SESSION_KEY)
    language = chosen_language() or (remembered if remembered in CODES else None)
    return language or request.accept_languages.best_match(list(CODES), default=DEFAULT_LANGUAGE)


def current_language() -> str:
    locale = get_locale()
    language = locale.language if locale is not None else DEFAULT_LANGUAGE
    return language if language in CODES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class LanguageLink:
    code: str
    label: str
    url: str
    current: bool


def language_links() -> list[LanguageLink]:
    """One link per language to the page being shown (as a GET), for the switch in the header."""
    current = current_language()
    endpoint = request.endpoint if request.url_rule is not None else None
    links = []
    for code, label in NATIVE_NAMES.items():
        if endpoint and "GET" in (request.url_rule.methods or ()):
            # A page opened from an email link keeps its token (crm.family): the switch must not break it.
            kept = {"token": request.args["token"]} if request.method == "GET" and "token" in request.args else {}
            url = url_for(endpoint, **(request.view_args or {}), **kept, lang=code)
        else:
            url = url_for("public.index", lang=code)
        links.append(LanguageLink(code=code, label=label, url=url, current=code == current))
    return links


@cache
def _wtforms_catalog(locale: str) -> support.Translations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class WTFormsMessages:
    """WTForms' stock messages in the page's language, as Flask-WTF gives them, but with each
    catalogue read from disk once per process: Flask-WTF reads it again for every request."""

    def gettext(self, string: str) -> str:
        return _wtforms_catalog(str(get_locale())).ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalog(str(get_locale())).ungettext(singular, plural, n)
