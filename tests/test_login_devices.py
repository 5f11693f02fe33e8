"""The sign-in throttle with device cookies (OWASP, "Slow Down Online Guessing Attacks with
Device Cookies"): guessing at an account from unknown browsers locks out unknown browsers only;
a browser that has signed in to that account before keeps getting in, under a limit of its own."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from limits import parse as parse_limit

from crm.auth.devices import DEVICE_COOKIE, DEVICE_COOKIE_PATH, SALT
from crm.models import Role, User
from tests.conftest import TEST_PASSWORD

ATTACKER_ADDRESS = "203.0.113.66"


def browser_at(app: Flask, address: str) -> FlaskClient:
    """A browser of its own (cookie jar and client address)."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def attempt(browser: FlaskClient, email: str, password: str):
    return browser.post("/login", data={"email": email, "password": password})


def limit_of(app: Flask, setting: str) -> int:
    return parse_limit(app.config[setting]).amount


def signed_in_before(app: Flask, user: User, address: str) -> FlaskClient:
    """A browser this user has signed in with (and out of): it holds a device cookie."""
    browser = browser_at(app, address)
    assert attempt(browser, user.email, TEST_PASSWORD).status_code == 302
    assert browser.post("/logout").status_code == 302
    assert browser.get_cookie(DEVICE_COOKIE, path=DEVICE_COOKIE_PATH) is not None
    return browser


def guess_until_locked_out(app: Flask, email: str) -> None:
    attacker = browser_at(app, ATTACKER_ADDRESS)
    for guess in range(limit_of(app, "LOGIN_LIMIT_PER_ACCOUNT")):
        assert attempt(attacker, email, f"guess number {guess}").status_code == 401
    assert attempt(attacker, email, "one more guess").status_code == 429


def device_cookie(browser: FlaskClient) -> str:
    return browser.get_cookie(DEVICE_COOKIE, path=DEVICE_COOKIE_PATH).value


def carrying(app: Flask, address: str, cookie_value: str) -> FlaskClient:
    browser = browser_at(app, address)
    browser.set_cookie(DEVICE_COOKIE, cookie_value, path=DEVICE_COOKIE_PATH)
    return browser


# --- the lockout no longer locks the owner out --------------------------------------------


def test_guessing_at_the_admin_locks_out_strangers_but_not_the_admins_own_browser(app, make_user) -> None:
    admin = make_user(Role.ADMIN, email="admin@example.org")
    admins_laptop = signed_in_before(app, admin, "198.51.100.10")

    guess_until_locked_out(app, admin.email)

    stranger = browser_at(app, "198.51.100.20")
    response = attempt(stranger, admin.email, TEST_PASSWORD)
    assert response.status_code == 429, "an unknown browser stays locked out, even with the right password"
    assert "Too many attempts" in response.get_data(as_text=True)

    assert attempt(admins_laptop, admin.email, TEST_PASSWORD).status_code == 302
    assert admins_laptop.get("/dashboard").status_code == 200


def test_a_known_browsers_typos_do_not_lock_the_account(app, make_user) -> None:
    user = make_user(Role.STAFF)
    own_browser = signed_in_before(app, user, "198.51.100.10")
    for _ in range(limit_of(app, "LOGIN_LIMIT_PER_ACCOUNT") + 1):
        assert attempt(own_browser, user.email, "a typo in my password").status_code == 401

    assert attempt(own_browser, user.email, TEST_PASSWORD).status_code == 302
    assert attempt(browser_at(app, "198.51.100.20"), user.email, TEST_PASSWORD).status_code == 302


def test_a_device_cookie_has_a_limit_of_its_own(app, make_user) -> None:
    """A stolen device cookie buys a few more guesses, not an unlimited supply."""
    user = make_user(Role.STAFF)
    stolen = device_cookie(signed_in_before(app, user, "198.51.100.10"))
    thief = carrying(app, ATTACKER_ADDRESS, stolen)
    for guess in range(limit_of(app, "LOGIN_LIMIT_PER_DEVICE")):
        assert attempt(thief, user.email, f"guess number {guess}").status_code == 401

    assert attempt(thief, user.email, TEST_PASSWORD).status_code == 429
    # The account itself was not locked: the owner signs in from another browser.
    assert attempt(browser_at(app, "198.51.100.20"), user.email, TEST_PASSWORD).status_code == 302


def test_the_address_limit_applies_to_known_browsers_too(app, make_user) -> None:
    user = make_user(Role.STAFF)
    own_browser = signed_in_before(app, user, ATTACKER_ADDRESS)
    attacker = browser_at(app, ATTACKER_ADDRESS)
    for guess in range(limit_of(app, "LOGIN_LIMIT_PER_IP")):
        attempt(attacker, f"guess{guess}@example.org", "wrong password")

    assert attempt(own_browser, user.email, TEST_PASSWORD).status_code == 429


