"""Inquiries that arrive by phone, email, letter or in person, logged by staff."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Contact, Inquiry, InquiryEvent, InquiryEventKind, InquirySource, OutboundEmail, Role
from crm.models.inquiry_status import InquiryStatus
from tests.factories import ContactFactory
from tests.fixtures_world import count, written


def form(**overrides) -> dict:
    data = {
        "source": "phone",
        "name": "Rosa Caller",
        "email": "",
        "phone": "573-555-0142",
        "zip_code": "63857",
        "topic_id": "",
        "language": "es",
        "message": "Llamó para preguntar por las visitas a domicilio.",
        "consent": "y",
        "assign_to": "",
    }
    data.update(overrides)
    # As staff would tick it: email when they took an address, otherwise a call back.
    data.setdefault("contact_preference", "email" if data["email"] else "phone")
    return data


def only_inquiry() -> Inquiry:
    db.session.expire_all()
    return db.session.scalars(select(Inquiry)).one()


def kinds_of(inquiry: Inquiry) -> list[InquiryEventKind]:
    return list(
        db.session.scalars(
            select(InquiryEvent.kind).where(InquiryEvent.inquiry_id == inquiry.id).order_by(InquiryEvent.id)
        )
    )


def emails_of(inquiry: Inquiry) -> dict[str, str]:
    return dict(
        db.session.execute(
            select(OutboundEmail.kind, OutboundEmail.to_address).where(OutboundEmail.inquiry_id == inquiry.id)
        ).all()
    )


def test_the_form_is_for_staff(client, login, world):
    login(Role.STAFF)

    html = client.get("/inquiries/new").get_data(as_text=True)

    assert "Log an inquiry" in html
    assert 'value="web"' not in html, "the web form logs itself"
    assert "Home visits" in html
    assert "Route with the rules" in html


def test_a_phone_call_is_routed_by_the_rules(client, login, world):
    me = login(Role.STAFF)

    response = client.post("/inquiries/new", data=form(topic_id=str(world.home_visits.id)))

    inquiry = only_inquiry()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/inquiries/{inquiry.id}"
    assert inquiry.source is InquirySource.PHONE
    assert inquiry.logged_by_id == me.id
    assert (inquiry.name, inquiry.phone, inquiry.email, inquiry.language) == ("Rosa Caller", "(573) 555-0142", "", "es")
    assert inquiry.consent is True
    assert inquiry.organisation_id == world.north.id
    assert inquiry.assigned_contact_id in {world.nora.id, world.ned.id}
    assert inquiry.county_fips == "29069"
    assert inquiry.status is InquiryStatus.ASSIGNED
    assert inquiry.due_at is not None
    assert "rule 'Home visits to North'" in inquiry.routing_reason
    received = db.session.scalars(
        select(InquiryEvent).where(
            InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == InquiryEventKind.RECEIVED
        )
    ).one()
    assert received.actor_id == me.id
    assert received.detail == f"Received (Phone, logged by {me.name})"
    # No email address: the contact hears of it, the requester is called back instead.
    assert list(emails_of(inquiry)) == ["contact_notice"]


def test_an_inquiry_can_be_assigned_by_hand(client, login, world):
    me = login(Role.STAFF)

    response = client.post(
        "/inquiries/new",
        data=form(source="letter", email="rosa@example.net", phone="", assign_to=str(world.sam.id)),
    )

    assert response.status_code == 302
    inquiry = only_inquiry()
    assert inquiry.source is InquirySource.LETTER
    assert inquiry.assigned_contact_id == world.sam.id
    assert inquiry.organisation_id == world.south.id
    assert inquiry.routing_rule_id is None
    assert inquiry.routing_reason == f"Assigned by hand by {me.name}"
    assert inquiry.status is InquiryStatus.ASSIGNED
    assert inquiry.due_at is not None
    assert inquiry.county_fips == "29069"
    assert kinds_of(inquiry) == [
        InquiryEventKind.RECEIVED,
        InquiryEventKind.ROUTED,
        InquiryEventKind.EMAIL_QUEUED,
        InquiryEventKind.EMAIL_QUEUED,
    ]
    assert emails_of(inquiry) == {"contact_notice": world.sam.email, "requester_ack": "rosa@example.net"}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "", "phone": ""}, "phone", "Give their phone number for a call or a text message, or choose email."),
        ({"email": "", "contact_preference": "email"}, "email", "Give their email address, or choose a phone call"),
        ({"phone": "", "email": "rosa@example.net", "contact_preference": "text"}, "phone", "Give their phone number"),
        ({"contact_preference": "fax"}, "contact_preference", "Choose email, phone call or text message."),
        ({"name": ""}, "name", "Enter the requester&#39;s name."),
        ({"message": ""}, "message", "Write down what they asked."),
        ({"source": "web"}, "source", "Choose phone, email, letter or in person."),
        ({"email": "not an email"}, "email", "Enter an email address"),
        ({"phone": "12"}, "phone", "Enter a phone number"),
        ({"zip_code": "ABCDE"}, "zip_code", "Enter a five-digit ZIP code"),
        ({"assign_to": "999999"}, "assign_to", "Choose from the list."),
        ({"topic_id": "abc"}, "topic_id", "Choose from the list."),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_stored(client, login, world, overrides, field, message):
    login(Role.STAFF)
    before = written()

    response = client.post("/inquiries/new", data=form(**overrides))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert f'href="#{field}"' in html, "the error summary links to the field"
    assert count(Inquiry) == 0
    assert written() == before


def test_an_inactive_contact_cannot_be_chosen(client, login, world):
    login(Role.STAFF)
    world.sam.active = False
    db.session.commit()

    response = client.post("/inquiries/new", data=form(assign_to=str(world.sam.id)))

    assert response.status_code == 422
    assert count(Inquiry) == 0


def test_email_alone_is_enough(client, login, world):
    login(Role.STAFF)

    response = client.post("/inquiries/new", data=form(source="email", phone="", email="Rosa@Example.net"))

    assert response.status_code == 302
    assert only_inquiry().email == "Rosa@example.net"


def test_without_a_fallback_contact_the_inquiry_is_kept_unrouted_for_assignment(client, login, world):
    login(Role.STAFF)
    world.fallback.is_inquiry_fallback = False
    db.session.commit()

    response = client.post("/inquiries/new", data=form(zip_code="64106"))

    assert response.status_code == 302
    inquiry = db.session.scalars(select(Inquiry)).one()
    assert inquiry.assigned_contact_id is None
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "not routed" in page
    assert "No fallback contact" in page


def test_the_same_request_twice_is_one_inquiry(client, login, world):
    login(Role.STAFF)
    data = form(source="email", email="rosa@example.net", phone="")

    first = client.post("/inquiries/new", data=data)
    second = client.post("/inquiries/new", data=data)

    assert first.headers["Location"] == second.headers["Location"]
    assert count(Inquiry) == 1


def test_a_logged_inquiry_is_worked_like_any_other(client, login, world):
    login(Role.STAFF)
    client.post("/inquiries/new", data=form(source="in_person", assign_to=str(world.nora.id)))
    inquiry = only_inquiry()

    assert client.post(f"/inquiries/{inquiry.id}/note", data={"note": "Met at the clinic."}).status_code == 302
    assert client.post(f"/inquiries/{inquiry.id}/status", data={"status": "in_progress"}).status_code == 302
    response = client.post(
        f"/inquiries/{inquiry.id}/response", data={"response": "Booked a visit.", "channel": "in_person"}
    )
    assert response.status_code == 302
    assert only_inquiry().status is InquiryStatus.RESPONDED
    listed = client.get("/inquiries/?status=").get_data(as_text=True)
    assert inquiry.reference in listed
    assert "Rosa Caller" in client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert db.session.scalar(select(Contact.id).where(Contact.name == "Rosa Caller")) is None


# --- consent: without it, the inquiry stays with the foundation -----------------------------


def test_without_consent_it_stays_with_the_foundation(client, login, world):
    login(Role.STAFF)

    response = client.post(
        "/inquiries/new",
        data=form(consent="", email="rosa@example.net", topic_id=str(world.home_visits.id)),
        follow_redirects=True,
    )

    inquiry = only_inquiry()
    assert inquiry.consent is False
    # The rules would send home visits to North Families; without consent no partner gets it.
    assert inquiry.assigned_contact_id == world.fallback.id
    assert inquiry.organisation_id == world.foundation.id
    assert inquiry.status is InquiryStatus.ASSIGNED
    assert inquiry.due_at is not None
    assert "did not agree" in inquiry.routing_reason
    assert emails_of(inquiry) == {"contact_notice": world.fallback.email, "requester_ack": "rosa@example.net"}
    page = response.get_data(as_text=True)
    assert "kept with the foundation" in page
    assert "not passed to a partner" in page


def test_the_form_says_what_happens_without_consent(client, login, world):
    login(Role.STAFF)

    html = client.get("/inquiries/new").get_data(as_text=True)

    assert "Without it, the inquiry stays with the foundation" in html


def test_without_consent_a_partner_cannot_be_chosen_by_hand(client, login, world):
    login(Role.STAFF)
    before = written()

    response = client.post("/inquiries/new", data=form(consent="", assign_to=str(world.sam.id)))

    assert response.status_code == 422
    assert "did not agree to be passed to a partner" in response.get_data(as_text=True)
    assert count(Inquiry) == 0
    assert written() == before


def test_without_consent_someone_at_the_foundation_can_be_chosen_by_hand(client, login, world):
    login(Role.STAFF)
    colleague = ContactFactory(name="Cole League", organisation=world.foundation, accepts_inquiries=True)

    response = client.post("/inquiries/new", data=form(consent="", assign_to=str(colleague.id)))

    assert response.status_code == 302
    assert only_inquiry().assigned_contact_id == colleague.id


def test_an_inquiry_without_consent_is_not_reassigned_to_a_partner(client, login, world):
    login(Role.STAFF)
    client.post("/inquiries/new", data=form(consent=""))
    inquiry = only_inquiry()
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "Sam South" not in page, "partners are not offered"
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.sam.id)})

    assert response.status_code == 422
    assert only_inquiry().assigned_contact_id == world.fallback.id
    assert written() == before


def test_recovered_spam_without_consent_stays_with_the_foundation(client, login, world):
    login(Role.STAFF)
    client.post("/inquiries/new", data=form(consent="", topic_id=str(world.doulas.id)))
    inquiry = only_inquiry()
    client.post(f"/inquiries/{inquiry.id}/status", data={"status": "spam"})

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "new"})

    assert response.status_code == 302
    recovered = only_inquiry()
    assert recovered.assigned_contact_id == world.fallback.id
    assert recovered.organisation_id == world.foundation.id


# --- the assignee's notice says how the inquiry came in ----------------------------------------


@pytest.mark.parametrize(
    ("source", "how"),
    [("phone", "by phone"), ("email", "by email"), ("letter", "by letter"), ("in_person", "in person")],
)
def test_the_notice_says_how_a_logged_inquiry_came_in(client, login, world, source, how):
    me = login(Role.STAFF)

    client.post("/inquiries/new", data=form(source=source, email="rosa@example.net"))

    notice = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "contact_notice")).one()
    assert "Get in Touch" not in notice.body_text
    assert f"came in {how}, logged by {me.name}," in notice.body_text
    assert "Requester's language: Spanish" in notice.body_text
