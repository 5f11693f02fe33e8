"""Two-factor sign-in through the app: turning it on, the code step after the password,
recovery codes, throttling, the role requirement, an admin's reset and the audit trail."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from config import TestConfig
from crm import create_app
from crm.auth import pending, recovery_codes, second_factor, secret_box, totp
from crm.database import utcnow
from crm.extensions import db
from crm.models import AuditEvent, RecoveryCode, Role, UserSecondFactor
from tests.conftest import TEST_PASSWORD


def current_code(secret: str, offset: int = 0) -> str:
    return totp.code_for_step(secret, totp.step_at(utcnow()) + offset)


def enable(user) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on for this user, confirmed a minute ago (so the current code is
    still unused); returns the secret and the recovery codes."""
    second_factor.begin_setup(user)
    secret = second_factor.setup_secret(user)
    earlier = utcnow() - timedelta(seconds=60)
    codes = second_factor.confirm_setup(user, totp.code_for_step(secret, totp.step_at(earlier)), earlier)
    return secret, codes


def password_step(client, user):
    return client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})


def events(user, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "User", AuditEvent.entity_id == str(user.id), AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


def codes_in(html: str) -> list[str]:
    return re.findall(r'<code class="secret">([a-z0-9]{5}-[a-z0-9]{5})</code>', html)


# --- turning it on ------------------------------------------------------------------------------


def test_turning_it_on_shows_a_qr_code_then_ten_recovery_codes_once(client, login):
    user = login(Role.STAFF)
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "Set up two-factor sign-in" in page

    assert client.post("/account/two-factor/start").status_code == 302
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = second_factor.setup_secret(user)
    assert "<svg" in page
    assert "QR code" in page
    assert totp.grouped(secret) in page
    assert not second_factor.is_on(user)

    response = client.post("/account/two-factor/confirm", data={"code": current_code(secret)})
    assert response.status_code == 200
    codes = codes_in(response.get_data(as_text=True))
    assert len(set(codes)) == 10
    assert "only time they are shown" in response.get_data(as_text=True)
    assert second_factor.is_on(user)

    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert sorted(stored) == sorted(recovery_codes.hash_code(code) for code in codes)
    factor = second_factor.factor_of(user)
    assert secret not in factor.secret_encrypted
    [event] = events(user, "two_factor_on")
    assert event.actor_id == user.id
    assert secret not in str(event.changes)
    assert codes[0] not in str(event.changes)
    assert client.get("/account/").get_data(as_text=True).count("Manage two-factor sign-in") == 1


@pytest.mark.parametrize("typed", ["000000", "12345", "", "1234567", "12\x0034", "9" * 65])
def test_a_wrong_first_code_leaves_it_off(client, login, typed):
    user = login(Role.STAFF)
    client.post("/account/two-factor/start")
    secret = second_factor.setup_secret(user)
    if typed == "000000" and current_code(secret) == typed:
        typed = "111111"
    response = client.post("/account/two-factor/confirm", data={"code": typed})
    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert not second_factor.is_on(user)
    assert db.session.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id)) == 0


