"""Token authentication for the API's views: the token's user, their role and the token's
scope decide, never a session cookie."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request

from crm.api import tokens
from crm.auth.permissions import Access, View, role_may
from crm.database import utcnow
from crm.problems import problem

READ_ONLY_SCOPE = "This token may only read. Make a token with the write scope on your account page."
ROLE_REFUSED = "Your role may not do this, as on the web pages."


def token_required(access: Access) -> Callable[[View], View]:
    """Let the request through when it carries a working token whose user's role has `access`
    and whose scope allows the method. The user becomes `current_user` for this request only:
    nothing is written to the session, and a signed-in browser's cookie counts for nothing."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            token = tokens.find(tokens.bearer_token(request.headers.get("Authorization")))
            refusal = tokens.refusal(token, request.method)
            if refusal is tokens.Refusal.UNKNOWN or token is None:
                current_app.login_manager._update_request_context_with_user(None)
                return problem(401)
            user = token.user
            current_app.login_manager._update_request_context_with_user(user)
            if refusal is tokens.Refusal.READ_ONLY:
                return problem(403, READ_ONLY_SCOPE)
            if not role_may(user.role, access):
                return problem(403, ROLE_REFUSED)
            tokens.note_used(token, utcnow())
            g.api_token = token
            return view(*args, **kwargs)

        guarded.access = access  # type: ignore[attr-defined]
        guarded.token_auth = True  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def uses_token(view: Callable[..., Any] | None) -> bool:
    """Whether a view authenticates by API token (and so the sign-in gates leave it alone)."""
    return bool(getattr(view, "token_auth", False))
