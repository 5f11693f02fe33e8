"""Two-factor sign-in required by role (TWO_FACTOR_REQUIRED_ROLES): such a user who has not
set it up is sent to set it up, and reaches no other page first."""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app, flash, redirect, request, url_for
from flask_login import current_user

from crm.auth import second_factor
from crm.auth.permissions import Access, access_of
from crm.models.user import Role

ALL_ROLES = "all"
# What a user who must set up two-factor sign-in may still do: set it up, or sign out.
SETUP_ENDPOINTS = frozenset(
    {
        "static",
        "auth.logout",
        "account.two_factor",
        "account.two_factor_start",
        "account.two_factor_confirm",
        "account.sign_out_everywhere",
    }
)


@lru_cache(maxsize=8)
def required_roles(setting: str) -> frozenset[Role]:
    """The roles a setting names: "all", or role names separated by commas (empty: none).
    Raises ValueError naming anything that is not a role."""
    names = [name.strip().lower() for name in (setting or "").split(",") if name.strip()]
    if names == [ALL_ROLES]:
        return frozenset(Role)
    unknown = [name for name in names if name not in {role.value for role in Role}]
    if unknown:
        raise ValueError(
            f"TWO_FACTOR_REQUIRED_ROLES names {', '.join(map(repr, unknown))}: use 'all', or some of "
            f"{', '.join(role.value for role in Role)} separated by commas, or leave it empty"
        )
    return frozenset(Role(name) for name in names)


def role_requires_second_factor(role: Role, setting: str) -> bool:
    return role in required_roles(setting)


def must_set_up(role: Role, has_second_factor: bool, setting: str) -> bool:
    return not has_second_factor and role_requires_second_factor(role, setting)


def _send_to_setup():
    endpoint = request.endpoint
    if endpoint is None or endpoint in SETUP_ENDPOINTS:
        return None
    view = current_app.view_functions.get(endpoint)
    # The API's views answer to a token, never to the browser's sign-in (crm.api.auth).
    if view is None or access_of(view) is Access.PUBLIC or getattr(view, "token_auth", False):
        return None
    if not current_user.is_authenticated:
        return None
    setting = current_app.config["TWO_FACTOR_REQUIRED_ROLES"]
    if not role_requires_second_factor(current_user.role, setting) or second_factor.is_on(current_user):
        return None
    flash("Set up two-factor sign-in to continue: your role requires it.", "info")
    return redirect(url_for("account.two_factor"))


def init_app(app: Flask) -> None:
    try:
        required_roles(app.config["TWO_FACTOR_REQUIRED_ROLES"])
    except ValueError as error:
        raise RuntimeError(str(error)) from None
    app.before_request(_send_to_setup)
