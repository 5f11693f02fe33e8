"""Asking for a password reset link, and using one.

The answer to a request is the same whether or not the address has an account: the page
says a link is on its way if there is one, and the work is the same shape either way (one
lookup; the email, when there is one, is only queued, in the same transaction, and sent later
by the worker), so neither the words nor the time tell an account apart from none.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from crm import audit
from crm.auth import sessions, tokens
from crm.auth.passwords import hash_password
from crm.auth.services import find_user_by_email
from crm.database import utcnow
from crm.mail.outbox import public_url, queue_email, render_email
from crm.models import AccountToken, TokenPurpose, User


def _valid_minutes() -> int:
    return current_app.config["PASSWORD_RESET_VALID_MINUTES"]


def request_link(email: str) -> None:
    """Send a reset link to the active account with this address, if there is one; otherwise
    do nothing. Says nothing either way."""
    user = find_user_by_email(email)
    if user is None or not user.active:
        return
    now = utcnow()
    tokens.withdraw_reset_links(user, now)
    row, token = tokens.issue(
        TokenPurpose.RESET, email=user.email, user=user, valid_for=timedelta(minutes=_valid_minutes()), now=now
    )
    body = render_email(
        "email/password_reset.txt",
        user=user,
        url=public_url("password_reset.reset", token=token),
        valid_minutes=_valid_minutes(),
        forgot_url=public_url("password_reset.request_link"),
    )
    queue_email(kind="password_reset", to_address=user.email, subject="Reset your Backbone CRM password", body_text=body)
    audit.commit(None)


def reset(row: AccountToken, new_password: str, user_agent: str, *, open_session: bool = True) -> User:
    """Set the new password, spend the link (and any other open one), end every session of the
    user and, with `open_session`, open one for this browser (the caller signs it in; a user
    with two-factor sign-in gets none here: the code step opens it). Raises LinkRefused when
    another request spent the link first."""
    user = row.user
    if user is None or not user.active:
        raise tokens.LinkRefused(tokens.TokenState.WITHDRAWN)
    now = utcnow()
    tokens.use(row, now)
    tokens.withdraw_reset_links(user, now)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.end_sessions()
    if open_session:
        sessions.open_session(user, user_agent, now)
    audit.commit(user)
    return user
