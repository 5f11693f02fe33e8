from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from crm.auth import routes as auth_routes
from crm.extensions import db
from crm.models import AuditEvent, Role
from crm.password_reset import routes as password_reset_routes
from tests.conftest import TEST_PASSWORD
from tests.public_support import app_config


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_staff_login_lands_on_dashboard(client, make_user):
    user = make_user(Role.STAFF, email="Casey@Example.org")
    response = client.post("/login", data={"email": "  CASEY@example.org ", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert user.name.encode() in client.get("/dashboard").data


def test_partner_login_lands_on_own_organisation(client, make_user):
    partner = make_user(Role.PARTNER)
    response = client.post("/login", data={"email": partner.email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == f"/organisations/{partner.organisation_id}"


@pytest.mark.parametrize(
    ("email", "password"),
    [("nobody@example.org", TEST_PASSWORD), ("right@example.org", "wrong password"), ("", ""), ("x" * 300, "y")],
)
def test_bad_credentials_are_refused_with_a_message(client, make_user, email, password):
    make_user(Role.STAFF, email="right@example.org")
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code in (401, 422) or response.status_code == 401
    assert response.status_code != 302
    assert b"Sign in" in response.data


def test_inactive_user_cannot_log_in(client, make_user):
    user = make_user(Role.STAFF, active=False)
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 401
    assert b"do not match an active account" in response.data


def test_logout_ends_the_session(client, login):
    login(Role.STAFF)
    assert client.get("/dashboard").status_code == 200
    assert client.post("/logout").status_code == 302
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_ending_a_users_sessions_signs_every_browser_out(client, login):
    user = login(Role.STAFF)
    user.end_sessions()
    db.session.commit()
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_anonymous_request_is_sent_to_login_with_next(client):
    response = client.get("/organisations/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_safe_next_is_followed(client, make_user):
    user = make_user(Role.STAFF)
    response = client.post(
        "/login?next=/organisations/?q=babies", data={"email": user.email, "password": TEST_PASSWORD}
    )
    assert response.headers["Location"] == "/organisations/?q=babies"


def test_passwords_are_argon2id_and_never_audited(app):
    from crm import audit
    from crm.auth.passwords import hash_password
    from crm.models import User

    user = User(email="new@example.org", name="New", role=Role.STAFF, password_hash=hash_password(TEST_PASSWORD))
    db.session.add(user)
    audit.commit(None)
    assert user.password_hash.startswith("$argon2id$")
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.entity_type == "User", AuditEvent.entity_id == str(user.id))
    )
    assert event.changes["password_hash"] == [None, "(changed)"]


@pytest.mark.parametrize(
    ("path", "key_of"),
    [
        ("/login", auth_routes._submitted_email),
        ("/forgot-password", password_reset_routes._submitted_email),
    ],
    ids=["sign-in", "password reset"],
)
def test_the_per_account_limits_keep_no_email_address_in_the_limiter_storage(app, path, key_of):
    # The key is what Redis stores for as long as the limit lasts: it names the account by an
    # HMAC under the app's secret, the same for the same address in any case, and tells
    # nobody without the secret which address it is (a bare digest is undone by guesses).
    address = "Staff.Person@Example.org"
    keys = []
    for secret, typed in (("first-secret-" + "x" * 40, address), ("first-secret-" + "x" * 40, address.lower()),
                          ("second-secret-" + "y" * 40, address)):
        with app_config(app, SECRET_KEY=secret), app.test_request_context(path, method="POST", data={"email": typed}):
            keys.append(key_of())
    assert keys[0] == keys[1] != keys[2]
    for key in keys:
        assert "example.org" not in key.lower()
        assert "staff" not in key.lower()
        assert hashlib.sha256(address.lower().encode()).hexdigest()[:32] not in key


def test_an_unknown_email_costs_the_same_password_work_as_a_known_one(client, make_user, monkeypatch):
    # How long the answer takes is the work of argon2: an unknown address must cost as many
    # hashings as a wrong password for a real account, or the time tells which emails exist.
    from crm.auth import passwords

    real_hasher = passwords._hasher()
    operations: list[str] = []

    class CountingHasher:
        def hash(self, password: str) -> str:
            operations.append("hash")
            return real_hasher.hash(password)

        def verify(self, password_hash: str, password: str) -> bool:
            operations.append("verify")
            return real_hasher.verify(password_hash, password)

    user = make_user(Role.STAFF)
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", lambda: counting)
    # The stand-in hash an unknown email is checked against is made once per process.
    client.post("/login", data={"email": "first.stranger@example.org", "password": "not the password"})
    work = []
    for email in (user.email, "nobody@example.org", "nobody.else@example.org"):
        operations.clear()
        assert client.post("/login", data={"email": email, "password": "not the password"}).status_code == 401
        work.append(len(operations))
    assert work == [1, 1, 1]
