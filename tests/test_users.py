from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import AuditEvent, Role, User, UserSession
from tests.conftest import TEST_PASSWORD
from tests.factories import OrganisationFactory
from tests.naughty import HOSTILE_NUMBERS, naughty_sample

NEW_PASSWORD = "a brand new long passphrase"


def sign_in(app, email: str, password: str = TEST_PASSWORD):
    """A separate browser: its own cookie jar, signed in as someone else."""
    other = app.test_client()
    response = other.post("/login", data={"email": email, "password": password})
    return other, response


def new_user_data(**overrides) -> dict:
    data = {
        "email": "jordan.lee@example.org",
        "name": "Jordan Lee",
        "role": "staff",
        "organisation_id": "",
        "password": "",
        "confirm": "",
    }
    data.update(overrides)
    return data


def temporary_password_in(html: str) -> str:
    match = re.search(r'<p class="secret">([^<]+)</p>', html)
    assert match, html
    return match.group(1)


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def session_count(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def events(entity_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "User", AuditEvent.entity_id == str(entity_id))
            .order_by(AuditEvent.id)
        )
    )


def assert_no_secret_in_audit(*secrets: str) -> None:
    trail = json.dumps([event.changes for event in db.session.scalars(select(AuditEvent))])
    for secret in secrets:
        assert secret not in trail


# --- the list ------------------------------------------------------------------------------


