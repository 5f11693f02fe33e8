"""Inviting a contact or a colleague to sign in, and accepting (or failing to accept) the link."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.models import AccountToken, AuditEvent, OutboundEmail, Role, TokenPurpose, User
from crm.request_log import without_query_strings
from tests.factories import ContactFactory, OrganisationFactory, UserFactory

NEW_PASSWORD = "a long passphrase of my own"
LINK = re.compile(r"(https?://\S+/invitations/accept\?token=\S+)")


def invitation_emails() -> list[OutboundEmail]:
    return list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "invitation").order_by(OutboundEmail.id)))


def link_in(email: OutboundEmail) -> str:
    found = LINK.search(email.body_text)
    assert found, email.body_text
    return found.group(1)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def accept(app, url: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    browser = app.test_client()
    response = browser.post(path_of(url), data={"password": password, "confirm": password if confirm is None else confirm})
    return browser, response


@pytest.fixture
def routed_contact():
    organisation = OrganisationFactory(name="Bootheel Babies & Families")
    return ContactFactory(
        name="Lucía Ramírez", email="lucia.ramirez@bootheel.example.org", organisation=organisation, accepts_inquiries=True
    )


def test_staff_invite_a_contact_who_sets_a_password_and_becomes_a_partner(app, client, login, routed_contact):
    staff = login(Role.STAFF)
    page = client.get(f"/contacts/{routed_contact.id}").get_data(as_text=True)
    assert "Invite to sign in" in page
    assert "Cannot sign in yet" in page

    response = client.post(f"/invitations/contact/{routed_contact.id}")
    assert response.status_code == 302
    assert "has been invited" in client.get(response.headers["Location"]).get_data(as_text=True)

    [email] = invitation_emails()
    assert email.to_address == "lucia.ramirez@bootheel.example.org"
    url = link_in(email)
    assert url.startswith(app.config["PUBLIC_BASE_URL"] + "/invitations/accept?token=")
    assert f"{app.config['INVITATION_VALID_HOURS']} hours" in email.body_text
    row = db.session.scalars(select(AccountToken)).one()
    assert (row.purpose, row.role, row.organisation_id, row.contact_id, row.created_by_id) == (
        TokenPurpose.INVITE, Role.PARTNER, routed_contact.organisation_id, routed_contact.id, staff.id,
    )
    token = url.split("token=")[1]
    assert token not in row.token_hash
    assert "Invited" in client.get(f"/contacts/{routed_contact.id}").get_data(as_text=True)

    page = app.test_client().get(path_of(url))
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Lucía Ramírez" in page.get_data(as_text=True)

    browser, response = accept(app, url)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{routed_contact.organisation_id}"
    assert browser.get(response.headers["Location"]).status_code == 200  # signed in

    user = db.session.scalars(select(User).where(User.email == "lucia.ramirez@bootheel.example.org")).one()
    assert (user.role, user.organisation_id, user.name, user.active, user.contact_id) == (
        Role.PARTNER, routed_contact.organisation_id, "Lucía Ramírez", True, routed_contact.id,
    )
    db.session.refresh(row)
    assert row.used_at is not None
    assert row.user_id == user.id
    assert "Can sign in" in client.get(f"/contacts/{routed_contact.id}").get_data(as_text=True)

    # The trail has the invitation and the account, without the link, its hash or the email's body.
    trail = json.dumps([event.changes for event in db.session.scalars(select(AuditEvent))])
    assert token not in trail
    assert row.token_hash not in trail
    assert NEW_PASSWORD not in trail
    assert "Choose your password" not in trail
    kinds = {(event.entity_type, event.action) for event in db.session.scalars(select(AuditEvent))}
    assert {("AccountToken", "create"), ("AccountToken", "update"), ("User", "create")} <= kinds


def test_a_used_link_is_refused_and_says_so(app, client, login, routed_contact):
    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])
    assert accept(app, url)[1].status_code == 302

    again = app.test_client().get(path_of(url))
    assert again.status_code == 410
    assert "already been accepted" in again.get_data(as_text=True)
    assert accept(app, url, password="another long passphrase")[1].status_code == 410
    assert db.session.scalar(select(User).where(User.email == routed_contact.email)) is not None


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "not valid"),
        ("?token=", 400, "not valid"),
        ("?token=not-a-token-we-issued", 404, "not valid"),
        ("?token=" + "x" * 5000, 404, "not valid"),
        ("?token=%00%ff", 404, "not valid"),
    ],
)
def test_missing_and_made_up_links_are_refused(client, query, status, message):
    response = client.get("/invitations/accept" + query)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_tampered_expired_or_withdrawn_link_is_refused(app, client, login, routed_contact):
    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])

    tampered = url[:-2] + ("AA" if not url.endswith("AA") else "BB")
    response = app.test_client().get(path_of(tampered))
    assert response.status_code == 404

    row = db.session.scalars(select(AccountToken)).one()
    row.expires_at = utcnow() - timedelta(minutes=1)
    row.created_at = row.expires_at - timedelta(hours=72)
    db.session.commit()
    response = app.test_client().get(path_of(url))
    assert response.status_code == 410
    assert "has expired" in response.get_data(as_text=True)
    assert accept(app, url)[1].status_code == 410

    # An expired invitation is still pending: it can be resent, which withdraws the old link.
    assert "Expired" in client.get("/invitations/").get_data(as_text=True)
    assert client.post(f"/invitations/{row.id}/resend").status_code == 302
    response = app.test_client().get(path_of(url))
    assert response.status_code == 410
    assert "withdrawn" in response.get_data(as_text=True)
    new_url = link_in(invitation_emails()[-1])
    assert new_url != url
    assert accept(app, new_url)[1].status_code == 302


def test_withdrawn_invitation_no_longer_works(app, client, login, routed_contact):
    login(Role.MANAGER)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])
    row = db.session.scalars(select(AccountToken)).one()

    assert client.post(f"/invitations/{row.id}/withdraw").status_code == 302
    assert client.post(f"/invitations/{row.id}/withdraw").status_code == 302  # says it already was
    assert accept(app, url)[1].status_code == 410
    assert db.session.scalar(select(User).where(User.email == routed_contact.email)) is None
    assert "No invitation is waiting" in client.get("/invitations/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short", "short", "Use at least 12 characters"),
        (NEW_PASSWORD, "something else entirely", "The two passwords do not match."),
        ("", "", "Choose a password."),
        (" " * 14, " " * 14, "A password cannot be only spaces."),
    ],
)
def test_a_bad_password_is_refused_and_the_link_still_works(app, client, login, routed_contact, password, confirm, message):
    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])

    _, response = accept(app, url, password, confirm)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == routed_contact.email)) is None
    assert accept(app, url)[1].status_code == 302


def test_an_address_that_got_an_account_meanwhile_is_explained(app, client, login, routed_contact):
    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])
    UserFactory(email=routed_contact.email, role=Role.PARTNER, organisation=routed_contact.organisation)

    _, response = accept(app, url)
    assert response.status_code == 409
    assert "already an account" in response.get_data(as_text=True)


def test_a_contact_who_moved_organisation_since_the_invitation_joins_the_new_one(app, client, login, routed_contact):
    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])
    old_organisation_id = routed_contact.organisation_id
    routed_contact.organisation = OrganisationFactory(name="Ozark Parents as Teachers")
    db.session.commit()

    browser, response = accept(app, url)
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == routed_contact.email))
    # A partner sees only their organisation's records: the one the contact left is not theirs.
    assert user.organisation_id == routed_contact.organisation_id != old_organisation_id
    assert browser.get(f"/organisations/{old_organisation_id}").status_code == 404


def test_an_invitation_lapses_when_the_contacts_email_changes(app, client, login, routed_contact):
    # The link went to the old address: whoever reads that mailbox now (a successor at the
    # organisation, say) is not the contact, and must not sign in as them.
    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])
    routed_contact.email = "lucia@new-work.example.org"
    db.session.commit()

    _, response = accept(app, url)
    assert response.status_code == 409
    assert "no longer applies" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.contact_id == routed_contact.id)) is None
    assert db.session.scalar(select(User).where(User.email == "lucia.ramirez@bootheel.example.org")) is None


@pytest.mark.parametrize(
    "change", [{"active": False}, {"organisation": None}], ids=["contact deactivated", "contact left the organisation"]
)
def test_a_contact_who_can_no_longer_be_invited_cannot_accept(app, client, login, routed_contact, change):
    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    url = link_in(invitation_emails()[0])
    for field, value in change.items():
        setattr(routed_contact, field, value)
    db.session.commit()

    _, response = accept(app, url)
    assert response.status_code == 409
    assert "no longer applies" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == routed_contact.email)) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email": ""}, "has no email address"),
        ({"active": False}, "is inactive"),
        ({"organisation": None}, "belongs to no organisation"),
    ],
)
def test_contacts_who_cannot_be_invited_are_told_why(client, login, change, message):
    login(Role.STAFF)
    contact = ContactFactory(**change)
    assert "Invite to sign in" not in client.get(f"/contacts/{contact.id}").get_data(as_text=True)

    response = client.post(f"/invitations/contact/{contact.id}")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(AccountToken.id)) is None
    assert invitation_emails() == []


def test_no_second_invitation_nor_one_for_a_contact_who_signs_in(client, login, routed_contact):
    login(Role.STAFF)
    assert client.post(f"/invitations/contact/{routed_contact.id}").status_code == 302
    response = client.post(f"/invitations/contact/{routed_contact.id}")
    assert response.status_code == 422
    assert "already been invited" in response.get_data(as_text=True)

    someone = ContactFactory(email="pat@example.org")
    UserFactory(email="Pat@Example.org", role=Role.PARTNER, organisation=someone.organisation)
    response = client.post(f"/invitations/contact/{someone.id}")
    assert response.status_code == 422
    assert "can already sign in" in response.get_data(as_text=True)
    assert len(invitation_emails()) == 1


def test_managers_invite_colleagues_with_the_staff_role(app, client, login):
    login(Role.MANAGER)
    assert client.get("/invitations/new").status_code == 200
    response = client.post("/invitations/new", data={"name": "Sam Colleague", "email": " Sam@Foundation.example.org "})
    assert response.status_code == 302

    [email] = invitation_emails()
    assert email.to_address == "sam@foundation.example.org"
    assert "Sam Colleague" in client.get("/invitations/").get_data(as_text=True)
    browser, response = accept(app, link_in(email))
    assert response.headers["Location"] == "/dashboard"
    user = db.session.scalars(select(User).where(User.email == "sam@foundation.example.org")).one()
    assert (user.role, user.organisation_id) == (Role.STAFF, None)


@pytest.mark.parametrize(
    "change", [{"active": False}, {"role": Role.STAFF}], ids=["manager deactivated", "manager made staff"]
)
def test_a_colleague_invitation_lapses_when_its_sender_may_no_longer_invite(app, client, login, change):
    # A staff account opens every record: the link is the sender's say-so, and a manager who
    # left (or was made staff) no longer gives it.
    manager = login(Role.MANAGER)
    client.post("/invitations/new", data={"name": "Sam Colleague", "email": "sam@foundation.example.org"})
    url = link_in(invitation_emails()[0])
    for field, value in change.items():
        setattr(manager, field, value)
    db.session.commit()

    _, response = accept(app, url)
    assert response.status_code == 409
    assert "no longer applies" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "sam@foundation.example.org")) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "email": "a@example.org"}, "Enter your colleague&#39;s name."),
        ({"name": "A", "email": "not an email"}, "Enter an email address like name@example.org."),
        ({"name": "A\x00", "email": "a@example.org"}, "control characters"),
        ({"name": "A", "email": "a" * 250 + "@example.org"}, "254"),
    ],
)
def test_colleague_form_refuses_bad_input(client, login, data, message):
    login(Role.ADMIN)
    response = client.post("/invitations/new", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert invitation_emails() == []


def test_an_existing_account_is_not_invited(client, login, make_user):
    login(Role.ADMIN)
    make_user(Role.STAFF, email="taken@example.org")
    response = client.post("/invitations/new", data={"name": "Taken", "email": "taken@example.org"})
    assert response.status_code == 422
    assert "already an account" in response.get_data(as_text=True)


def test_staff_may_invite_contacts_but_not_colleagues(client, login, routed_contact):
    login(Role.STAFF)
    assert client.get("/invitations/new").status_code == 403
    assert client.post("/invitations/new", data={"name": "X", "email": "x@example.org"}).status_code == 403
    manager = UserFactory(role=Role.MANAGER)
    from crm.invitations import services

    row = services.invite_colleague("Y", "y@example.org", manager)
    assert client.post(f"/invitations/{row.id}/withdraw").status_code == 403
    assert client.post(f"/invitations/{row.id}/resend").status_code == 403
    assert "Withdraw" not in client.get("/invitations/").get_data(as_text=True)


def test_users_page_lists_pending_invitations(client, login, routed_contact):
    login(Role.ADMIN)
    client.post(f"/invitations/contact/{routed_contact.id}")
    page = client.get("/users/").get_data(as_text=True)
    assert "Pending invitations" in page
    assert routed_contact.email in page
    assert "Resend" in page
    assert "Withdraw" in page


def test_the_link_is_left_out_of_request_logs():
    line = '127.0.0.1 - - "GET /invitations/accept?token=SECRETSECRET HTTP/1.1" 200 -'
    assert "SECRETSECRET" not in without_query_strings(line)


def test_the_notice_links_to_the_inquiry_and_signing_in_lands_there(app, client, login, routed_contact):
    from crm.inquiries import intake
    from crm.inquiries.intake import InquiryDetails
    from crm.models import RoutingRule, Topic

    topic = Topic(name_en="Home visits", name_es="Visitas a domicilio", sort_order=1)
    rule = RoutingRule(name="Home visits", priority=10, topics=[topic], target_organisation=routed_contact.organisation)
    db.session.add_all([topic, rule])
    db.session.commit()
    ContactFactory(accepts_inquiries=True, is_inquiry_fallback=True)
    details = InquiryDetails(
        name="Alex Requester", email="alex@example.net", phone="", zip_code="", topic=topic,
        language="en", message="We would like a home visit.", consent=True,
    )
    inquiry = intake.receive(details, utcnow()).inquiry
    assert inquiry.assigned_contact_id == routed_contact.id, inquiry.routing_reason
    notice = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "contact_notice")).one()
    inquiry_link = f"{app.config['PUBLIC_BASE_URL']}/inquiries/{inquiry.id}"
    assert inquiry_link in notice.body_text

    login(Role.STAFF)
    client.post(f"/invitations/contact/{routed_contact.id}")
    accept(app, link_in(invitation_emails()[0]))

    browser = app.test_client()
    to_login = browser.get(f"/inquiries/{inquiry.id}")
    response = browser.post(to_login.headers["Location"], data={"email": routed_contact.email, "password": NEW_PASSWORD})
    assert response.headers["Location"] == f"/inquiries/{inquiry.id}"
    assert browser.get(response.headers["Location"]).status_code == 200


def test_a_colleague_whose_role_requires_a_second_factor_sets_it_up_after_accepting(app, client, login, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "all")
    from crm.auth import second_factor

    admin = login(Role.ADMIN)
    from crm.invitations import services

    services.invite_colleague("Sam Colleague", "sam@foundation.example.org", admin)
    browser, response = accept(app, link_in(invitation_emails()[0]))
    assert response.status_code == 302
    response = browser.get(response.headers["Location"])
    assert response.headers["Location"] == "/account/two-factor"
    user = db.session.scalars(select(User).where(User.email == "sam@foundation.example.org")).one()
    assert not second_factor.is_on(user)
