"""The JSON API: tokens, role rules and scopes, records read and written through the forms'
validation, cursors, problem+json errors, and inquiries sent from other sites."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm.api import paging
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.held_posts import file_held_posts
from crm.inquiries.intake import INITIATIVE_NAME, InquiryDetails
from crm.models import (
    ApiToken,
    AuditEvent,
    Grant,
    HeldPost,
    Inquiry,
    InquiryEventKind,
    Interaction,
    Organisation,
    Role,
    TokenScope,
)
from crm.problems import PROBLEM_MEDIA_TYPE
from tests import factories
from tests.api_support import bearer, token_for, user_with_token
from tests.public_support import app_config, first_topic_id, public_site

API = "/api/v1"


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM_MEDIA_TYPE
    body = response.get_json()
    assert body["status"] == status
    return body


# --- tokens on the account page --------------------------------------------------------------


def test_token_is_shown_once_and_stored_hashed(client: FlaskClient, login) -> None:
    user = login(Role.STAFF)

    response = client.post("/account/api-tokens", data={"name": "Website sync", "scope": "read"})

    assert response.status_code == 201
    assert response.headers["Referrer-Policy"] == "no-referrer"  # like every page showing a secret once
    html = response.get_data(as_text=True)
    secret = re.search(r'id="new-token" type="text" readonly value="([^"]+)"', html).group(1)
    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored.__dict__.values()).replace(stored.hint, "")
    assert stored.scope is TokenScope.READ
    # Listed afterwards by name and hint only.
    listed = client.get("/account/api-tokens").get_data(as_text=True)
    assert "Website sync" in listed
    assert secret not in listed
    assert "never used" in listed
    # The audit trail records the token, never its hash.
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "ApiToken"))
    assert event.changes["token_hash"] == [None, "(changed)"]


def test_token_form_refuses_a_missing_name_and_scope(client: FlaskClient, login) -> None:
    login(Role.STAFF)

    response = client.post("/account/api-tokens", data={"name": "  ", "scope": "admin"})

    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_revoked_token_opens_nothing(client: FlaskClient, login) -> None:
    user = login(Role.STAFF)
    secret = token_for(user, TokenScope.READ)
    assert client.get(f"{API}/me", headers=bearer(secret)).status_code == 200
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))

    response = client.post(f"/account/api-tokens/{token.id}/revoke")

    assert response.status_code == 302
    assert token.revoked_at is not None
    _problem(client.get(f"{API}/me", headers=bearer(secret)), 401)


def test_nobody_revokes_another_users_token(client: FlaskClient, login) -> None:
    other, _secret = user_with_token()
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == other.id))
    login(Role.ADMIN)

    assert client.post(f"/account/api-tokens/{token.id}/revoke").status_code == 404
    assert token.revoked_at is None


def test_last_use_is_recorded(client: FlaskClient) -> None:
    user, secret = user_with_token()

    client.get(f"{API}/me", headers=bearer(secret))

    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    db.session.refresh(token)
    assert token.last_used_at is not None
    assert utcnow() - token.last_used_at < timedelta(minutes=1)


# --- who may do what -------------------------------------------------------------------------


def test_no_token_is_a_401_even_with_a_signed_in_browser(client: FlaskClient, login) -> None:
    login(Role.ADMIN)

    body = _problem(client.get(f"{API}/organisations"), 401)

    assert "Bearer" in body["detail"]
    _problem(client.get(f"{API}/organisations", headers={"Authorization": "Bearer bcrm_nonsense"}), 401)


def test_deactivated_users_token_is_refused(client: FlaskClient) -> None:
    user, secret = user_with_token()
    user.active = False
    db.session.commit()

    _problem(client.get(f"{API}/me", headers=bearer(secret)), 401)


def test_read_token_cannot_write(client: FlaskClient) -> None:
    _user, secret = user_with_token(Role.ADMIN, TokenScope.READ)

    body = _problem(client.post(f"{API}/organisations", json={"name": "New Partner"}, headers=bearer(secret)), 403)

    assert "read" in body["detail"]
    assert db.session.scalar(select(Organisation).where(Organisation.name == "New Partner")) is None
    assert client.get(f"{API}/organisations", headers=bearer(secret)).status_code == 200


def test_partner_token_sees_only_its_organisation(client: FlaskClient) -> None:
    own = factories.OrganisationFactory(name="Partner Home")
    other = factories.OrganisationFactory(name="Somebody Else")
    contact = factories.ContactFactory(organisation=own)
    grant = factories.GrantFactory(organisation=own)
    interaction = factories.InteractionFactory(organisation=own)
    _user, secret = user_with_token(Role.PARTNER, TokenScope.WRITE, organisation=own)
    headers = bearer(secret)
    mine = intake.receive(_details("mine@example.org"), utcnow()).inquiry
    mine.organisation_id = own.id
    theirs = intake.receive(_details("theirs@example.org"), utcnow()).inquiry
    theirs.organisation_id = other.id
    db.session.commit()

    listed = client.get(f"{API}/organisations", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [own.id]
    assert client.get(f"{API}/organisations/{own.id}", headers=headers).status_code == 200
    _problem(client.get(f"{API}/organisations/{other.id}", headers=headers), 404)
    inquiries = client.get(f"{API}/inquiries", headers=headers).get_json()["items"]
    assert [item["id"] for item in inquiries] == [mine.id]
    assert client.get(f"{API}/inquiries/{mine.id}", headers=headers).status_code == 200
    _problem(client.get(f"{API}/inquiries/{theirs.id}", headers=headers), 404)
    # Contacts, grants and interactions are staff pages on the web, and so here.
    for path in ("contacts", "grants", "interactions"):
        _problem(client.get(f"{API}/{path}", headers=headers), 403)
    for path in (f"contacts/{contact.id}", f"grants/{grant.id}", f"interactions/{interaction.id}"):
        _problem(client.get(f"{API}/{path}", headers=headers), 403)
    # Nor may a partner write, whatever the token's scope.
    _problem(client.patch(f"{API}/organisations/{own.id}", json={"name": "Renamed"}, headers=headers), 403)
    _problem(client.post(f"{API}/organisations", json={"name": "Another"}, headers=headers), 403)
    assert own.name == "Partner Home"


def _details(email: str) -> InquiryDetails:
    return InquiryDetails(
        name="Alex Requester", email=email, phone="", zip_code="", topic=None,
        language="en", message="We would like a home visit, please.", consent=True,
    )


def test_reading_an_inquiry_is_recorded_as_its_page_is(client: FlaskClient) -> None:
    inquiry = intake.receive(_details("alex@example.net"), utcnow()).inquiry
    user, secret = user_with_token(Role.STAFF, TokenScope.READ)

    body = client.get(f"{API}/inquiries/{inquiry.id}", headers=bearer(secret)).get_json()

    assert body["message"] == "We would like a home visit, please."
    assert any(event.kind is InquiryEventKind.VIEWED and event.actor_id == user.id for event in inquiry.events)


# --- records ---------------------------------------------------------------------------------


def test_create_and_patch_an_organisation(client: FlaskClient) -> None:
    user, secret = user_with_token(Role.STAFF)
    headers = bearer(secret)

    created = client.post(
        f"{API}/organisations",
        json={"name": "Delta Doulas", "kind": "community", "email": "HELLO@Delta.example.org", "phone": "573 555 0142"},
        headers=headers,
    )

    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["kind"] == "community"
    assert body["state"] == "MO"
    assert body["phone"] == "(573) 555-0142"  # cleaned as the form cleans it
    changed = client.patch(f"{API}/organisations/{body['id']}", json={"city": "Kennett"}, headers=headers)
    assert changed.status_code == 200
    assert changed.get_json()["city"] == "Kennett"
    assert changed.get_json()["phone"] == "(573) 555-0142"  # untouched fields kept
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "Organisation", AuditEvent.entity_id == str(body["id"]))
    ).all()
    assert [event.action for event in events] == ["create", "update"]
    assert {event.actor_id for event in events} == {user.id}


def test_form_rules_hold_with_field_messages(client: FlaskClient) -> None:
    factories.OrganisationFactory(name="Delta Doulas")
    _user, secret = user_with_token(Role.STAFF)
    headers = bearer(secret)

    invalid = _problem(
        client.post(f"{API}/organisations", json={"name": "X", "email": "not an email", "postal_code": "1"}, headers=headers),
        422,
    )
    assert invalid["errors"]["email"] == ["Enter an email address like name@example.org."]
    assert "postal_code" in invalid["errors"]
    duplicate = _problem(client.post(f"{API}/organisations", json={"name": " delta  DOULAS"}, headers=headers), 409)
    assert duplicate["errors"]["name"] == ["An organisation with this name already exists."]
    typed = _problem(client.post(f"{API}/organisations", json={"name": 7, "colour": "red"}, headers=headers), 422)
    assert typed["errors"] == {"name": ["Must be a string."], "body": ["Unknown fields: colour."]}
    _problem(client.post(f"{API}/organisations", json={}, headers=headers), 422)
    _problem(client.post(f"{API}/organisations", json=[1], headers=headers), 422)
    _problem(client.post(f"{API}/organisations", data="name=x", headers=headers), 415)
    _problem(
        client.post(f"{API}/organisations", data="{", headers={**headers, "Content-Type": "application/json"}), 400
    )
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 1


def test_contact_email_is_unique_as_on_the_form(client: FlaskClient) -> None:
    factories.ContactFactory(email="sam@example.org")
    _user, secret = user_with_token(Role.STAFF)

    body = _problem(client.post(f"{API}/contacts", json={"name": "Sam", "email": "SAM@example.org"}, headers=bearer(secret)), 409)

    assert body["errors"]["email"] == ["Another contact already uses this email."]
    _problem(client.post(f"{API}/contacts", json={"name": "Sam", "languages": []}, headers=bearer(secret)), 422)


def test_create_a_contact_and_a_grant_with_its_reports(client: FlaskClient) -> None:
    organisation = factories.OrganisationFactory()
    _user, secret = user_with_token(Role.STAFF)
    headers = bearer(secret)

    contact = client.post(
        f"{API}/contacts",
        json={"name": "Robin Lee", "organisation_id": organisation.id, "languages": ["en", "es"], "roles": ["program"],
              "accepts_inquiries": True, "away_from": "2026-07-01", "away_until": "2026-07-10"},
        headers=headers,
    )
    assert contact.status_code == 201, contact.get_json()
    assert contact.get_json()["away_until"] == "2026-07-10"
    grant = client.post(
        f"{API}/grants",
        json={"organisation_id": organisation.id, "program": "Safe sleep", "amount": "$25,000.50",
              "start_date": "2026-01-01", "end_date": "2026-12-31", "report_dates": ["2026-06-30", "2027-01-31"]},
        headers=headers,
    )
    assert grant.status_code == 201, grant.get_json()
    assert grant.get_json()["amount"] == "25000.50"
    assert [report["due_on"] for report in grant.get_json()["reports"]] == ["2026-06-30", "2027-01-31"]
    late = _problem(
        client.patch(f"{API}/grants/{grant.get_json()['id']}", json={"report_dates": ["2025-01-01"]}, headers=headers), 422
    )
    assert "before the grant starts" in late["errors"]["report_dates"][0]
    assert len(db.session.get(Grant, grant.get_json()["id"]).reports) == 2


def test_create_an_interaction_at_a_moment_with_an_offset(client: FlaskClient) -> None:
    organisation = factories.OrganisationFactory()
    person = factories.ContactFactory(organisation=organisation)
    stranger = factories.ContactFactory()
    _user, secret = user_with_token(Role.STAFF)
    headers = bearer(secret)

    made = client.post(
        f"{API}/interactions",
        json={"kind": "meeting", "occurred_at": "2026-03-02T14:30:00-06:00", "summary": "Planning visit.",
              "organisation_id": organisation.id, "contacts": [person.id]},
        headers=headers,
    )

    assert made.status_code == 201, made.get_json()
    interaction = db.session.get(Interaction, made.get_json()["id"])
    assert interaction.occurred_at.isoformat() == "2026-03-02T20:30:00+00:00"
    refused = _problem(
        client.post(
            f"{API}/interactions",
            json={"kind": "call", "occurred_at": "2026-03-02T14:30:00", "summary": "x", "organisation_id": organisation.id,
                  "contacts": [stranger.id]},
            headers=headers,
        ),
        422,
    )
    assert refused["errors"]["occurred_at"]
    wrong_contact = _problem(
        client.post(
            f"{API}/interactions",
            json={"kind": "call", "occurred_at": "2026-03-02T14:30:00Z", "summary": "x", "organisation_id": organisation.id,
                  "contacts": [stranger.id]},
            headers=headers,
        ),
        422,
    )
    assert "not a contact of the chosen organisation" in wrong_contact["errors"]["contacts"][0]


def test_an_interaction_in_the_hour_the_clocks_go_back_keeps_its_moment(client: FlaskClient) -> None:
    # 1:30 on 2 November 2025 happened twice in Chicago: at -05:00, then an hour later at -06:00.
    organisation = factories.OrganisationFactory()
    _user, secret = user_with_token(Role.STAFF)
    headers = bearer(secret)

    made = client.post(
        f"{API}/interactions",
        json={"kind": "call", "occurred_at": "2025-11-02T01:30:00-06:00", "summary": "Late call.",
              "organisation_id": organisation.id},
        headers=headers,
    )

    assert made.status_code == 201, made.get_json()
    assert made.get_json()["occurred_at"] == "2025-11-02T07:30:00+00:00"
    changed = client.patch(f"{API}/interactions/{made.get_json()['id']}", json={"summary": "Late call, again."}, headers=headers)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["occurred_at"] == "2025-11-02T07:30:00+00:00", "a PATCH leaves the moment as it was"


def test_cursor_pagination(client: FlaskClient, app: Flask) -> None:
    made = [factories.OrganisationFactory().id for _ in range(5)]
    _user, secret = user_with_token(Role.STAFF, TokenScope.READ)
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/organisations", query_string=query, headers=bearer(secret)).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(made)
    _problem(client.get(f"{API}/organisations?cursor=garbage", headers=bearer(secret)), 400)
    _problem(client.get(f"{API}/organisations?limit=0", headers=bearer(secret)), 400)


@pytest.mark.parametrize(("cursor", "expected"), [
    (paging.encode_cursor(12), 12),
    ("", None),
    ("aWQ6LTE", None),  # id:-1
    ("bm90aGluZw", None),  # nothing
    ("!!!", None),
])
def test_cursor_decoding(cursor: str, expected: int | None) -> None:
    assert paging.decode_cursor(cursor) == expected


def test_unknown_address_and_method_are_problems(client: FlaskClient) -> None:
    _problem(client.get(f"{API}/nothing-here"), 404)
    _user, secret = user_with_token(Role.STAFF)
    _problem(client.delete(f"{API}/organisations/1", headers=bearer(secret)), 405)


# --- inquiries from other sites --------------------------------------------------------------


def _submission(**overrides) -> dict:
    return {
        "name": "Jamie Rivera",
        "email": "jamie.rivera@example.org",
        "zip_code": "63857",
        "topic_id": first_topic_id(),
        "language": "en",
        "message": "We are expecting our first baby and would like to know what support there is nearby.",
        "consent": True,
        **overrides,
    }


def test_inquiry_from_another_site_is_routed_as_the_form(app: Flask, client: FlaskClient) -> None:
    with public_site(app):
        response = client.post(f"{API}/inquiries", json=_submission())
        again = client.post(f"{API}/inquiries", json=_submission())

        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        inquiry = db.session.scalar(select(Inquiry).where(Inquiry.reference == body["reference"]))
        assert inquiry.assigned_contact is not None
        assert inquiry.organisation.name == body["organisation"]
        # The same message again within the window is the same inquiry.
        assert again.get_json()["reference"] == body["reference"]
        assert response.headers.get("Set-Cookie") is None


def test_inquiry_from_another_site_is_checked_as_the_form(app: Flask, client: FlaskClient) -> None:
    with public_site(app):
        body = _problem(client.post(f"{API}/inquiries", json=_submission(zip_code="00000", consent=False, topic_id=99999)), 422)

        assert set(body["errors"]) == {"zip_code", "consent", "topic_id"}
        _problem(client.post(f"{API}/inquiries", json=_submission(message="x" * 5001)), 422)
        assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


def _filed(response) -> Inquiry:
    """The inquiry a submission became, once the job runner filed what was held."""
    file_held_posts()
    return db.session.scalar(select(Inquiry).where(Inquiry.reference == response.get_json()["reference"]))


def test_honeypot_keeps_it_as_spam(app: Flask, client: FlaskClient) -> None:
    with public_site(app):
        response = client.post(f"{API}/inquiries", json=_submission(website="http://spam.example"))

        assert response.status_code == 201
        # Held before any routing work, as the form's spam is.
        assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0
        assert db.session.scalar(select(func.count()).select_from(HeldPost)) == 1
        assert _filed(response).is_spam


def test_a_submission_beyond_the_routing_budget_is_held_then_filed(app: Flask, client: FlaskClient) -> None:
    with public_site(app, PUBLIC_FORM_ROUTING_BUDGET="1 per hour"):
        routed = client.post(f"{API}/inquiries", json=_submission(message="The first one."))
        held = client.post(f"{API}/inquiries", json=_submission(message="The second one."))

        assert routed.status_code == held.status_code == 201
        assert db.session.scalar(select(Inquiry).where(Inquiry.reference == routed.get_json()["reference"])) is not None
        # Thanked at once with its reference, naming the initiative: nothing is routed yet.
        assert held.get_json()["organisation"] == INITIATIVE_NAME
        assert db.session.scalar(select(Inquiry).where(Inquiry.reference == held.get_json()["reference"])) is None
        inquiry = _filed(held)
        assert inquiry.assigned_contact is not None
        assert inquiry.message == "The second one."


def test_the_same_submission_routed_while_the_first_is_held_is_answered_as_the_held_one(app: Flask, client: FlaskClient) -> None:
    with public_site(app, PUBLIC_FORM_ROUTING_BUDGET="1 per hour"):
        client.post(f"{API}/inquiries", json=_submission(message="The first one."))
        held = client.post(f"{API}/inquiries", json=_submission(message="The second one."))
        with app_config(app, PUBLIC_FORM_ROUTING_BUDGET=""):
            again = client.post(f"{API}/inquiries", json=_submission(message="The second one."))

        assert again.status_code == 201
        # Filed later under the reference the site was given first, which must name it.
        assert again.get_json() == held.get_json()
        assert _filed(held).message == "The second one."


def test_one_email_address_from_many_client_addresses_meets_its_own_limit(app: Flask, client: FlaskClient) -> None:
    with public_site(app, PUBLIC_FORM_IDENTITY_RATE_LIMIT="1 per hour"):
        statuses = [
            client.post(
                f"{API}/inquiries",
                json=_submission(email="Same.Bot@example.org" if number else "same.bot@example.org", message=f"Bot {number}."),
                environ_overrides={"REMOTE_ADDR": f"198.51.100.{number + 1}"},
            ).status_code
            for number in range(2)
        ]
        other = client.post(f"{API}/inquiries", json=_submission(email="another@example.org"), environ_overrides={"REMOTE_ADDR": "198.51.100.2"})

    assert statuses == [201, 429]
    assert other.status_code == 201


@pytest.mark.parametrize(("seconds", "spam"), [(0.4, True), (2.9, True), (3, False), (3600 * 24 * 30, False), (1e300, False)])
def test_a_form_sent_too_fast_is_kept_as_spam(app: Flask, client: FlaskClient, seconds: float, spam: bool) -> None:
    with public_site(app, PUBLIC_FORM_MIN_SECONDS=3):
        response = client.post(f"{API}/inquiries", json=_submission(form_seconds=seconds))

        assert response.status_code == 201, response.get_json()
        inquiry = _filed(response)
        assert inquiry.is_spam is spam
        if spam:
            assert f"Sent {seconds:.1f} s after the form was shown" in inquiry.spam_reason


@pytest.mark.parametrize("seconds", [-1, "fast", True, None])
def test_a_form_time_that_is_no_number_of_seconds_is_refused(app: Flask, client: FlaskClient, seconds) -> None:
    with public_site(app):
        body = _problem(client.post(f"{API}/inquiries", json=_submission(form_seconds=seconds)), 422)

        assert set(body["errors"]) == {"form_seconds"}
        assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


@pytest.mark.parametrize(
    ("field", "invisible"),
    [("message", "\u202e\u200b"), ("message", "\u200b \u2060\ufeff"), ("name", "\u200e\u200f")],
    ids=["direction-and-zero-width", "zero-width-and-spaces", "direction-marks"],
)
def test_a_name_or_message_of_invisible_characters_only_is_refused(app: Flask, client: FlaskClient, field, invisible) -> None:
    with public_site(app):
        body = _problem(client.post(f"{API}/inquiries", json=_submission(**{field: invisible})), 422)

        assert set(body["errors"]) == {field}
        assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


def test_a_site_that_does_not_time_its_form_is_not_judged_on_it(app: Flask, client: FlaskClient) -> None:
    with public_site(app, PUBLIC_FORM_MIN_SECONDS=3):
        response = client.post(f"{API}/inquiries", json=_submission())

        inquiry = db.session.scalar(select(Inquiry).where(Inquiry.reference == response.get_json()["reference"]))
        assert not inquiry.is_spam


def test_inquiries_share_the_forms_rate_limit(app: Flask, client: FlaskClient) -> None:
    with public_site(app, PUBLIC_FORM_RATE_LIMIT="2 per minute"):
        for number in range(2):
            assert client.post(f"{API}/inquiries", json=_submission(message=f"Message number {number}.")).status_code == 201

        _problem(client.post(f"{API}/inquiries", json=_submission(message="One too many.")), 429)


def test_cors_only_for_configured_origins(app: Flask, client: FlaskClient) -> None:
    with public_site(app), app_config(app, API_CORS_ORIGINS="https://foundation.example.org, https://other.example"):
        allowed = client.options(
            f"{API}/inquiries",
            headers={"Origin": "https://foundation.example.org", "Access-Control-Request-Method": "POST"},
        )
        refused = client.options(
            f"{API}/inquiries", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        sent = client.post(f"{API}/inquiries", json=_submission(), headers={"Origin": "https://other.example"})
        _user, secret = user_with_token(Role.STAFF)
        token_route = client.get(f"{API}/organisations", headers={**bearer(secret), "Origin": "https://other.example"})

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://foundation.example.org"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert sent.headers["Access-Control-Allow-Origin"] == "https://other.example"
    assert "Access-Control-Allow-Origin" not in token_route.headers


def test_docs_page_lists_every_operation(client: FlaskClient) -> None:
    html = client.get(f"{API}/docs").get_data(as_text=True)

    assert "POST /api/v1/inquiries" in html
    assert "PATCH /api/v1/grants/{record_id}" in html
    assert "<script" not in html
