"""What the pages behind an emailed link share: no Referer, and a refusal that explains itself."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import make_response, render_template, request

from crm.auth.tokens import TokenState
from crm.models import TokenPurpose

# Who sent the link and what to do about each way it can fail: (heading, explanation).
_PROBLEMS: dict[TokenPurpose, dict[TokenState, tuple[str, str]]] = {
    TokenPurpose.INVITE: {
        TokenState.USED: (
            "This invitation has already been accepted",
            "Its account exists: sign in with the password chosen then, or use “Forgot your password?”.",
        ),
        TokenState.WITHDRAWN: (
            "This invitation was withdrawn",
            "A newer invitation may have been sent: look for a later email, or ask whoever invited you.",
        ),
        TokenState.EXPIRED: (
            "This invitation has expired",
            "Invitation links work for a limited time. Ask whoever invited you to send it again.",
        ),
        TokenState.UNKNOWN: (
            "This invitation link is not valid",
            "It may have been cut short or changed. Open the link from the email again, or ask for a new invitation.",
        ),
    },
    TokenPurpose.RESET: {
        TokenState.USED: (
            "This password reset link has already been used",
            "Each link works once. Sign in with your new password, or ask for another link.",
        ),
        TokenState.WITHDRAWN: (
            "This password reset link was replaced",
            "A newer link was sent, or the password was changed since. Use the most recent email, or ask for another link.",
        ),
        TokenState.EXPIRED: (
            "This password reset link has expired",
            "Reset links work for a short time only. Ask for another one.",
        ),
        TokenState.UNKNOWN: (
            "This password reset link is not valid",
            "It may have been cut short or changed. Open the link from the email again, or ask for another one.",
        ),
    },
}


def problem_page(purpose: TokenPurpose, state: TokenState):
    """The page for a link that does not work: 400 for an address without its token, 404 for
    a token never issued (or tampered with), 410 Gone for one used, withdrawn or expired."""
    heading, explanation = _PROBLEMS[purpose][state]
    status = (404 if link_token() else 400) if state is TokenState.UNKNOWN else 410
    return (
        render_template("auth/link_problem.html", heading=heading, explanation=explanation, purpose=purpose, status=status),
        status,
    )


def link_token() -> str:
    """The token of the link this page was opened with: in the query string, which neither
    the access logs (crm.request_log, gunicorn's format in the README) nor a Referer keep."""
    return request.args.get("token", "")


def no_referrer(view: Callable[..., Any]) -> Callable[..., Any]:
    """The page's address holds a token: a link or resource it loads must not be told it."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        response = make_response(view(*args, **kwargs))
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped
