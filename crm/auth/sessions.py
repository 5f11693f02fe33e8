"""Server-side sessions: each sign-in is a UserSession row, found by the hash of the token that
the browser's session cookie carries.

Flask-Login stores what User.get_id returns, and here that is the sign-in's token, so the user
loader finds the sign-in, not merely the user. Deleting the row (signing out, signing out
everywhere, a password change or reset, deactivation) ends every copy of the cookie at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError

from crm import audit
from crm.database import utcnow
from crm.extensions import db
from crm.models import User, UserSession

# 256 random bits: a token cannot be guessed, so a fast hash of it is as good as a slow one,
# and it lets the loader find the row by an indexed equality instead of comparing secrets.
TOKEN_BYTES = 32
# The account page shows when each session was last used; it is written at most this often,
# so that reading a page does not mean writing to the database every time.
LAST_SEEN_STEP = timedelta(minutes=5)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(user: User, user_agent: str, now: datetime | None = None) -> None:
    """Add a new session for this user and give the object its token, for login_user to store
    in the cookie (the only copy of the token); the caller commits."""
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(
        UserSession(
            user=user,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + current_app.permanent_session_lifetime,
            device=device_label(user_agent),
        )
    )
    user.current_session_token = token


def sign_in(user: User, user_agent: str) -> None:
    """Open a session for this user and sign this browser in with it. Sessions past their
    expiry, anyone's, are cleared on the way: every sign-in keeps the table tidy."""
    now = utcnow()
    db.session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    open_session(user, user_agent, now)
    audit.commit(user)
    login_user(user)


def sign_out() -> None:
    """End this browser's session for good, so a copy of its cookie opens nothing either."""
    if current_user.is_authenticated:
        token_hash = hash_token(current_user.current_session_token)
        db.session.execute(delete(UserSession).where(UserSession.token_hash == token_hash))
        audit.commit(current_user._get_current_object())
    logout_user()


def sign_out_everywhere(user: User) -> None:
    """End every session of this user, this browser's included."""
    user.end_sessions()
    audit.commit(user)
    logout_user()


def load_signed_in_user(token: str) -> User | None:
    """Flask-Login's user loader: the active user of this unexpired session, or None."""
    now = utcnow()
    found = db.session.execute(
        select(UserSession, User).join(UserSession.user).where(UserSession.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    session, user = found
    if session.expires_at <= now or not user.active:
        return None
    if now - session.last_seen_at >= LAST_SEEN_STEP:
        _note_seen(session.id, now)
    user.current_session_token = token
    return user


def _note_seen(session_id: int, now: datetime) -> None:
    # The loader runs when a request first asks who is signed in, before the view has changed
    # anything; should the view already have work pending, that work is not ours to commit.
    if db.session.new or db.session.dirty or db.session.deleted:
        return
    try:
        db.session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now))
        db.session.commit()
    except OperationalError:
        # On SQLite a page that reads may find another request writing: the time is only a
        # hint, and a later request writes it, so the page goes on rather than failing.
        db.session.rollback()


def open_sessions(user: User) -> list[UserSession]:
    """This user's unexpired sessions, newest first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.expires_at > utcnow())
            .order_by(UserSession.created_at.desc(), UserSession.id.desc())
        )
    )


def is_this_browsers(session: UserSession) -> bool:
    token = current_user.current_session_token if current_user.is_authenticated else None
    return token is not None and session.token_hash == hash_token(token)


# (what the User-Agent header contains, what to call it); the first match wins, so browsers
# built on Chrome come before Chrome, and Chrome before Safari, whose name they all carry.
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "Mac"),
    ("Linux", "Linux"),
)
UNKNOWN_DEVICE = "Unknown browser"


def device_label(user_agent: str) -> str:
    """A short name a person recognises ("Firefox on Android") for a User-Agent header; only
    this label is stored, not the header."""
    user_agent = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    if browser is None:
        return UNKNOWN_DEVICE
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    return f"{browser} on {system}" if system else browser
