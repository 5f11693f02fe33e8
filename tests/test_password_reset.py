"""“Forgot your password?”: the link by email, the same answer for every address, the limits,
and an administrator's reset that must be replaced at the next sign-in."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from crm.auth.passwords import verify_password
from crm.database import utcnow
from crm.extensions import db
from crm.models import AccountToken, AuditEvent, OutboundEmail, Role, UserSession
from tests.conftest import TEST_PASSWORD

NEW_PASSWORD = "a fresh passphrase to remember"
LINK = re.compile(r"(https?://\S+/reset-password\?token=\S+)")


def reset_emails() -> list[OutboundEmail]:
    return list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "password_reset").order_by(OutboundEmail.id)))


def link_path(email: OutboundEmail) -> str:
    found = LINK.search(email.body_text)
    assert found, email.body_text
    parts = urlsplit(found.group(1))
    return f"{parts.path}?{parts.query}"


def sign_in(app, email: str, password: str = TEST_PASSWORD):
    browser = app.test_client()
    return browser, browser.post("/login", data={"email": email, "password": password})


def choose(app, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    browser = app.test_client()
    return browser, browser.post(path, data={"password": password, "confirm": password if confirm is None else confirm})


def test_sign_in_page_offers_it(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/forgot-password"' in page
    assert "Forgot your password?" in client.get("/forgot-password").get_data(as_text=True)


def test_a_forgotten_password_is_reset_from_the_email(app, make_user):
    user = make_user(Role.PARTNER, email="pat@example.org")
    other_browser, _ = sign_in(app, user.email)
    assert other_browser.get("/account/").status_code == 200

    response = app.test_client().post("/forgot-password", data={"email": " PAT@example.org "})
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    [email] = reset_emails()
    assert email.to_address == "pat@example.org"
    assert LINK.search(email.body_text).group(1).startswith(app.config["PUBLIC_BASE_URL"] + "/reset-password?token=")
    path = link_path(email)

    page = app.test_client().get(path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"

    browser, response = choose(app, path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{user.organisation_id}"
    assert browser.get("/account/").status_code == 200
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    # Every other session ended; only the browser that reset it is signed in.
    assert other_browser.get("/account/").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)) == 1
    assert sign_in(app, user.email, NEW_PASSWORD)[1].status_code == 302

    # Used once; the second time it says so.
    again = app.test_client().get(path)
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    assert choose(app, path, "yet another passphrase")[1].status_code == 410

    token = path.split("token=")[1]
    trail = json.dumps([event.changes for event in db.session.scalars(select(AuditEvent))])
    assert token not in trail
    assert NEW_PASSWORD not in trail
    assert "Choose a new password here" not in trail


def test_the_answer_is_the_same_for_an_address_without_an_account(app, make_user):
    make_user(Role.STAFF, email="real@example.org")
    known = app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    unknown = app.test_client().post("/forgot-password", data={"email": "nobody@example.org"})
    inactive_user = make_user(Role.STAFF, email="gone@example.org", active=False)
    inactive = app.test_client().post("/forgot-password", data={"email": inactive_user.email})

    assert known.status_code == unknown.status_code == inactive.status_code == 200

    def text(response, address):
        return response.get_data(as_text=True).replace(address, "ADDRESS")

    assert text(known, "real@example.org") == text(unknown, "nobody@example.org") == text(inactive, "gone@example.org")
    assert [email.to_address for email in reset_emails()] == ["real@example.org"]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Enter your email address."),
        ("not an address", "Enter an email address like name@example.org."),
        ("a\x00b@example.org", "control characters"),
        ("a" * 300 + "@example.org", "254"),
    ],
)
def test_bad_addresses_are_refused_with_a_message(client, email, message):
    response = client.post("/forgot-password", data={"email": email})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert reset_emails() == []


def test_requests_are_rate_limited_whatever_the_address(app, make_user):
    make_user(Role.STAFF, email="real@example.org")
    browser = app.test_client()
    limit = int(app.config["PASSWORD_RESET_LIMIT_PER_ACCOUNT"].split()[0])
    for _ in range(limit):
        assert browser.post("/forgot-password", data={"email": "real@example.org"}).status_code == 200
    assert browser.post("/forgot-password", data={"email": "real@example.org"}).status_code == 429
    for _ in range(limit):
        assert browser.post("/forgot-password", data={"email": "nobody@example.org"}).status_code == 200
    assert browser.post("/forgot-password", data={"email": "nobody@example.org"}).status_code == 429
    assert len(reset_emails()) == limit


def test_only_the_newest_link_works(app, make_user):
    make_user(Role.STAFF, email="real@example.org")
    app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    first, second = (link_path(email) for email in reset_emails())

    response = app.test_client().get(first)
    assert response.status_code == 410
    assert "replaced" in response.get_data(as_text=True)
    assert choose(app, second)[1].status_code == 302


def test_a_link_stops_working_when_the_password_is_changed_on_the_account_page(app, make_user):
    user = make_user(Role.STAFF, email="real@example.org")
    app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    path = link_path(reset_emails()[0])

    browser, _ = sign_in(app, user.email)
    response = browser.post(
        "/account/password", data={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 302

    # Whoever reads the old email later must not undo the change the owner just made.
    response = app.test_client().get(path)
    assert response.status_code == 410
    assert "replaced" in response.get_data(as_text=True)
    assert choose(app, path, "another passphrase entirely")[1].status_code == 410
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)


def test_a_link_stops_working_when_an_administrator_resets_the_password(app, client, login, make_user):
    user = make_user(Role.STAFF, email="real@example.org")
    app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    path = link_path(reset_emails()[0])

    login(Role.ADMIN)
    assert client.post(f"/users/{user.id}/reset-password").status_code == 200

    assert app.test_client().get(path).status_code == 410
    assert choose(app, path)[1].status_code == 410


def test_expired_and_tampered_links_are_refused(app, make_user):
    make_user(Role.STAFF, email="real@example.org")
    app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    path = link_path(reset_emails()[0])

    tampered = path[:-1] + ("A" if not path.endswith("A") else "B")
    response = app.test_client().get(tampered)
    assert response.status_code == 404
    assert "not valid" in response.get_data(as_text=True)
    assert app.test_client().get("/reset-password").status_code == 400
    # An invitation's page does not take a reset link.
    assert app.test_client().get(path.replace("/reset-password", "/invitations/accept")).status_code == 404

    row = db.session.scalars(select(AccountToken)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    row.created_at = row.expires_at - timedelta(hours=1)
    db.session.commit()
    response = app.test_client().get(path)
    assert response.status_code == 410
    assert "has expired" in response.get_data(as_text=True)
    assert choose(app, path)[1].status_code == 410


def test_a_bad_new_password_keeps_the_link(app, make_user):
    make_user(Role.STAFF, email="real@example.org")
    app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    path = link_path(reset_emails()[0])

    _, response = choose(app, path, "short")
    assert response.status_code == 422
    assert "Use at least 12 characters" in response.get_data(as_text=True)
    assert choose(app, path)[1].status_code == 302


def test_an_administrators_reset_must_be_replaced_at_the_next_sign_in(app, client, login, make_user):
    login(Role.ADMIN)
    user = make_user(Role.STAFF)
    html = client.post(f"/users/{user.id}/reset-password").get_data(as_text=True)
    temporary = re.search(r'<p class="secret">([^<]+)</p>', html).group(1)

    browser, response = sign_in(app, user.email, temporary)
    assert response.headers["Location"] == "/account/password?next=/dashboard"
    for page in ("/dashboard", "/inquiries/", "/account/"):
        assert browser.get(page).headers["Location"].startswith("/account/password")
    assert browser.get("/account/password").status_code == 200
    response = browser.post(
        "/account/password?next=/dashboard",
        data={"current_password": temporary, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.headers["Location"] == "/dashboard"
    assert browser.get("/dashboard").status_code == 200
    db.session.refresh(user)
    assert user.must_change_password is False


def test_an_emailed_reset_also_clears_a_forced_change(app, make_user):
    user = make_user(Role.STAFF, email="real@example.org", must_change_password=True)
    app.test_client().post("/forgot-password", data={"email": "real@example.org"})
    browser, response = choose(app, link_path(reset_emails()[0]))
    assert response.headers["Location"] == "/dashboard"
    db.session.refresh(user)
    assert user.must_change_password is False


def test_signing_in_from_a_notice_link_lands_on_the_inquiry(app, client):
    response = client.get("/inquiries/42")
    location = response.headers["Location"]
    assert urlsplit(location).path == "/login"
    assert "next=%2Finquiries%2F42" in location or "next=/inquiries/42" in location


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_sign_in_ignores_a_next_that_leaves_the_site(app, make_user, target):
    user = make_user(Role.STAFF)
    response = app.test_client().post("/login", query_string={"next": target}, data={"email": user.email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/dashboard"


# --- with two-factor sign-in ----------------------------------------------------------------


def test_a_reset_link_does_not_skip_the_second_factor(app, make_user):
    from tests.test_two_factor import current_code, enable

    user = make_user(Role.STAFF, email="careful@example.org")
    secret, _codes = enable(user)
    app.test_client().post("/forgot-password", data={"email": user.email})

    browser, response = choose(app, link_path(reset_emails()[0]))
    assert response.headers["Location"] == "/login/code"
    assert browser.get("/dashboard").status_code == 302  # not signed in yet
    assert db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)) == 0

    response = browser.post("/login/code", data={"code": current_code(secret)})
    assert response.headers["Location"] == "/dashboard"
    assert browser.get("/dashboard").status_code == 200
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)


def test_a_forced_change_and_a_required_second_factor_do_not_send_a_user_in_circles(app, client, login, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "manager")
    user = make_user(Role.MANAGER, must_change_password=True)
    browser, response = sign_in(app, user.email)
    seen = set()
    location = response.headers["Location"]
    for _ in range(4):
        seen.add(urlsplit(location).path)
        response = browser.get(location)
        if response.status_code != 302:
            break
        location = response.headers["Location"]
    assert response.status_code == 200, seen
    assert "/account/two-factor" in seen


def test_every_answer_takes_the_same_least_time(app, make_user, monkeypatch):
    import time

    monkeypatch.setitem(app.config, "PASSWORD_RESET_ANSWER_SECONDS", 0.3)
    make_user(Role.STAFF, email="real@example.org")
    for address in ("real@example.org", "nobody@example.org"):
        started = time.monotonic()
        assert app.test_client().post("/forgot-password", data={"email": address}).status_code == 200
        assert time.monotonic() - started >= 0.3
