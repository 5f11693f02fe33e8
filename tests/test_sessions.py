"""Each sign-in is a session record on the server: signing out ends it for good, and a copied
session cookie opens nothing once its session is over (OWASP ASVS 7.4)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm.auth.sessions import LAST_SEEN_STEP, device_label
from crm.database import utcnow
from crm.extensions import db
from crm.models import AuditEvent, Role, User, UserSession
from tests.conftest import TEST_PASSWORD

SIGNED_IN_PAGES = ["/dashboard", "/inquiries/"]


def sign_in(app: Flask, user: User, user_agent: str = "pytest") -> FlaskClient:
    """A browser of its own (its own cookie jar), signed in as this user."""
    browser = app.test_client()
    response = browser.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD}, headers={"User-Agent": user_agent}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return browser


def copy_of(app: Flask, browser: FlaskClient) -> FlaskClient:
    """Another client holding a copy of this browser's cookies, as a thief who copied them would."""
    thief = app.test_client()
    for cookie in browser._cookies.values():
        thief.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return thief


def assert_sent_to_login(browser: FlaskClient, path: str) -> None:
    response = browser.get(path)
    assert response.status_code == 302, f"{path} answered {response.status_code} to a session that was over"
    assert response.headers["Location"].startswith("/login"), response.headers["Location"]


def session_token_of(app: Flask, browser: FlaskClient) -> str:
    """What the session cookie carries for Flask-Login: the sign-in's token."""
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)["_user_id"]


def records_of(user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)))


# --- signing out ---------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user)
    for path in SIGNED_IN_PAGES:
        assert browser.get(path).status_code == 200
    thief = copy_of(app, browser)
    assert thief.get("/dashboard").status_code == 200, "the copy works while the session is open"

    assert browser.post("/logout").status_code == 302

    for path in SIGNED_IN_PAGES:
        assert_sent_to_login(thief, path)
        assert_sent_to_login(browser, path)


def test_signing_out_ends_only_that_sign_in(app, make_user) -> None:
    user = make_user(Role.STAFF)
    laptop, phone = sign_in(app, user), sign_in(app, user)

    laptop.post("/logout")

    assert_sent_to_login(laptop, "/dashboard")
    assert phone.get("/dashboard").status_code == 200
    assert len(records_of(user)) == 1


def test_signing_in_again_after_signing_out_works(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user)
    browser.post("/logout")
    browser.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert browser.get("/dashboard").status_code == 200


def test_signing_out_without_a_session_is_harmless(client) -> None:
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


# --- signing out everywhere ----------------------------------------------------------------


def test_sign_out_everywhere_ends_every_session_of_the_user_this_one_included(app, make_user) -> None:
    user, colleague = make_user(Role.STAFF), make_user(Role.STAFF)
    laptop, phone = sign_in(app, user), sign_in(app, user)
    thief = copy_of(app, phone)
    colleagues_browser = sign_in(app, colleague)

    response = laptop.post("/account/sign-out-everywhere")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    for browser in (laptop, phone, thief):
        for path in SIGNED_IN_PAGES:
            assert_sent_to_login(browser, path)
    assert records_of(user) == []
    assert colleagues_browser.get("/dashboard").status_code == 200, "nobody else is signed out"
    assert "signed out on every device" in laptop.get("/login").get_data(as_text=True)


def test_sign_out_everywhere_needs_a_post_with_a_csrf_token(app, make_user, monkeypatch) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user)
    assert browser.get("/account/sign-out-everywhere").status_code == 405
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert browser.post("/account/sign-out-everywhere").status_code == 400
    assert browser.get("/dashboard").status_code == 200
    assert len(records_of(user)) == 1


def test_sign_out_everywhere_asks_a_stranger_to_sign_in(client) -> None:
    response = client.post("/account/sign-out-everywhere")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- what ends every session ---------------------------------------------------------------


def test_a_password_reset_by_an_admin_ends_every_session(app, make_user) -> None:
    admin, user = make_user(Role.ADMIN), make_user(Role.STAFF)
    admins_browser = sign_in(app, admin)
    laptop, phone = sign_in(app, user), sign_in(app, user)

    assert admins_browser.post(f"/users/{user.id}/reset-password").status_code == 200

    for browser in (laptop, phone):
        assert_sent_to_login(browser, "/dashboard")
    assert records_of(user) == []
    assert admins_browser.get("/dashboard").status_code == 200


def test_a_password_change_keeps_this_browser_and_ends_the_others(app, make_user) -> None:
    user = make_user(Role.STAFF)
    laptop, phone = sign_in(app, user), sign_in(app, user)
    copy_of_laptop = copy_of(app, laptop)

    response = laptop.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "a brand new long passphrase",
              "confirm": "a brand new long passphrase"},
    )

    assert response.status_code == 302
    assert laptop.get("/dashboard").status_code == 200
    assert_sent_to_login(phone, "/dashboard")
    assert_sent_to_login(copy_of_laptop, "/dashboard"), "the laptop carries on with a new session"
    assert len(records_of(user)) == 1


