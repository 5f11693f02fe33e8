"""Personal API tokens: made on the account page, shown once, kept as a SHA-256, revocable.

A token is `bcrm_` and 256 random bits: it cannot be guessed, so a fast hash finds it by an
indexed equality, and the row found is compared once more in constant time. Whether a token
opens a request is a plain rule over the row, its user and the method (`refusal`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from crm import audit
from crm.database import utcnow
from crm.extensions import db
from crm.models import ApiToken, TokenScope, User

PREFIX = "bcrm_"
TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 100
HINT_LENGTH = len(PREFIX) + 6
MAX_TOKENS_PER_USER = 20
# The account page shows when each token was last used; it is written at most this often, so
# that a script reading page after page does not write to the database on every request.
LAST_USED_STEP = timedelta(minutes=1)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TooManyTokens(ValueError):
    pass


class Refusal(enum.Enum):
    """Why a token does not open a request; the API answers 401 or 403 accordingly."""

    UNKNOWN = "unknown"  # missing, mistyped, revoked, or its user deactivated: 401
    READ_ONLY = "read_only"  # a read token sent with a write: 403


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create(user: User, name: str, scope: TokenScope, now: datetime | None = None) -> NewToken:
    """Make a token for `user` and commit it, audited; raises TooManyTokens past the limit."""
    active = db.session.scalar(
        select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    if active >= MAX_TOKENS_PER_USER:
        raise TooManyTokens
    secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(
        user=user, name=name, scope=scope, token_hash=hash_token(secret), hint=secret[:HINT_LENGTH], created_at=now or utcnow()
    )
    db.session.add(token)
    audit.commit(user)
    return NewToken(token=token, secret=secret)


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens, the working ones first, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def token_of(user: User, token_id: int) -> ApiToken | None:
    """One of the user's own tokens; None for anyone else's, so ids cannot be probed."""
    token = db.session.get(ApiToken, token_id)
    return token if token is not None and token.user_id == user.id else None


def revoke(token: ApiToken, actor: User, now: datetime | None = None) -> bool:
    """Revoke the token; False (and nothing written) if it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now or utcnow()
    audit.commit(actor)
    return True


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header; None when there is none."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    return value


def find(secret: str | None) -> ApiToken | None:
    """The token row for this secret, whatever its state; None if there is none."""
    if not secret or len(secret) > MAX_TOKEN_LENGTH or not secret.isascii():
        return None
    digest = hash_token(secret)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


def refusal(token: ApiToken | None, method: str) -> Refusal | None:
    """Why `token` may not make a request of `method`; None when it may."""
    if token is None or token.revoked_at is not None or not token.user.active:
        return Refusal.UNKNOWN
    if method.upper() not in READ_METHODS and token.scope is not TokenScope.WRITE:
        return Refusal.READ_ONLY
    return None


def note_used(token: ApiToken, now: datetime) -> None:
    """Record when the token was last used, at most once per LAST_USED_STEP. Nothing else is
    pending at this point of a request; on SQLite a reading request may find another writing,
    and the time is only a hint that a later request writes."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_STEP:
        return
    try:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        db.session.commit()
    except OperationalError:
        db.session.rollback()
