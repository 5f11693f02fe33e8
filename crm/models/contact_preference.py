"""How a requester wants to be reached, and what each way needs from them.

The rule, the same on the public form, the staff form and in the database
(``ck_inquiries_reachable``)::

    email          -> an email address
    phone call     -> a phone number
    text message   -> a phone number

A family who asks for a call or a text need not give an email address at all.
"""

from __future__ import annotations

import enum


class ContactPreference(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TEXT = "text"

    @property
    def label(self) -> str:
        """Staff's words: "Email", "Phone call", "Text message"."""
        return _LABELS[self]

    @property
    def needs(self) -> str:
        """The inquiry field this way of answering needs: "email" or "phone"."""
        return "email" if self is ContactPreference.EMAIL else "phone"


_LABELS = {
    ContactPreference.EMAIL: "Email",
    ContactPreference.PHONE: "Phone call",
    ContactPreference.TEXT: "Text message",
}


def missing_detail(preference: ContactPreference, email: str, phone: str) -> str | None:
    """The field ("email" or "phone") the requester must still fill in to be reached the way
    they chose, or None when they can be. Blank space counts as nothing."""
    given = {"email": bool(email and email.strip()), "phone": bool(phone and phone.strip())}
    return None if given[preference.needs] else preference.needs