# --- the records ---------------------------------------------------------------------------


def test_only_a_hash_of_the_token_is_stored(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user, user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    token = session_token_of(app, browser)

    [record] = records_of(user)
    assert len(token) >= 40
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps([record.token_hash, record.device])
    assert record.device == "Firefox on Linux"
    assert record.expires_at == record.created_at + timedelta(seconds=app.config["PERMANENT_SESSION_LIFETIME"])


def test_every_sign_in_gets_its_own_token(app, make_user) -> None:
    user = make_user(Role.STAFF)
    tokens = {session_token_of(app, sign_in(app, user)) for _ in range(3)}
    assert len(tokens) == 3
    assert str(user.id) not in tokens


def test_a_cookie_naming_no_session_is_anonymous(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user)
    forged = app.test_client()
    serializer = app.session_interface.get_signing_serializer(app)
    for made_up in (str(user.id), user.email, "x" * 43, ""):
        forged.set_cookie(app.config["SESSION_COOKIE_NAME"], serializer.dumps({"_user_id": made_up}))
        assert_sent_to_login(forged, "/dashboard")
    assert browser.get("/dashboard").status_code == 200


def test_an_expired_session_is_refused_and_cleared_at_the_next_sign_in(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user)
    [record] = records_of(user)
    lifetime = timedelta(seconds=app.config["PERMANENT_SESSION_LIFETIME"])
    record.created_at = record.last_seen_at = utcnow() - lifetime - timedelta(minutes=1)
    record.expires_at = record.created_at + lifetime
    db.session.commit()

    assert_sent_to_login(browser, "/dashboard")

    sign_in(app, make_user(Role.STAFF))
    assert records_of(user) == []


def test_last_seen_is_noted_now_and_then_not_on_every_request(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user)
    [record] = records_of(user)
    signed_in_at = record.last_seen_at

    browser.get("/dashboard")
    assert records_of(user)[0].last_seen_at == signed_in_at

    [record] = records_of(user)
    record.created_at = record.last_seen_at = signed_in_at - LAST_SEEN_STEP
    db.session.commit()
    browser.get("/dashboard")
    assert records_of(user)[0].last_seen_at >= signed_in_at


def test_a_deactivated_users_session_is_refused(app, make_user) -> None:
    user = make_user(Role.STAFF)
    browser = sign_in(app, user)
    user.active = False
    db.session.commit()
    assert_sent_to_login(browser, "/dashboard")


def test_the_audit_trail_holds_no_session_token(app, make_user) -> None:
    admin, user = make_user(Role.ADMIN), make_user(Role.STAFF)
    browser = sign_in(app, user)
    tokens = [session_token_of(app, browser)]
    browser.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "a brand new long passphrase",
              "confirm": "a brand new long passphrase"},
    )
    tokens.append(session_token_of(app, browser))
    sign_in(app, admin).post(f"/users/{user.id}/deactivate")

    trail = json.dumps([event.changes for event in db.session.scalars(select(AuditEvent))])
    assert trail != "[]"
    for token in tokens:
        assert token not in trail
        assert hashlib.sha256(token.encode()).hexdigest() not in trail
    assert db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.entity_type == "UserSession")
    ) == 0


# --- the account page ----------------------------------------------------------------------


def test_the_account_page_lists_open_sessions_and_offers_to_end_them(app, make_user) -> None:
    user = make_user(Role.MANAGER, name="Robin Account")
    sign_in(app, user, user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1")
    browser = sign_in(app, user, user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 Safari/537.36")

    response = browser.get("/account/")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Robin Account" in html
    assert "Manager" in html
    assert user.email in html
    assert 'href="/account/password"' in html
    assert "2 open sessions" in html
    assert "Safari on iPhone" in html
    assert "Chrome on Windows" in html
    assert "This browser" in html
    assert 'action="/account/sign-out-everywhere"' in html
    assert 'name="csrf_token"' in html


def test_the_header_links_to_the_account_page(app, make_user) -> None:
    browser = sign_in(app, make_user(Role.PARTNER))
    assert 'href="/account/"' in browser.get("/account/password").get_data(as_text=True)


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on Windows"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on Mac"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
        ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1", "Chrome on iPad"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
        ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", "Opera on Windows"),
        ("curl/8.5.0", "Unknown browser"),
        ("", "Unknown browser"),
        ("<script>alert(1)</script>" * 100, "Unknown browser"),
    ],
)
def test_device_label(user_agent: str, label: str) -> None:
    assert device_label(user_agent) == label