def test_index_lists_everyone_with_role_organisation_and_status(client, login, make_user):
    login(Role.ADMIN)
    organisation = OrganisationFactory(name="Generate Health")
    make_user(Role.PARTNER, name="Pat Partner", organisation=organisation)
    make_user(Role.MANAGER, name="Morgan Manager")
    make_user(Role.STAFF, name="Sidney Gone", active=False)

    response = client.get("/users/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ("Pat Partner", "Generate Health", "Partner", "Morgan Manager", "Manager", "Sidney Gone", "Inactive"):
        assert text in html
    assert html.index("Morgan Manager") < html.index("Sidney Gone")  # active accounts first


def test_index_query_count_does_not_grow_with_users(client, login, make_user, count_queries):
    login(Role.ADMIN)
    make_user(Role.PARTNER)
    with count_queries() as few:
        client.get("/users/")
    for _ in range(8):
        make_user(Role.PARTNER)
    with count_queries() as many:
        client.get("/users/")
    assert many.count == few.count


# --- creating ----------------------------------------------------------------------------


def test_create_with_a_typed_password(app, client, login):
    admin = login(Role.ADMIN)
    response = client.post(
        "/users/new",
        data=new_user_data(email="  Jordan.Lee@Example.ORG ", password=NEW_PASSWORD, confirm=NEW_PASSWORD),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/"
    user = db.session.scalars(select(User).where(User.email == "jordan.lee@example.org")).one()
    assert (user.name, user.role, user.organisation_id, user.active) == ("Jordan Lee", Role.STAFF, None, True)
    assert user.password_hash.startswith("$argon2id$")

    _, login_response = sign_in(app, "jordan.lee@example.org", NEW_PASSWORD)
    assert login_response.status_code == 302

    (created,) = events(user.id)
    assert created.action == "create"
    assert created.actor_id == admin.id
    assert created.changes["password_hash"] == [None, "(changed)"]
    assert_no_secret_in_audit(user.password_hash, NEW_PASSWORD)


def test_create_partner_with_a_generated_password_shown_once(app, client, login):
    login(Role.ADMIN)
    organisation = OrganisationFactory(name="Bootheel Babies")
    response = client.post(
        "/users/new", data=new_user_data(role="partner", organisation_id=str(organisation.id))
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "only time it is shown" in html
    assert response.headers["Cache-Control"] == "no-store"
    temporary = temporary_password_in(html)
    assert len(temporary) >= 12

    user = db.session.scalars(select(User).where(User.email == "jordan.lee@example.org")).one()
    assert user.role is Role.PARTNER
    assert user.organisation_id == organisation.id
    assert temporary not in user.password_hash

    # Not kept anywhere: not in the session cookie, the audit trail, or any later page.
    cookie = client.get_cookie("session")
    session_data = app.session_interface.get_signing_serializer(app).loads(cookie.value) if cookie else {}
    assert temporary not in json.dumps(session_data, default=str)
    assert_no_secret_in_audit(temporary, user.password_hash)
    assert temporary not in client.get("/users/").get_data(as_text=True)
    assert temporary not in client.get(f"/users/{user.id}/edit").get_data(as_text=True)

    # A password the admin has seen: the partner chooses their own before anything else.
    partner_client, login_response = sign_in(app, user.email, temporary)
    assert login_response.status_code == 302
    assert login_response.headers["Location"] == f"/account/password?next=/organisations/{organisation.id}"
    assert partner_client.get(f"/organisations/{organisation.id}").headers["Location"].startswith("/account/password")
    changed = partner_client.post(
        login_response.headers["Location"],
        data={"current_password": temporary, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert changed.headers["Location"] == f"/organisations/{organisation.id}"
    assert partner_client.get(f"/organisations/{organisation.id}").status_code == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": ""}, "Enter their email address."),
        ({"email": "not-an-email"}, "Enter an email address like name@example.org."),
        ({"email": "EXISTING@example.org"}, "There is already an account with this email address."),
        ({"name": "  "}, "Enter the person&#39;s name."),
        ({"name": "x" * 201}, "Keep this to 200 characters or fewer."),
        ({"role": "superuser"}, "Choose a role from the list."),
        ({"role": "partner"}, "Choose the organisation this partner belongs to."),
        ({"role": "staff", "organisation_id": "ORG"}, "Only partner accounts belong to an organisation"),
        ({"role": "partner", "organisation_id": "999999"}, "Choose an organisation from the list."),
        ({"role": "partner", "organisation_id": "99999999999999999999999"}, "Choose an organisation from the list."),
        ({"role": "partner", "organisation_id": "abc"}, "Choose an organisation from the list."),
        ({"password": "short", "confirm": "short"}, "Use at least 12 characters"),
        ({"password": NEW_PASSWORD, "confirm": "something else entirely"}, "The two passwords do not match."),
        ({"password": "", "confirm": NEW_PASSWORD}, "The two passwords do not match."),
        ({"password": " " * 14, "confirm": " " * 14}, "A password cannot be only spaces."),
    ],
)
def test_create_refuses_invalid_input(client, login, make_user, overrides, message):
    login(Role.ADMIN)
    make_user(Role.STAFF, email="existing@example.org")
    organisation = OrganisationFactory()
    data = new_user_data(**{"name": "Kept Name", **overrides})
    if data["organisation_id"] == "ORG":
        data["organisation_id"] = str(organisation.id)
    before = user_count()

    response = client.post("/users/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    if "name" not in overrides:
        assert 'value="Kept Name"' in html
    assert user_count() == before
    assert NEW_PASSWORD not in html  # passwords are never echoed back


# --- editing -----------------------------------------------------------------------------


def test_edit_changes_name_role_and_organisation(client, login, make_user):
    admin = login(Role.ADMIN)
    user = make_user(Role.STAFF, name="Old Name")
    organisation = OrganisationFactory()

    html = client.get(f"/users/{user.id}/edit").get_data(as_text=True)
    assert 'value="Old Name"' in html
    assert user.email in html

    response = client.post(
        f"/users/{user.id}/edit",
        data={"name": "New Name", "role": "partner", "organisation_id": str(organisation.id)},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (user.name, user.role, user.organisation_id) == ("New Name", Role.PARTNER, organisation.id)
    update = events(user.id)[-1]
    assert update.actor_id == admin.id
    assert update.changes["role"] == ["staff", "partner"]


def test_edit_refuses_invalid_input(client, login, make_user):
    login(Role.ADMIN)
    user = make_user(Role.PARTNER, name="Pat Partner")
    response = client.post(
        f"/users/{user.id}/edit", data={"name": "Still Pat", "role": "staff", "organisation_id": str(user.organisation_id)}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Only partner accounts belong to an organisation" in html
    assert 'value="Still Pat"' in html
    db.session.expire_all()
    assert user.name == "Pat Partner"


def test_the_last_active_admin_cannot_be_demoted(client, login, make_user):
    admin = login(Role.ADMIN)
    make_user(Role.ADMIN, active=False)  # an inactive admin does not count
    response = client.post(f"/users/{admin.id}/edit", data={"name": admin.name, "role": "manager", "organisation_id": ""})
    assert response.status_code == 422
    assert "is the last active administrator" in response.get_data(as_text=True)
    db.session.expire_all()
    assert admin.role is Role.ADMIN


def test_an_admin_may_step_down_when_another_admin_remains(client, login, make_user):
    admin = login(Role.ADMIN)
    make_user(Role.ADMIN)
    response = client.post(f"/users/{admin.id}/edit", data={"name": admin.name, "role": "manager", "organisation_id": ""})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert client.get("/users/").status_code == 403


# --- deactivating ------------------------------------------------------------------------


def test_deactivation_ends_that_users_open_sessions_at_once(app, client, login, make_user):
    login(Role.ADMIN)
    victim = make_user(Role.STAFF)
    victim_browser, response = sign_in(app, victim.email)
    assert response.status_code == 302
    assert victim_browser.get("/dashboard").status_code == 200
    assert session_count(victim) == 1

    response = client.post(f"/users/{victim.id}/deactivate", data={"confirmed": "yes"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/users/{victim.id}/edit"

    response = victim_browser.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    db.session.expire_all()
    assert victim.active is False
    assert session_count(victim) == 0
    assert sign_in(app, victim.email)[1].status_code == 401
    update = events(victim.id)[-1]
    assert update.changes["active"] == [True, False]
    assert client.get("/dashboard").status_code == 200  # the admin's own session is untouched


def test_an_admin_cannot_deactivate_themselves(client, login, make_user):
    admin = login(Role.ADMIN)
    make_user(Role.ADMIN)
    response = client.post(f"/users/{admin.id}/deactivate")
    assert response.status_code == 422
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    db.session.expire_all()
    assert admin.active is True
    assert client.get("/users/").status_code == 200


def test_the_last_active_admin_cannot_be_deactivated(app_context, make_user):
    from crm.users import services

    last_admin = make_user(Role.ADMIN)
    manager = make_user(Role.MANAGER)
    with pytest.raises(services.NotAllowed, match="last active administrator"):
        services.deactivate(last_admin, manager)
    db.session.expire_all()
    assert last_admin.active is True


def test_reactivation_lets_them_sign_in_again(app, client, login, make_user):
    login(Role.ADMIN)
    user = make_user(Role.STAFF, active=False)
    response = client.post(f"/users/{user.id}/reactivate")
    assert response.status_code == 302
    db.session.expire_all()
    assert user.active is True
    assert sign_in(app, user.email)[1].status_code == 302


# --- resetting passwords -----------------------------------------------------------------


def test_reset_password_ends_sessions_and_the_new_password_works(app, client, login, make_user):
    admin = login(Role.ADMIN)
    user = make_user(Role.MANAGER)
    old_hash = user.password_hash
    their_browser, _ = sign_in(app, user.email)
    assert their_browser.get("/dashboard").status_code == 200

    response = client.post(f"/users/{user.id}/reset-password")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "only time it is shown" in html
    temporary = temporary_password_in(html)

    response = their_browser.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert sign_in(app, user.email, TEST_PASSWORD)[1].status_code == 401
    assert sign_in(app, user.email, temporary)[1].status_code == 302

    db.session.expire_all()
    update = events(user.id)[-1]
    assert update.actor_id == admin.id
    assert update.changes["password_hash"] == ["(changed)", "(changed)"]
    assert_no_secret_in_audit(temporary, old_hash, user.password_hash)


def test_admins_reset_their_own_password_on_the_account_page(client, login):
    admin = login(Role.ADMIN)
    response = client.post(f"/users/{admin.id}/reset-password")
    assert response.status_code == 422
    assert "use Change password" in response.get_data(as_text=True)
    assert client.get("/users/").status_code == 200


# --- who may -----------------------------------------------------------------------------


def _users_routes(app, user_id: int) -> list[tuple[str, str]]:
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("users."):
                continue
            from flask import url_for

            url = url_for(rule.endpoint, **({"user_id": user_id} if "user_id" in rule.arguments else {}))
            routes += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_route_list_covers_every_users_action(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("users.")}
    assert endpoints == {
        "users.index",
        "users.new",
        "users.edit",
        "users.deactivate",
        "users.reactivate",
        "users.reset_password",
        "users.reset_two_factor",
    }


@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF, Role.PARTNER])
def test_only_admins_reach_users_pages(app, client, login, make_user, role):
    login(role)
    target = make_user(Role.STAFF, name="Target")
    sign_in(app, target.email)
    before = (target.active, session_count(target), target.password_hash)
    for method, url in _users_routes(app, target.id):
        response = client.open(url, method=method, data=new_user_data(role="admin"))
        assert response.status_code == 403, (method, url)
    db.session.expire_all()
    assert (target.active, session_count(target), target.password_hash) == before
    assert user_count() == 2


def test_anonymous_is_sent_to_sign_in(app, client, make_user):
    target = make_user(Role.STAFF)
    for method, url in _users_routes(app, target.id):
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "edit"), ("POST", "edit"), ("POST", "deactivate"), ("POST", "reactivate"), ("POST", "reset-password")],
)
def test_unknown_user_is_404(client, login, method, path):
    login(Role.ADMIN)
    assert client.open(f"/users/999999/{path}", method=method).status_code == 404


@pytest.mark.parametrize("path", ["deactivate", "reactivate", "reset-password"])
def test_state_changes_need_post(client, login, make_user, path):
    login(Role.ADMIN)
    user = make_user(Role.STAFF)
    assert client.get(f"/users/{user.id}/{path}").status_code == 405


def test_state_changes_refuse_a_missing_csrf_token(app, client, login, make_user, monkeypatch):
    login(Role.ADMIN)
    user = make_user(Role.STAFF)
    sign_in(app, user.email)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    for path in ("deactivate", "reset-password"):
        assert client.post(f"/users/{user.id}/{path}").status_code == 400
    assert client.post("/users/new", data=new_user_data(password=NEW_PASSWORD, confirm=NEW_PASSWORD)).status_code == 400
    db.session.expire_all()
    assert (user.active, session_count(user)) == (True, 1)
    assert user_count() == 2


def hostile_strings() -> list[str]:
    return [*naughty_sample(), *HOSTILE_NUMBERS]


@pytest.mark.parametrize("field", ["email", "name", "role", "organisation_id", "password", "confirm"])
def test_hostile_input_is_saved_or_refused_never_a_server_error(client, login, field):
    login(Role.ADMIN)
    OrganisationFactory()
    for number, text in enumerate(hostile_strings()):
        data = new_user_data(**{"email": f"person{number}@example.org", field: text})
        response = client.post("/users/new", data=data)
        assert response.status_code in (200, 302, 422), (field, repr(text))


@pytest.mark.parametrize("field", ["name", "role", "organisation_id"])
def test_hostile_edits_are_saved_or_refused_never_a_server_error(client, login, make_user, field):
    login(Role.ADMIN)
    user = make_user(Role.STAFF)
    for text in hostile_strings():
        data = {"name": "Someone", "role": "staff", "organisation_id": "", field: text}
        response = client.post(f"/users/{user.id}/edit", data=data)
        assert response.status_code in (302, 422), (field, repr(text))
