"""The follow-up's yes and no links (the opt-out link is crm.mail.opt_out's).

An answer link carries the inquiry's id, signed with a time under a salt of its own, and works
for FOLLOW_UP_LINK_DAYS; no reference, name or anything the family wrote. Its single use is
recorded in the database (crm.family.services), not here. It names the family's language, so
the page it opens speaks it.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from crm.family.rules import Answer
from crm.mail.outbox import public_url

ANSWER_SALT = "crm.family.follow-up-answer"
# A token of ours is well under this; anything longer is refused before it is read.
MAX_TOKEN_LENGTH = 200


class LinkExpired(Exception):
    """A genuine answer link, too old to use."""


def _answer_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=ANSWER_SALT)


def answer_token(inquiry_id: int) -> str:
    return _answer_serializer().dumps({"inquiry": inquiry_id})


def answer_url(inquiry_id: int, answer: Answer, language: str) -> str:
    return public_url("family.follow_up", answer=answer.value, token=answer_token(inquiry_id), lang=language)


def inquiry_of_answer_token(token: str | None) -> int | None:
    """The inquiry id an answer link was made for; None for anything we did not sign.
    Raises LinkExpired for one we signed longer ago than FOLLOW_UP_LINK_DAYS."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    max_age = current_app.config["FOLLOW_UP_LINK_DAYS"] * 24 * 60 * 60
    try:
        data = _answer_serializer().loads(token, max_age=max_age)
    except SignatureExpired:  # raised only once the signature is found good
        raise LinkExpired from None
    except BadData:
        return None
    inquiry_id = data.get("inquiry") if isinstance(data, dict) else None
    return inquiry_id if isinstance(inquiry_id, int) and not isinstance(inquiry_id, bool) else None