def test_confirming_without_a_setup_under_way_sends_back(client, login):
    login(Role.STAFF)
    response = client.post("/account/two-factor/confirm", data={"code": "123456"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/two-factor")


# --- the code step ------------------------------------------------------------------------------


def test_after_the_password_nothing_opens_until_the_code(app, client, make_user):
    user = make_user(Role.STAFF)
    secret, _ = enable(user)

    response = password_step(client, user)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login/code")
    assert client.get("/dashboard").status_code == 302
    assert client.get("/account/").headers["Location"].startswith("/login")

    response = client.post("/login/code", data={"code": current_code(secret)})
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200


def test_a_wrong_code_is_refused_counted_and_audited(client, make_user):
    user = make_user(Role.STAFF)
    secret, _ = enable(user)
    password_step(client, user)
    wrong = "000000" if current_code(secret) != "000000" else "111111"

    response = client.post("/login/code", data={"code": wrong})
    assert response.status_code == 401
    assert "not right" in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    assert second_factor.factor_of(user).failed_attempts == 1
    [failure] = events(user, "two_factor_failed")
    assert failure.changes == {"failed_codes": [0, 1]}
    assert failure.actor_id is None

    assert client.post("/login/code", data={"code": current_code(secret)}).status_code == 302
    assert second_factor.factor_of(user).failed_attempts == 0


def test_a_code_opens_one_sign_in_only(app, make_user):
    user = make_user(Role.STAFF)
    secret, _ = enable(user)
    code = current_code(secret)
    first, second = app.test_client(), app.test_client()
    password_step(first, user)
    password_step(second, user)
    assert first.post("/login/code", data={"code": code}).status_code == 302
    assert second.post("/login/code", data={"code": code}).status_code == 401


def test_the_next_address_is_kept_through_the_code_step(client, make_user):
    user = make_user(Role.STAFF)
    secret, _ = enable(user)
    client.post("/login?next=/contacts/", data={"email": user.email, "password": TEST_PASSWORD})
    response = client.post("/login/code", data={"code": current_code(secret)})
    assert response.headers["Location"] == "/contacts/"


def test_the_code_step_without_a_password_step_goes_to_sign_in(client):
    response = client.get("/login/code")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert client.post("/login/code", data={"code": "123456"}).status_code == 302


@pytest.mark.parametrize(
    "entry",
    [
        {"user": "1", "since": 0, "next": ""},
        {"user": None, "since": None},
        "not a dict",
        {"since": 1},
    ],
)
def test_a_strange_pending_entry_goes_to_sign_in(client, entry):
    with client.session_transaction() as session:
        session[pending.SESSION_KEY] = entry
    response = client.post("/login/code", data={"code": "123456"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")


def test_a_password_step_lapses_after_ten_minutes(client, make_user):
    user = make_user(Role.STAFF)
    secret, _ = enable(user)
    password_step(client, user)
    with client.session_transaction() as session:
        session[pending.SESSION_KEY] = {**session[pending.SESSION_KEY], "since": int(time.time()) - 11 * 60}
    response = client.post("/login/code", data={"code": current_code(secret)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert client.get("/dashboard").status_code == 302


def test_a_user_deactivated_after_the_password_cannot_finish(client, make_user):
    user = make_user(Role.STAFF)
    secret, _ = enable(user)
    password_step(client, user)
    user.active = False
    db.session.commit()
    assert client.post("/login/code", data={"code": current_code(secret)}).headers["Location"].endswith("/login")
    assert client.get("/dashboard").status_code == 302


def test_guessing_codes_is_throttled_per_account(app, make_user):
    user = make_user(Role.STAFF)
    secret, _ = enable(user)
    guesser = app.test_client()
    password_step(guesser, user)
    wrong = "000000" if current_code(secret) != "000000" else "111111"
    for _ in range(5):
        assert guesser.post("/login/code", data={"code": wrong}).status_code == 401
    assert guesser.post("/login/code", data={"code": current_code(secret)}).status_code == 429
    # Another browser that has the password is held by the same account limit.
    other = app.test_client()
    password_step(other, user)
    assert other.post("/login/code", data={"code": current_code(secret)}).status_code == 429
    assert second_factor.factor_of(user).failed_attempts == 5
    assert [event.changes["failed_codes"][1] for event in events(user, "two_factor_failed")] == [1, 2, 3, 4, 5]


# --- recovery codes ---------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(app, make_user):
    user = make_user(Role.STAFF)
    _, codes = enable(user)
    first = app.test_client()
    password_step(first, user)
    response = first.post("/login/code", data={"code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302
    assert first.get("/dashboard").status_code == 200
    assert second_factor.recovery_codes_left(user) == 9
    [used] = events(user, "recovery_code_used")
    assert used.changes == {"recovery_codes_left": [10, 9]}

    second = app.test_client()
    password_step(second, user)
    assert second.post("/login/code", data={"code": codes[3]}).status_code == 401


def test_another_users_recovery_code_does_not_work(client, make_user):
    user, other = make_user(Role.STAFF), make_user(Role.STAFF)
    enable(user)
    _, others_codes = enable(other)
    password_step(client, user)
    assert client.post("/login/code", data={"code": others_codes[0]}).status_code == 401


def test_new_recovery_codes_replace_the_old_ones(app, client, make_user):
    user = make_user(Role.STAFF)
    secret, old_codes = enable(user)
    password_step(client, user)
    client.post("/login/code", data={"code": current_code(secret)})

    response = client.post("/account/two-factor/recovery-codes", data={"code": old_codes[0]})
    assert response.status_code == 200
    new_codes = codes_in(response.get_data(as_text=True))
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert events(user, "recovery_codes_new")[0].changes == {"recovery_codes_left": [9, 10]}

    browser = app.test_client()
    password_step(browser, user)
    assert browser.post("/login/code", data={"code": old_codes[1]}).status_code == 401
    assert browser.post("/login/code", data={"code": new_codes[1]}).status_code == 302


def test_new_recovery_codes_need_a_right_code(client, make_user):
    user = make_user(Role.STAFF)
    secret, codes = enable(user)
    password_step(client, user)
    client.post("/login/code", data={"code": codes[0]})
    response = client.post("/account/two-factor/recovery-codes", data={"code": "aaaaa-aaaaa"})
    assert response.status_code == 422
    assert second_factor.recovery_codes_left(user) == 9


# --- turning it off, secrets after a key rotation ------------------------------------------------


def test_turning_it_off_needs_a_code(client, make_user):
    user = make_user(Role.STAFF)
    secret, codes = enable(user)
    password_step(client, user)
    client.post("/login/code", data={"code": codes[0]})

    response = client.post("/account/two-factor/off", data={"off-code": "aaaaa-aaaaa"})
    assert response.status_code == 422
    assert second_factor.is_on(user)

    response = client.post("/account/two-factor/off", data={"off-code": current_code(secret)})
    assert response.status_code == 302
    assert not second_factor.is_on(user)
    assert db.session.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id)) == 0
    assert events(user, "two_factor_off")[0].actor_id == user.id

    client.post("/logout")
    assert password_step(client, user).headers["Location"].endswith("/dashboard")


def test_turning_off_or_new_codes_when_it_is_off_explains(client, login):
    login(Role.STAFF)
    for url, field in (("/account/two-factor/off", "off-code"), ("/account/two-factor/recovery-codes", "code")):
        response = client.post(url, data={field: "123456"})
        assert response.status_code == 302


def test_after_a_secret_key_rotation_a_recovery_code_still_signs_in(client, make_user):
    user = make_user(Role.STAFF)
    secret, codes = enable(user)
    factor = second_factor.factor_of(user)
    factor.secret_encrypted = secret_box.seal(secret, "the secret key before it was rotated, long enough")
    db.session.commit()
    password_step(client, user)
    assert client.post("/login/code", data={"code": current_code(secret)}).status_code == 401
    assert client.post("/login/code", data={"code": codes[0]}).status_code == 302


# --- required by role ------------------------------------------------------------------------


def test_a_required_role_without_it_reaches_only_the_setup(app, client, login, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "admin,manager")
    user = login(Role.MANAGER)
    for url in ("/dashboard", "/contacts/", "/account/", "/account/password", "/reports/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].endswith("/account/two-factor"), url
    assert client.post("/contacts/new", data={}).headers["Location"].endswith("/account/two-factor")
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "Your role requires two-factor sign-in" in page

    client.post("/account/two-factor/start")
    secret = second_factor.setup_secret(user)
    assert client.post("/account/two-factor/confirm", data={"code": current_code(secret)}).status_code == 200
    assert client.get("/dashboard").status_code == 200


def test_roles_not_required_are_not_sent_to_setup(app, client, login, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "admin,manager")
    login(Role.STAFF)
    assert client.get("/dashboard").status_code == 200


def test_all_roles_can_be_required(app, client, login, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "all")
    login(Role.PARTNER)
    assert client.get("/account/").headers["Location"].endswith("/account/two-factor")
    assert client.post("/logout").status_code == 302


def test_a_setting_naming_no_role_stops_the_app_at_start():
    with pytest.raises(RuntimeError, match="TWO_FACTOR_REQUIRED_ROLES"):
        create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://", TWO_FACTOR_REQUIRED_ROLES="admins")


# --- an admin's reset -----------------------------------------------------------------------


def test_an_admin_resets_a_users_second_factor_after_confirming(app, client, login, make_user):
    admin = login(Role.ADMIN)
    user = make_user(Role.STAFF)
    enable(user)
    assert "Reset two-factor sign-in" in client.get(f"/users/{user.id}/edit").get_data(as_text=True)

    response = client.post(f"/users/{user.id}/reset-two-factor")
    assert response.status_code == 200
    assert "Reset" in response.get_data(as_text=True)
    assert second_factor.is_on(user)

    response = client.post(f"/users/{user.id}/reset-two-factor", data={"confirmed": "yes"})
    assert response.status_code == 302
    assert not second_factor.is_on(user)
    assert db.session.scalar(select(func.count(UserSecondFactor.id)).where(UserSecondFactor.user_id == user.id)) == 0
    [reset] = events(user, "two_factor_reset")
    assert reset.actor_id == admin.id
    assert password_step(app.test_client(), user).headers["Location"].endswith("/dashboard")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF, Role.PARTNER])
def test_only_admins_reset_a_second_factor(client, login, make_user, role):
    login(role)
    user = make_user(Role.STAFF)
    enable(user)
    assert client.post(f"/users/{user.id}/reset-two-factor", data={"confirmed": "yes"}).status_code == 403
    assert second_factor.is_on(user)


def test_the_command_line_resets_a_second_factor(app, make_user):
    user = make_user(Role.ADMIN)
    enable(user)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "reset-two-factor", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert "was reset" in result.output
    assert not second_factor.is_on(user)
    assert events(user, "two_factor_reset")[0].actor_id is None

    result = runner.invoke(args=["crm", "reset-two-factor", user.email])
    assert "no two-factor sign-in to reset" in result.output
    result = runner.invoke(args=["crm", "reset-two-factor", "nobody@example.org"])
    assert result.exit_code != 0
    assert "no user has the email" in result.output
