"""Single-use, expiring links sent by email: invitations and password resets.

A link carries `secrets.token_urlsafe(32)`; the database keeps only its SHA-256 (a token of
256 random bits cannot be guessed, so a fast hash is as good as a slow one and can be found by
an indexed equality). The row found by the hash is compared with the hash once more in
constant time, so nothing about a near miss shows in how long the answer takes.

Whether a link still works is a plain rule over the row and the time (`state_of`); the pages
it leads to say which of the reasons it does not. A row is kept ACCOUNT_TOKEN_KEEP_DAYS after
its link stopped working, for those pages, and then deleted by the account-tokens job.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, delete, or_, select, update

from crm.database import utcnow
from crm.extensions import db
from crm.models import AccountToken, TokenPurpose, User

TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 100


class TokenState(enum.Enum):
    VALID = "valid"
    USED = "used"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # mistyped, cut short, tampered with, or never issued


class LinkRefused(Exception):
    """A link that does not work, and why (its state)."""

    def __init__(self, state: TokenState) -> None:
        super().__init__(state.value)
        self.state = state


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def state_of(row: AccountToken | None, now: datetime) -> TokenState:
    """Whether a link still works at `now`. Used and withdrawn outrank expired: "this link was
    already used" is the more useful answer to someone who used it last week."""
    if row is None:
        return TokenState.UNKNOWN
    if row.used_at is not None:
        return TokenState.USED
    if row.withdrawn_at is not None:
        return TokenState.WITHDRAWN
    if now >= row.expires_at:
        return TokenState.EXPIRED
    return TokenState.VALID


def issue(purpose: TokenPurpose, *, email: str, valid_for: timedelta, now: datetime | None = None, **fields) -> tuple[AccountToken, str]:
    """Add a token row (the caller commits) and return it with the token, the only copy of
    which goes into the link."""
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = AccountToken(
        purpose=purpose, email=email, token_hash=hash_token(token), created_at=now, expires_at=now + valid_for, **fields
    )
    db.session.add(row)
    return row, token


def find(token: str | None, purpose: TokenPurpose) -> AccountToken | None:
    """The row this token was issued as, for this purpose, or None."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    wanted = hash_token(token)
    row = db.session.scalar(select(AccountToken).where(AccountToken.token_hash == wanted))
    if row is None or not hmac.compare_digest(row.token_hash, wanted) or row.purpose is not purpose:
        return None
    return row


def verify(token: str | None, purpose: TokenPurpose, now: datetime | None = None) -> AccountToken:
    """The row of a link that still works; raises LinkRefused saying why not."""
    row = find(token, purpose)
    state = state_of(row, now or utcnow())
    if state is not TokenState.VALID:
        raise LinkRefused(state)
    assert row is not None  # noqa: S101  (state_of says UNKNOWN for None)
    return row


def use(row: AccountToken, now: datetime | None = None) -> None:
    """Spend the link, once: a second request racing this one finds it already used.

    The UPDATE is conditional, so of two requests with the same link (two tabs, a double
    click) only one changes the row; the other raises LinkRefused(USED). The caller commits."""
    now = now or utcnow()
    spent = db.session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None), AccountToken.withdrawn_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise LinkRefused(TokenState.USED)
    # Kept in step with the row by hand (the UPDATE bypassed the object), and so audited too.
    row.used_at = now


def withdraw(row: AccountToken, now: datetime | None = None) -> None:
    row.withdrawn_at = now or utcnow()


def withdraw_reset_links(user: User, now: datetime | None = None) -> None:
    """End the user's open password-reset links; the caller commits. Only the newest link
    works, and none once the password has been set another way (changed, or reset by an
    administrator): an old email must not undo that."""
    now = now or utcnow()
    for row in db.session.scalars(
        select(AccountToken).where(
            AccountToken.purpose == TokenPurpose.RESET,
            AccountToken.user_id == user.id,
            AccountToken.used_at.is_(None),
            AccountToken.withdrawn_at.is_(None),
        )
    ):
        withdraw(row, now)


# --- removing the links that stopped working -------------------------------------------------


def stopped_working_before(cutoff: datetime) -> ColumnElement[bool]:
    """The rows whose link stopped working before `cutoff`: used, withdrawn or expired then (a
    link stops at the first of the three, and never works again)."""
    return or_(
        AccountToken.used_at < cutoff,
        AccountToken.withdrawn_at < cutoff,
        AccountToken.expires_at < cutoff,
    )


def remove_stopped(cutoff: datetime) -> int:
    """Delete the rows whose link stopped working before `cutoff`; the caller commits. Returns
    how many. Their hashes open nothing, and a link that old is answered as not valid."""
    removed = db.session.execute(
        delete(AccountToken).where(stopped_working_before(cutoff)).execution_options(synchronize_session=False)
    )
    return removed.rowcount


def account_tokens_job(now: datetime) -> str:
    """The account-tokens job (crm.jobs.catalogue): delete the invitation and password-reset
    rows whose link stopped working more than ACCOUNT_TOKEN_KEEP_DAYS ago."""
    days = max(current_app.config["ACCOUNT_TOKEN_KEEP_DAYS"], 0)  # never a working link
    removed = remove_stopped(now - timedelta(days=days))
    db.session.commit()
    return f"Removed {removed} invitation and password-reset link(s) that stopped working more than {days} days ago."
