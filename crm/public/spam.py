"""Telling people from bots without asking either to solve a puzzle.

Two quiet signals, both checked on the server:
- a honeypot: a field named "website" that people never see or reach, so it stays empty;
- a signed render time: the form carries the moment it was shown, signed with the app's
  secret. A form sent back within a few seconds was not filled in by hand. A form whose
  token is missing, forged or over a day old is treated as expired: the person is asked to
  send it again, and a bot that never loaded the form gets nowhere.

Spam is still stored (marked, never routed), so staff can rescue a person caught by mistake.
"""

from __future__ import annotations

import enum
import math
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

HONEYPOT_FIELD = "website"
SIGNING_SALT = "crm.public.form-rendered"
SIGNED_PAYLOAD = "get-in-touch"
MAX_FORM_AGE = timedelta(days=1)
DEFAULT_MIN_SECONDS = 3


class Timing(enum.Enum):
    OK = "ok"
    TOO_FAST = "too_fast"
    EXPIRED = "expired"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SIGNING_SALT)


def issue_form_token() -> str:
    """A token that says, under the app's signature, when the form was shown."""
    return _serializer().dumps(SIGNED_PAYLOAD)


def token_to_show_again(token: str | None, now: datetime) -> str:
    """The render-time token for a form shown again after a refused send: the one it was sent
    with while that is still good, so the time counts from when the form was first shown (a
    family who corrects one field and sends it back at once is no bot); a fresh one otherwise."""
    if isinstance(token, str) and judge_timing(form_age(token, now), 0) is not Timing.EXPIRED:
        return token
    return issue_form_token()


def form_age(token: str | None, now: datetime) -> timedelta | None:
    """How long ago the form carrying this token was shown; None if the token is not ours."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    try:
        payload, signed_at = _serializer().loads(token, return_timestamp=True)
    except (BadData, UnicodeError, ValueError):
        return None
    if payload != SIGNED_PAYLOAD:
        return None
    return now - signed_at


def reported_form_age(seconds: object) -> timedelta | None:
    """How long a form another site showed was open, as that site reports it in seconds; None
    when it reports nothing usable. Only a short time says anything, so a long one is cut to
    MAX_FORM_AGE."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(timedelta(seconds=min(seconds, MAX_FORM_AGE.total_seconds())), MAX_FORM_AGE)


def judge_timing(age: timedelta | None, min_seconds: float, max_age: timedelta = MAX_FORM_AGE) -> Timing:
    if age is None or age < timedelta(0) or age > max_age:
        return Timing.EXPIRED
    if age < timedelta(seconds=min_seconds):
        return Timing.TOO_FAST
    return Timing.OK


def min_form_seconds() -> float:
    return float(current_app.config.get("PUBLIC_FORM_MIN_SECONDS", DEFAULT_MIN_SECONDS))


def honeypot_filled(value: object) -> bool:
    if isinstance(value, str):
        return value.strip() != ""
    return value is not None


def spam_reason(*, honeypot: bool, timing: Timing, age: timedelta | None) -> str:
    """Why a submission is taken for a bot, in staff's words; empty when it is not."""
    reasons = []
    if honeypot:
        reasons.append(f"the hidden '{HONEYPOT_FIELD}' field was filled in")
    if timing is Timing.TOO_FAST and age is not None:
        reasons.append(f"sent {age.total_seconds():.1f} s after the form was shown (people take at least a few seconds)")
    text = "; ".join(reasons)
    return text[:1].upper() + text[1:]
