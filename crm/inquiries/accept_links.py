"""The "Accept" link in a new-inquiry notice: signed for this purpose alone, naming the
inquiry and the contact it was sent to, and good for a week.

The link proves only where it came from; it never accepts by itself. The one who follows it
signs in and confirms with a POST (crm.inquiries.routes: confirm_accept), and it works once: the
inquiry's accepted_at, or its moving on to someone else, spends it (acceptance.link_refusal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from crm.mail.outbox import public_url

SALT = "inquiry-accept-link"
VALID_FOR = timedelta(days=7)
# A signed link is well under this long; anything longer is not one of ours.
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class AcceptLink:
    inquiry_id: int
    contact_id: int


class BadLink(Exception):
    """Tampered with, cut short, expired or not one of ours."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("expired" if expired else "bad")
        self.expired = expired


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def sign(inquiry_id: int, contact_id: int) -> str:
    return _serializer().dumps([inquiry_id, contact_id])


def url_for_contact(inquiry_id: int, contact_id: int) -> str:
    """The absolute address of the confirm page, for the notice to that contact. The token
    travels in the query string, never in the path, which access logs keep."""
    return public_url("inquiries.confirm_accept", token=sign(inquiry_id, contact_id))


def read(token: str | None) -> AcceptLink:
    """What a token names; raises BadLink."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise BadLink()
    try:
        value = _serializer().loads(token, max_age=int(VALID_FOR.total_seconds()))
    except BadData as error:
        raise BadLink(expired=isinstance(error, SignatureExpired)) from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in value)
    ):
        raise BadLink()
    return AcceptLink(inquiry_id=value[0], contact_id=value[1])
