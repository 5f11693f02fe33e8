"""The languages inquiries are written and answered in, and contacts speak: codes and names.

Staff pages are in English and name each language in English (``LANGUAGES``,
``language_name``); the public pages name each language in itself (``NATIVE_NAMES``), for
people choosing theirs.
"""

from __future__ import annotations

CODES: tuple[str, ...] = ("en", "es")

LANGUAGES: dict[str, str] = {"en": "English", "es": "Spanish"}
NATIVE_NAMES: dict[str, str] = {"en": "English", "es": "Español"}


def language_name(code: str) -> str:
    """A language's English name; a code we do not know is shown as it is."""
    return LANGUAGES.get(code, code)


def staff_language(languages) -> str:
    """The language staff email goes to someone in: Spanish for a person who speaks Spanish and
    not English, English otherwise (and for a user linked to no contact: ``()``)."""
    spoken = set(languages or ())
    return "es" if "es" in spoken and "en" not in spoken else "en"
