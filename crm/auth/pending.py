"""A sign-in half done: the password was right, the code from the app is still to come.

Until the code, the browser is not signed in at all (no session row, nothing for Flask-Login),
so no page but the code step is reachable. What the code step needs is kept in Flask's signed
session cookie: who, since when, and where to go afterwards. It lapses after PENDING_LIFETIME.
"""

from __future__ import annotations

import time

from flask import session

from crm.extensions import db
from crm.models import User

SESSION_KEY = "two_factor_pending"
PENDING_LIFETIME_SECONDS = 10 * 60


def begin(user: User, next_url: str | None) -> None:
    session[SESSION_KEY] = {"user": user.id, "since": int(time.time()), "next": next_url or ""}


def _entry() -> dict | None:
    entry = session.get(SESSION_KEY)
    if not isinstance(entry, dict) or type(entry.get("user")) is not int or type(entry.get("since")) is not int:
        return None
    if time.time() - entry["since"] > PENDING_LIFETIME_SECONDS:
        return None
    return entry


def user_id() -> int | None:
    """The id of the pending sign-in's user, unchecked: for the rate limit's key."""
    entry = _entry()
    return entry["user"] if entry else None


def pending_user() -> User | None:
    """The active user whose password was given in this browser a moment ago, or None."""
    entry = _entry()
    if entry is None:
        return None
    user = db.session.get(User, entry["user"])
    return user if user is not None and user.active else None


def next_url() -> str | None:
    entry = _entry()
    return (entry or {}).get("next") or None


def clear() -> None:
    session.pop(SESSION_KEY, None)