# --- cookies that do not count ---------------------------------------------------------------


def test_a_device_cookie_for_another_account_does_not_get_past_the_lockout(app, make_user) -> None:
    admin, colleague = make_user(Role.ADMIN), make_user(Role.STAFF)
    colleagues_browser = signed_in_before(app, colleague, "198.51.100.10")

    guess_until_locked_out(app, admin.email)

    assert attempt(colleagues_browser, admin.email, TEST_PASSWORD).status_code == 429
    assert attempt(colleagues_browser, colleague.email, TEST_PASSWORD).status_code == 302


def _forgeries(app: Flask, genuine: str, admin: User) -> dict[str, str]:
    payload, _, signature = genuine.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return {
        "tampered signature": f"{payload}.{flipped}",
        "tampered payload": genuine.replace(genuine[2], "x" if genuine[2] != "x" else "y", 1),
        "another key": URLSafeTimedSerializer("not the app's secret key", salt=SALT).dumps(
            {"user": admin.id, "nonce": "made-up"}
        ),
        "another salt": URLSafeTimedSerializer(app.secret_key, salt="another purpose").dumps(
            {"user": admin.id, "nonce": "made-up"}
        ),
        "the session cookie's signer": app.session_interface.get_signing_serializer(app).dumps(
            {"user": admin.id, "nonce": "made-up"}
        ),
        "unsigned": json.dumps({"user": admin.id, "nonce": "made-up"}),
        "garbage": "x" * 500,
    }


def test_a_forged_or_tampered_device_cookie_does_not_get_past_the_lockout(app, make_user) -> None:
    admin, colleague = make_user(Role.ADMIN), make_user(Role.STAFF)
    genuine = device_cookie(signed_in_before(app, colleague, "198.51.100.10"))
    guess_until_locked_out(app, admin.email)

    for name, value in _forgeries(app, genuine, admin).items():
        response = attempt(carrying(app, "198.51.100.30", value), admin.email, TEST_PASSWORD)
        assert response.status_code == 429, f"{name}: {response.status_code}"


def test_a_genuine_device_cookie_is_signed_for_its_user(app, make_user) -> None:
    """The forgeries above fail for their signature, not for the shape of what they carry."""
    user = make_user(Role.STAFF)
    genuine = device_cookie(signed_in_before(app, user, "198.51.100.10"))
    serializer = URLSafeTimedSerializer(app.secret_key, salt=SALT)
    assert serializer.loads(genuine)["user"] == user.id


# --- the cookie itself ---------------------------------------------------------------------


def _set_cookie_header(response, name: str) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


@pytest.mark.parametrize("secure", [False, True])
def test_the_device_cookie_is_long_lived_http_only_same_site_lax_and_secure_as_configured(
    app, make_user, monkeypatch, secure: bool
) -> None:
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", secure)
    user = make_user(Role.STAFF)

    response = attempt(app.test_client(), user.email, TEST_PASSWORD)

    header = _set_cookie_header(response, DEVICE_COOKIE)
    assert "HttpOnly" in header
    assert re.search(r"SameSite=Lax", header, re.IGNORECASE)
    assert f"Path={DEVICE_COOKIE_PATH}" in header
    assert ("Secure" in header) is secure
    max_age = int(re.search(r"Max-Age=(\d+)", header).group(1))
    assert max_age == app.config["LOGIN_DEVICE_COOKIE_DAYS"] * 24 * 60 * 60
    assert max_age > app.config["PERMANENT_SESSION_LIFETIME"]


def test_a_failed_sign_in_sets_no_device_cookie(app, make_user) -> None:
    user = make_user(Role.STAFF)
    response = attempt(app.test_client(), user.email, "wrong password")
    assert DEVICE_COOKIE not in " ".join(response.headers.getlist("Set-Cookie"))


def test_every_sign_in_renews_the_device_cookie(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = signed_in_before(app, user, "198.51.100.10")
    first = device_cookie(browser)
    attempt(browser, user.email, TEST_PASSWORD)
    assert device_cookie(browser) != first


@pytest.mark.parametrize("email", ["a\x00b@example.org", "\x00", "tab\there@example.org", "é" * 300, ""])
def test_a_hostile_email_is_answered_with_a_message_with_or_without_a_device_cookie(app, make_user, email) -> None:
    user = make_user(Role.STAFF)
    known = signed_in_before(app, user, "198.51.100.10")
    for browser in (known, browser_at(app, "198.51.100.20")):
        response = attempt(browser, email, "a password")
        assert response.status_code == 401, response.status_code
        assert "Sign in" in response.get_data(as_text=True)
    assert attempt(known, user.email, TEST_PASSWORD).status_code == 302
