from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from crm.auth.passwords import verify_password
from crm.extensions import db
from crm.models import AuditEvent, Role, UserSession
from tests.conftest import TEST_PASSWORD
from tests.naughty import naughty_strings

NEW_PASSWORD = "a brand new long passphrase"


def sign_in(app, email: str, password: str = TEST_PASSWORD):
    other = app.test_client()
    response = other.post("/login", data={"email": email, "password": password})
    return other, response


def change(client, current=TEST_PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post(
        "/account/password",
        data={"current_password": current, "new_password": new, "confirm": new if confirm is None else confirm},
    )


def test_page_renders_for_every_role(client, login):
    login(Role.PARTNER)
    response = client.get("/account/password")
    assert response.status_code == 200
    assert "Current password" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", list(Role))
def test_change_keeps_this_session_and_ends_the_others(app, client, login, role):
    user = login(role)
    other_browser, _ = sign_in(app, user.email)
    assert other_browser.get("/account/password").status_code == 200

    response = change(client)
    assert response.status_code == 302
    home = f"/organisations/{user.organisation_id}" if role is Role.PARTNER else "/dashboard"
    assert response.headers["Location"] == home

    assert client.get("/account/password").status_code == 200  # this session carries on
    response = other_browser.get("/account/password")  # the other one is signed out
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")

    assert sign_in(app, user.email, TEST_PASSWORD)[1].status_code == 401
    assert sign_in(app, user.email, NEW_PASSWORD)[1].status_code == 302


def test_change_is_audited_without_the_hash(client, login):
    user = login(Role.STAFF)
    old_hash = user.password_hash
    change(client)
    db.session.expire_all()
    assert verify_password(user.password_hash, NEW_PASSWORD)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "User", AuditEvent.entity_id == str(user.id))
    ).one()
    assert event.action == "update"
    assert event.actor_id == user.id
    assert event.changes["password_hash"] == ["(changed)", "(changed)"]
    assert set(event.changes) == {"password_hash"}
    trail = json.dumps(event.changes)
    for secret in (old_hash, user.password_hash, NEW_PASSWORD, TEST_PASSWORD):
        assert secret not in trail


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"current": "not my password"}, "That is not your current password."),
        ({"current": ""}, "Enter your current password."),
        ({"new": "", "confirm": ""}, "Enter a new password."),
        ({"new": "too short", "confirm": "too short"}, "Use at least 12 characters"),
        ({"confirm": "a different long passphrase"}, "The two new passwords do not match."),
        ({"new": TEST_PASSWORD, "confirm": TEST_PASSWORD}, "Choose a password different from your current one."),
        ({"new": "x" * 1025, "confirm": "x" * 1025}, "at most 1024"),
    ],
)
def test_invalid_input_is_refused_and_nothing_changes(app, client, login, fields, message):
    user = login(Role.STAFF)
    old_hash = user.password_hash
    [old_session] = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id))
    response = change(client, **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    assert NEW_PASSWORD not in html
    db.session.expire_all()
    assert user.password_hash == old_hash
    sessions = db.session.scalars(select(UserSession.id).where(UserSession.user_id == user.id)).all()
    assert sessions == [old_session.id]
    assert client.get("/account/password").status_code == 200


def test_guessing_the_current_password_is_rate_limited(client, login):
    login(Role.STAFF)
    for _ in range(10):
        assert change(client, current="a wrong guess").status_code == 422
    assert change(client, current="a wrong guess").status_code == 429


def test_anonymous_is_sent_to_sign_in(client):
    for method in ("GET", "POST"):
        response = client.open("/account/password", method=method)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_change_refuses_a_missing_csrf_token(app, client, login, monkeypatch):
    user = login(Role.STAFF)
    old_hash = user.password_hash
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert change(client).status_code == 400
    db.session.expire_all()
    assert user.password_hash == old_hash


@pytest.mark.parametrize("field", ["current_password", "new_password", "confirm"])
def test_hostile_input_is_refused_never_a_server_error(client, login, field):
    login(Role.STAFF)
    for text in naughty_strings()[::25]:
        data = {"current_password": "wrong but long enough", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        data[field] = text
        response = client.post("/account/password", data=data)
        assert response.status_code in (422, 429), (field, repr(text))
