"""A user whose password an administrator reset reaches nothing but the password page until
they choose their own: the temporary one was seen by someone else."""

from __future__ import annotations

from flask import current_app, redirect, request, url_for
from flask_login import current_user

from crm.auth.gate import SETUP_ENDPOINTS
from crm.auth.permissions import Access, access_of
from crm.auth.redirects import is_safe_next

# The page to choose a password, and what a person may still do meanwhile. Setting up
# two-factor sign-in, when their role requires it, comes first (crm.auth.gate): each gate
# leaves the other's pages open, so the two never send a person back and forth.
ALWAYS_OPEN = frozenset({"account.password", "static"}) | SETUP_ENDPOINTS


def _is_open(endpoint: str | None) -> bool:
    if endpoint is None or endpoint in ALWAYS_OPEN:
        return True
    view = current_app.view_functions.get(endpoint)
    # Public pages (signing out, the public form, the emailed-link pages) stay reachable, and
    # the API's views answer to a token, never to the browser's sign-in (crm.api.auth).
    return view is None or access_of(view) is Access.PUBLIC or getattr(view, "token_auth", False)


def send_to_password_page():
    """before_request: redirect a user who must change their password to the page that does it."""
    if _is_open(request.endpoint) or not current_user.is_authenticated or not current_user.must_change_password:
        return None
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("account.password", next=back if is_safe_next(back) else None))
