"""Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

A successful sign-in leaves a long-lived, signed cookie naming the account and a random nonce.
A sign-in attempt that carries a genuine device cookie for the account it names has signed in
from this browser before: it skips the per-account limit (which only strangers' guesses fill,
so guessing at an account no longer locks its owner out) and counts against a limit of the
nonce's own instead, so a stolen cookie buys a few guesses, not an unlimited supply.

The cookie proves nothing about who is at the keyboard: the password is checked as always.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from crm.auth.services import find_user_by_email

DEVICE_COOKIE = "login_device"
# Only the sign-in page reads it, so no other request carries it.
DEVICE_COOKIE_PATH = "/login"
# Signed with the app's secret key for this purpose alone: no other signed value of the app
# (the session cookie, a CSRF token) passes for a device cookie.
SALT = "login-device-cookie"
NONCE_BYTES = 16


@dataclass(frozen=True)
class Device:
    user_id: int
    nonce: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def _lifetime_seconds() -> int:
    return current_app.config["LOGIN_DEVICE_COOKIE_DAYS"] * 24 * 60 * 60


def read(value: str | None) -> Device | None:
    """The device a cookie value names, or None when it is missing, expired, forged or tampered with."""
    if not value:
        return None
    try:
        data = _serializer().loads(value, max_age=_lifetime_seconds())
    except BadData:
        return None
    if not isinstance(data, dict):
        return None
    user_id, nonce = data.get("user"), data.get("nonce")
    if type(user_id) is not int or not isinstance(nonce, str) or not nonce:
        return None
    return Device(user_id, nonce)


def known_device_for(email: str) -> Device | None:
    """The device of this request's cookie, when it has signed in to the account of this email before."""
    device = read(request.cookies.get(DEVICE_COOKIE))
    # Asked before the form is validated: text PostgreSQL cannot hold names no account.
    if device is None or "\x00" in email:
        return None
    user = find_user_by_email(email)
    return device if user is not None and user.id == device.user_id else None


def remember(response: Response, user_id: int) -> None:
    """Give this browser a new device cookie for this account (a new nonce, and so a fresh
    limit of its own), replacing any it had."""
    value = _serializer().dumps({"user": user_id, "nonce": secrets.token_urlsafe(NONCE_BYTES)})
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=_lifetime_seconds(),
        path=DEVICE_COOKIE_PATH,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
