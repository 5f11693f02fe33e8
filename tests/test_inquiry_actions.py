"""Working an inquiry through the HTTP layer: the status machine, each action's events, the
notice on reassignment, linking the requester to a contact, and the access log."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import inspect, select

from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import services
from crm.models import (
    AuditEvent,
    Contact,
    ContactPreference,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    OutboundEmail,
    Role,
    User,
)
from crm.models.inquiry_status import InquiryStatus, can_move
from tests.factories import NOW, ContactFactory, InquiryFactory
from tests.fixtures_database import two_clicks_at_once
from tests.fixtures_world import reload, written


@pytest.fixture
def inquiry(world) -> Inquiry:
    """Routed by the rules to the fallback contact, so it is assigned."""
    return InquiryFactory()


def events_of(inquiry: Inquiry, kind: InquiryEventKind) -> list[InquiryEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(InquiryEvent)
            .where(InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == kind)
            .order_by(InquiryEvent.id)
        )
    )


def set_status(inquiry: Inquiry, status: InquiryStatus, **fields) -> None:
    inquiry.status = status
    if status is InquiryStatus.CLOSED:
        fields.setdefault("outcome", InquiryOutcome.NOT_NEEDED)  # every closed inquiry has one
    for name, value in fields.items():
        setattr(inquiry, name, value)
    db.session.commit()


# --- the status machine ------------------------------------------------------------------

PAIRS = [(current, target) for current in InquiryStatus for target in InquiryStatus]


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{c.value}->{t.value}" for c, t in PAIRS])
def test_status_moves_through_http(client, login, inquiry, current, target):
    me = login(Role.STAFF)
    # With a first response on record, "responded" is reachable wherever the workflow allows it.
    set_status(inquiry, current, first_response_at=NOW + timedelta(hours=1))
    before = written()

    # Closing asks what came of it first: the POST from that page carries "confirmed" and the outcome.
    confirmed = {"confirmed": "yes", "outcome": "not_needed"} if target is InquiryStatus.CLOSED else {}
    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": target.value, **confirmed})

    inquiry = reload(inquiry)
    if can_move(current, target):
        assert response.status_code == 302, response.get_data(as_text=True)
        # Recovered spam is routed again at once, which assigns it.
        expected = InquiryStatus.ASSIGNED if target is InquiryStatus.NEW else target
        assert inquiry.status is expected
        change = events_of(inquiry, InquiryEventKind.STATUS_CHANGED)[-1 if target is not InquiryStatus.NEW else 0]
        assert change.actor_id == me.id
        outcome = {"outcome": "not_needed", "outcome_organisation_id": None} if target is InquiryStatus.CLOSED else {}
        assert change.data == {"from": current.value, "to": target.value, **outcome}
    else:
        assert response.status_code == 409
        assert inquiry.status is current
        assert written() == before
        assert "not allowed" in response.get_data(as_text=True) or "already" in response.get_data(as_text=True)


def test_responded_is_reached_by_logging_a_response_not_by_a_button(client, login, inquiry):
    login(Role.STAFF)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "responded"})

    assert response.status_code == 409
    assert "Log the response first" in response.get_data(as_text=True)
    assert reload(inquiry).status is InquiryStatus.ASSIGNED
    assert written() == before


def test_unknown_status_is_invalid_input(client, login, inquiry):
    login(Role.STAFF)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "done-and-dusted"})

    assert response.status_code == 422
    assert written() == before


def test_close_records_when_and_what_and_reopen_keeps_it(client, login, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.RESPONDED, first_response_at=NOW + timedelta(hours=1))

    response = client.post(
        f"/inquiries/{inquiry.id}/status",
        data={"status": "closed", "confirmed": "yes", "outcome": "referred", "detail": "County WIC office"},
    )
    assert response.status_code == 302
    closed = reload(inquiry)
    assert closed.status is InquiryStatus.CLOSED
    assert closed.closed_at is not None
    assert (closed.outcome, closed.outcome_detail) == (InquiryOutcome.REFERRED, "County WIC office")
    closed_at = closed.closed_at

    assert client.post(f"/inquiries/{inquiry.id}/status", data={"status": "in_progress"}).status_code == 302
    reopened = reload(inquiry)
    assert reopened.status is InquiryStatus.IN_PROGRESS
    # Reopening clears nothing: the page says "Last closed", and the timeline keeps each close.
    assert (reopened.outcome, reopened.closed_at) == (InquiryOutcome.REFERRED, closed_at)
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "Last closed" in page
    assert "Responded → Closed: Referred elsewhere: County WIC office" in page


def test_mark_spam_from_the_inbox_goes_back_to_the_same_inbox_page(client, login, inquiry):
    me = login(Role.STAFF)
    inbox_page = "/inquiries/?status=open&q=help"

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "spam", "next": inbox_page})

    assert response.status_code == 302
    assert response.headers["Location"] == inbox_page
    spam = reload(inquiry)
    assert spam.status is InquiryStatus.SPAM
    assert spam.spam_reason == f"Marked as spam by {me.name}"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/inquiries/", "/organisations/"])
def test_spam_button_never_redirects_off_the_inbox(client, login, inquiry, next_url):
    login(Role.STAFF)

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "spam", "next": next_url})

    assert response.headers["Location"] == f"/inquiries/{inquiry.id}"


def test_recovering_spam_routes_it_again_through_the_rules(client, login, world):
    me = login(Role.STAFF)
    caught = InquiryFactory(spam_reason="filled the hidden field", topic=world.home_visits, zip_code="63857")
    assert caught.assigned_contact_id is None
    assert db.session.scalar(select(OutboundEmail.id).where(OutboundEmail.inquiry_id == caught.id)) is None

    response = client.post(f"/inquiries/{caught.id}/status", data={"status": "new"})

    assert response.status_code == 302
    recovered = reload(caught)
    assert recovered.status is InquiryStatus.ASSIGNED
    assert recovered.spam_reason == ""
    assert recovered.organisation_id == world.north.id
    assert recovered.assigned_contact_id in {world.nora.id, world.ned.id}
    assert recovered.county_fips == "29069"
    assert recovered.due_at is not None
    routed = events_of(recovered, InquiryEventKind.ROUTED)
    assert len(routed) == 1
    assert routed[0].actor_id == me.id
    assert "Home visits to North" in routed[0].detail
    kinds = set(db.session.scalars(select(OutboundEmail.kind).where(OutboundEmail.inquiry_id == caught.id)))
    assert kinds == {"contact_notice", "requester_ack"}


# --- assignment --------------------------------------------------------------------------


def test_reassigning_notifies_the_new_assignee(client, login, world, inquiry):
    me = login(Role.STAFF)
    assert inquiry.assigned_contact_id == world.fallback.id

    response = client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.sam.id)})

    assert response.status_code == 302
    inquiry = reload(inquiry)
    assert inquiry.assigned_contact_id == world.sam.id
    assert inquiry.organisation_id == world.south.id, "who may see it follows the new assignee"
    assert inquiry.status is InquiryStatus.ASSIGNED
    [event] = events_of(inquiry, InquiryEventKind.ASSIGNED)
    assert event.actor_id == me.id
    assert event.detail == "Reassigned from Fran Fallback to Sam South"
    assert event.data == {"from_contact_id": world.fallback.id, "to_contact_id": world.sam.id}
    notice = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id, OutboundEmail.kind == "reassigned_notice")
    ).one()
    assert notice.to_address == world.sam.email
    assert notice.subject == f"Inquiry {inquiry.reference} was reassigned to you"
    assert inquiry.message not in notice.body_text
    queued = events_of(inquiry, InquiryEventKind.EMAIL_QUEUED)
    assert any(world.sam.email in item.detail for item in queued)
    assert db.session.get(Contact, world.sam.id).last_assigned_at is not None


def test_reassigning_keeps_the_status_unless_new(client, login, world, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.IN_PROGRESS)

    client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.nora.id)})

    assert reload(inquiry).status is InquiryStatus.IN_PROGRESS


@pytest.mark.parametrize("who", ["inactive", "current", "nobody", "unknown", "not-a-number"])
def test_assigning_to_someone_not_offered_is_refused(client, login, world, inquiry, who):
    login(Role.STAFF)
    inactive = ContactFactory(name="Gone Away", active=False, organisation=world.north)
    contact_id = {
        "inactive": str(inactive.id),
        "current": str(world.fallback.id),
        "nobody": "",
        "unknown": "999999",
        "not-a-number": "1 OR 1=1",
    }[who]
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": contact_id})

    assert response.status_code == 422
    assert written() == before
    assert reload(inquiry).assigned_contact_id == world.fallback.id


def test_spam_is_not_assigned(client, login, world, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.SPAM)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.sam.id)})

    assert response.status_code == 409
    assert "spam" in response.get_data(as_text=True)
    assert written() == before


# --- responses and notes -----------------------------------------------------------------


def test_the_first_response_stops_the_clock_and_marks_it_responded(client, login, inquiry):
    me = login(Role.STAFF)

    response = client.post(
        f"/inquiries/{inquiry.id}/response", data={"response": "Called back; visit booked.", "channel": "phone"}
    )

    assert response.status_code == 302
    answered = reload(inquiry)
    assert answered.status is InquiryStatus.RESPONDED
    first = answered.first_response_at
    assert first is not None
    assert abs(first - utcnow()) < timedelta(minutes=1)
    [event] = events_of(answered, InquiryEventKind.RESPONSE)
    assert (event.actor_id, event.detail, event.data) == (me.id, "Called back; visit booked.", {"channel": "phone"})
    [change] = events_of(answered, InquiryEventKind.STATUS_CHANGED)
    assert change.data == {"from": "assigned", "to": "responded"}

    client.post(f"/inquiries/{inquiry.id}/response", data={"response": "Sent the leaflet too.", "channel": "email"})

    again = reload(inquiry)
    assert again.first_response_at == first
    assert again.status is InquiryStatus.RESPONDED
    assert len(events_of(again, InquiryEventKind.RESPONSE)) == 2


def test_the_first_response_stores_its_business_hours(app, client, login, inquiry):
    from crm.business_hours import business_hours_between
    from crm.holidays.calendars import calendar_for

    login(Role.STAFF)
    client.post(f"/inquiries/{inquiry.id}/response", data={"response": "Called back.", "channel": "phone"})
    answered = reload(inquiry)
    with app.test_request_context():
        expected = business_hours_between(
            answered.received_at, answered.first_response_at, calendar_for(answered.organisation_id)
        )
    assert answered.first_response_hours == pytest.approx(expected)


def test_a_response_after_reopening_marks_it_responded_again(client, login, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.CLOSED, first_response_at=NOW + timedelta(hours=1))
    client.post(f"/inquiries/{inquiry.id}/status", data={"status": "in_progress"})

    client.post(f"/inquiries/{inquiry.id}/response", data={"response": "Followed up.", "channel": "in_person"})

    again = reload(inquiry)
    assert again.status is InquiryStatus.RESPONDED
    assert again.first_response_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "data",
    [
        {"response": "", "channel": "email"},
        {"response": "   ", "channel": "email"},
        {"response": "Called.", "channel": "fax"},
        {"response": "Called.\x00", "channel": "phone"},
    ],
    ids=["empty", "blank", "unknown channel", "control character"],
)
def test_an_invalid_response_is_refused(client, login, inquiry, data):
    login(Role.STAFF)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/response", data=data)

    assert response.status_code == 422
    assert written() == before
    assert reload(inquiry).first_response_at is None


def test_spam_takes_no_response(client, login, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.SPAM)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/response", data={"response": "Hi", "channel": "email"})

    assert response.status_code == 409
    assert written() == before


def test_an_internal_note_is_recorded_with_its_author(client, login, inquiry):
    me = login(Role.STAFF)

    response = client.post(f"/inquiries/{inquiry.id}/note", data={"note": "Family prefers evening calls."})

    assert response.status_code == 302
    [note] = events_of(inquiry, InquiryEventKind.NOTE)
    assert (note.actor_id, note.detail) == (me.id, "Family prefers evening calls.")
    audit = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "InquiryEvent", AuditEvent.entity_id == str(note.id))
    ).one()
    assert audit.actor_id == me.id


def test_an_empty_note_is_refused(client, login, inquiry):
    login(Role.STAFF)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/note", data={"note": "  "})

    assert response.status_code == 422
    assert "Write the note." in response.get_data(as_text=True)
    assert written() == before


REPEATABLE = [
    ("response", {"response": "Called back; visit booked.", "channel": "phone"}, InquiryEventKind.RESPONSE),
    ("note", {"note": "Family prefers evening calls."}, InquiryEventKind.NOTE),
]
REPEATED = {"response": "This response is logged already.", "note": "This note is added already."}


@pytest.mark.parametrize(("action", "data", "kind"), REPEATABLE, ids=["response", "note"])
def test_the_same_entry_sent_twice_is_recorded_once(client, login, inquiry, action, data, kind):
    login(Role.STAFF)
    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 302
    before = written()

    again = client.post(f"/inquiries/{inquiry.id}/{action}", data=data)

    assert again.status_code == 409
    assert REPEATED[action] in again.get_data(as_text=True)
    assert written() == before
    assert len(events_of(inquiry, kind)) == 1


@pytest.mark.parametrize(("action", "data", "kind"), REPEATABLE, ids=["response", "note"])
def test_other_words_are_another_entry(client, login, inquiry, action, data, kind):
    login(Role.STAFF)
    other = {**data, action: data[action] + " Again."}
    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 302
    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 409

    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=other).status_code == 302
    assert len(events_of(inquiry, kind)) == 2


@pytest.mark.parametrize(("action", "data", "kind"), REPEATABLE, ids=["response", "note"])
def test_the_same_words_after_the_window_are_another_entry(client, login, inquiry, action, data, kind):
    from crm.inquiries.services import REPEAT_WINDOW

    login(Role.STAFF)
    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 302
    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 409
    [first] = events_of(inquiry, kind)
    first.occurred_at = first.occurred_at - REPEAT_WINDOW - timedelta(seconds=1)
    db.session.commit()

    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 302
    assert len(events_of(inquiry, kind)) == 2


@pytest.mark.parametrize(("action", "data", "kind"), REPEATABLE, ids=["response", "note"])
def test_the_same_words_from_someone_else_are_another_entry(client, login, inquiry, action, data, kind):
    first = login(Role.STAFF, name="Sam Staff")
    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 302
    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 409
    client.post("/logout")
    second = login(Role.STAFF, name="Casey Colleague")

    assert client.post(f"/inquiries/{inquiry.id}/{action}", data=data).status_code == 302
    assert [event.actor_id for event in events_of(inquiry, kind)] == [first.id, second.id]


@pytest.mark.parametrize("kind", [InquiryEventKind.RESPONSE, InquiryEventKind.NOTE], ids=["response", "note"])
def test_the_same_entry_sent_twice_at_once_is_recorded_once(demo_racing_app, monkeypatch, kind):
    """Two clicks at once: both requests find no such entry before either commits. The second
    must wait for the first and find its entry (PostgreSQL only: SQLite's writers take turns)."""
    with demo_racing_app.app_context():
        user = db.session.scalar(select(User).where(User.role == Role.STAFF).limit(1))
        inquiry = InquiryFactory()
        db.session.commit()
        inquiry_id, user_id = inquiry.id, user.id
        db.session.remove()
    def click(both_read) -> str:
        inquiry, actor = db.session.get(Inquiry, inquiry_id), db.session.get(User, user_id)
        both_read()
        if kind is InquiryEventKind.RESPONSE:
            services.log_response(inquiry, "Called back.", "phone", actor, utcnow())
        else:
            services.add_note(inquiry, "Called back.", actor, utcnow())
        return "recorded"

    answers = two_clicks_at_once(demo_racing_app, monkeypatch, click)

    with demo_racing_app.app_context():
        entries = db.session.scalars(
            select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry_id, InquiryEvent.kind == kind)
        ).all()
        db.session.remove()
    assert sorted(answers) == sorted(["recorded", REPEATED[kind.value]]), answers
    assert len(entries) == 1


def test_actions_need_the_csrf_token(app, client, login, inquiry, monkeypatch):
    login(Role.STAFF)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    before = written()

    for action, data in [
        ("note", {"note": "Sneaky"}),
        ("status", {"status": "spam"}),
        ("response", {"response": "Hi", "channel": "email"}),
        ("link-contact", {}),
    ]:
        response = client.post(f"/inquiries/{inquiry.id}/{action}", data=data)
        assert response.status_code == 400, action

    assert written() == before


# --- the requester as a contact ----------------------------------------------------------


def contact_snapshot(contact: Contact) -> dict:
    return {attr.key: getattr(contact, attr.key) for attr in inspect(Contact).column_attrs}


def test_linking_creates_a_contact_from_name_email_and_phone(client, login, world):
    me = login(Role.STAFF)
    inquiry = InquiryFactory(name="Jordan Newcomer", email="jordan.newcomer@example.net", phone="(573) 555-0199")
    contacts_before = {contact.id for contact in db.session.scalars(select(Contact))}

    response = client.post(f"/inquiries/{inquiry.id}/link-contact")

    assert response.status_code == 302
    created = db.session.scalars(select(Contact).where(Contact.id.not_in(contacts_before))).one()
    assert (created.name, created.email, created.phone) == (
        "Jordan Newcomer",
        "jordan.newcomer@example.net",
        "(573) 555-0199",
    )
    assert created.organisation_id is None
    assert (created.notes, created.title, created.accepts_inquiries) == ("", "", False)
    assert reload(inquiry).requester_contact_id == created.id
    [event] = events_of(inquiry, InquiryEventKind.LINKED)
    assert event.actor_id == me.id
    assert event.data == {"contact_id": created.id, "created": True}


def test_linking_to_an_existing_contact_changes_nothing_on_the_contact(client, login, world):
    login(Role.STAFF)
    existing = ContactFactory(
        name="Alexandra Existing-Name",
        email="Alex@Example.NET",
        phone="(573) 555-0100",
        title="Board member",
        notes="Prefers letters.",
        organisation=world.north,
    )
    snapshot = contact_snapshot(existing)
    inquiry = InquiryFactory(name="alex r. (typed in a hurry)", email="alex@example.net", phone="555 0000")
    contacts_before = written()[3]

    response = client.post(f"/inquiries/{inquiry.id}/link-contact")

    assert response.status_code == 302
    db.session.expire_all()
    assert contact_snapshot(db.session.get(Contact, existing.id)) == snapshot
    assert written()[3] == contacts_before
    assert reload(inquiry).requester_contact_id == existing.id
    contact_changes = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "Contact", AuditEvent.entity_id == str(existing.id))
    ).all()
    assert [change.action for change in contact_changes if change.action != "create"] == []
    [event] = events_of(inquiry, InquiryEventKind.LINKED)
    assert event.data == {"contact_id": existing.id, "created": False}


def test_an_active_contact_is_preferred_over_an_inactive_one_with_the_same_email(client, login, world):
    login(Role.STAFF)
    ContactFactory(name="Old Record", email="alex@example.net", active=False)
    current = ContactFactory(name="Current Record", email="ALEX@example.net")
    inquiry = InquiryFactory(email="alex@example.net")

    client.post(f"/inquiries/{inquiry.id}/link-contact")

    assert reload(inquiry).requester_contact_id == current.id


def test_a_requester_without_email_gets_a_new_contact(client, login, world):
    login(Role.STAFF)
    ContactFactory(name="Someone With No Email", email="")
    inquiry = InquiryFactory(name="Phone Only", email="", phone="(573) 555-0123", contact_preference=ContactPreference.PHONE)

    client.post(f"/inquiries/{inquiry.id}/link-contact")

    linked = reload(inquiry).requester_contact
    assert (linked.name, linked.email, linked.phone) == ("Phone Only", "", "(573) 555-0123")


def test_linking_twice_is_refused(client, login, world, inquiry):
    login(Role.STAFF)
    client.post(f"/inquiries/{inquiry.id}/link-contact")
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/link-contact")

    assert response.status_code == 409
    assert written() == before


# --- the page, the timeline and the access log --------------------------------------------


def test_every_view_is_written_to_the_access_log(client, login, inquiry):
    me = login(Role.STAFF)

    client.get(f"/inquiries/{inquiry.id}")
    client.get(f"/inquiries/{inquiry.id}")

    views = events_of(inquiry, InquiryEventKind.VIEWED)
    assert [view.actor_id for view in views] == [me.id, me.id]


def test_the_page_shows_the_request_the_routing_reason_and_the_timeline(client, login, world, inquiry):
    me = login(Role.STAFF)
    client.post(f"/inquiries/{inquiry.id}/note", data={"note": "Left a voicemail."})
    client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.nora.id)})
    client.post(f"/inquiries/{inquiry.id}/response", data={"response": "Spoke with the family.", "channel": "phone"})

    html = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)

    assert inquiry.message in html
    assert "No ZIP or county given -&gt; no rule matched -&gt; fallback Fran Fallback" in html
    timeline = html[html.index('id="timeline-heading"') :]
    for text in [
        "Received (Web form)",
        "New-inquiry notice queued for the assignee (fran@foundation.example.org)",
        "Acknowledgement queued for the requester (alex@example.net)",
        "Left a voicemail.",
        "Reassigned from Fran Fallback to Nora North",
        "Reassignment notice queued for the new assignee (nora@north.example.org)",
        "Spoke with the family.",
        "Assigned → Responded",
    ]:
        assert text in timeline, text
    assert f"by {me.name}" in timeline
    assert "by the system" in timeline


def test_managers_see_the_access_log_and_staff_do_not(client, login, inquiry):
    staff = login(Role.STAFF)
    staff_page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "Access log" not in staff_page
    assert "<strong>Viewed</strong>" not in staff_page

    client.post("/logout")
    login(Role.MANAGER)
    manager_page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)

    access_log = manager_page[manager_page.index('id="access-heading"') :]
    assert staff.name in access_log


def test_a_refused_action_shows_the_page_with_the_reason(client, login, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.CLOSED, first_response_at=NOW)

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "spam"})

    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "cannot move an inquiry from Closed to Spam" in html
    assert f"Inquiry {inquiry.reference}" in html
    assert events_of(inquiry, InquiryEventKind.VIEWED) == []


def test_due_time_is_shown_on_the_page(client, login, inquiry):
    login(Role.STAFF)
    set_status(
        inquiry,
        InquiryStatus.ASSIGNED,
        received_at=utcnow() - timedelta(hours=1),
        due_at=utcnow() + timedelta(hours=3, minutes=10),
    )
    assert "Due in 3 h" in client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)

    set_status(
        inquiry,
        InquiryStatus.ASSIGNED,
        received_at=utcnow() - timedelta(days=3),
        due_at=utcnow() - timedelta(hours=2, minutes=5),
    )
    html = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert '<span class="badge badge-danger">Overdue by 2 h</span>' in html


def test_the_page_costs_the_same_however_long_the_timeline(client, login, world, inquiry, count_queries):
    login(Role.STAFF)
    client.get(f"/inquiries/{inquiry.id}")
    with count_queries() as short:
        client.get(f"/inquiries/{inquiry.id}")

    for n in range(20):
        someone = login(Role.STAFF, name=f"Colleague {n}")
        client.post(f"/inquiries/{inquiry.id}/note", data={"note": f"Note {n} by {someone.name}"})
    client.get(f"/inquiries/{inquiry.id}")  # measured, like the short one, right after a view
    with count_queries() as long:
        html = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)

    assert "Note 19 by Colleague 19" in html
    assert long.count == short.count


def test_reassigning_does_not_read_the_timeline(app, client, login, world, inquiry):
    """Every view adds to the timeline; an action adds its lines without loading the rest."""
    login(Role.STAFF)
    client.get(f"/inquiries/{inquiry.id}")
    db.session.expunge_all()
    statements: list[str] = []

    def on_execute(_connection, _cursor, statement, *_args):
        statements.append(statement)

    sqlalchemy_event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        response = client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": world.nora.id})
    finally:
        sqlalchemy_event.remove(db.engine, "before_cursor_execute", on_execute)

    assert response.status_code == 302
    assert not [statement for statement in statements if statement.lstrip().startswith("SELECT inquiry_events.")]


# --- recovered spam: only what was never sent -----------------------------------------------


def emails_about(inquiry: Inquiry) -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(OutboundEmail.kind, OutboundEmail.to_address).where(OutboundEmail.inquiry_id == inquiry.id)
    )
    return sorted((kind, address) for kind, address in rows)


def test_recovering_spam_that_was_routed_before_sends_nothing_twice(client, login, world, inquiry):
    login(Role.STAFF)
    client.post(f"/inquiries/{inquiry.id}/status", data={"status": "spam"})
    before = emails_about(inquiry)
    assert before == [("contact_notice", world.fallback.email), ("requester_ack", "alex@example.net")]

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "new"})

    assert response.status_code == 302
    recovered = reload(inquiry)
    assert recovered.status is InquiryStatus.ASSIGNED
    assert recovered.assigned_contact_id == world.fallback.id
    assert emails_about(recovered) == before


def test_recovered_spam_routed_to_someone_new_tells_only_them(client, login, world):
    login(Role.STAFF)
    routed = InquiryFactory(topic=world.home_visits)
    first = routed.assigned_contact
    client.post(f"/inquiries/{routed.id}/status", data={"status": "spam"})

    client.post(f"/inquiries/{routed.id}/status", data={"status": "new"})

    recovered = reload(routed)
    second = recovered.assigned_contact
    assert {first.id, second.id} == {world.nora.id, world.ned.id}, "round-robin moved on"
    assert emails_about(recovered) == sorted(
        [("contact_notice", first.email), ("contact_notice", second.email), ("requester_ack", "alex@example.net")]
    )


# --- closed and spam inquiries ------------------------------------------------------------------


def test_a_closed_inquiry_is_not_reassigned(client, login, world, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.CLOSED, first_response_at=NOW, closed_at=NOW)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.sam.id)})

    assert response.status_code == 409
    assert "Reopen it before reassigning it." in response.get_data(as_text=True)
    assert reload(inquiry).assigned_contact_id == world.fallback.id
    assert written() == before


def test_a_closed_inquiry_takes_no_response(client, login, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.CLOSED, first_response_at=NOW, closed_at=NOW)
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/response", data={"response": "Hi", "channel": "email"})

    assert response.status_code == 409
    assert "Reopen it before logging a response." in response.get_data(as_text=True)
    assert reload(inquiry).status is InquiryStatus.CLOSED
    assert written() == before


def test_a_closed_inquiry_still_takes_notes(client, login, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.CLOSED, first_response_at=NOW, closed_at=NOW)

    response = client.post(f"/inquiries/{inquiry.id}/note", data={"note": "The family wrote to say thanks."})

    assert response.status_code == 302
    assert [note.detail for note in events_of(inquiry, InquiryEventKind.NOTE)] == ["The family wrote to say thanks."]


@pytest.mark.parametrize("status", [InquiryStatus.CLOSED, InquiryStatus.SPAM])
def test_closed_and_spam_pages_offer_only_what_they_accept(client, login, inquiry, status):
    login(Role.STAFF)
    set_status(inquiry, status, first_response_at=NOW)

    html = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)

    assert f'action="/inquiries/{inquiry.id}/assign"' not in html
    assert f'action="/inquiries/{inquiry.id}/response"' not in html
    assert f'action="/inquiries/{inquiry.id}/note"' in html
    assert ("Reopen it to reassign it or log a response." in html) is (status is InquiryStatus.CLOSED)


def test_spam_is_not_saved_as_a_contact(client, login, inquiry):
    login(Role.STAFF)
    set_status(inquiry, InquiryStatus.SPAM)
    assert f'action="/inquiries/{inquiry.id}/link-contact"' not in client.get(f"/inquiries/{inquiry.id}").get_data(
        as_text=True
    )
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/link-contact")

    assert response.status_code == 409
    assert written() == before


# --- where it is now, and how it got there -----------------------------------------------------


def routing_section(html: str) -> str:
    return html[html.index('id="routing-heading"') : html.index('id="work-heading"')]


def test_the_routing_section_shows_the_reason_as_history_and_who_has_it_now(client, login, world, inquiry):
    me = login(Role.STAFF)
    client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.nora.id)})
    client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.sam.id)})

    routing = routing_section(client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True))

    assert "Routed to Fran Fallback" in routing
    assert "No ZIP or county given -&gt; no rule matched -&gt; fallback Fran Fallback" in routing
    assert f"Reassigned to Nora North by {me.name}" in routing
    assert f"Reassigned to Sam South by {me.name}" in routing
    assert routing.index("Routed to Fran Fallback") < routing.index("Nora North") < routing.index("Sam South by")


def test_an_inquiry_never_reassigned_shows_just_its_routing(client, login, world, inquiry):
    login(Role.STAFF)

    routing = routing_section(client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True))

    assert "Routed to Fran Fallback" in routing
    assert "Reassigned" not in routing


# --- views in the timeline ----------------------------------------------------------------------


def timeline_of(html: str) -> str:
    return html[html.index('id="timeline-heading"') : html.index('id="access-heading"')]


def test_views_by_one_person_within_an_hour_are_one_timeline_line(client, login, inquiry):
    manager = login(Role.MANAGER)
    client.get(f"/inquiries/{inquiry.id}")
    client.post(f"/inquiries/{inquiry.id}/note", data={"note": "Left a voicemail."}, follow_redirects=True)

    html = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)

    timeline = timeline_of(html)
    assert timeline.count("<strong>Viewed</strong>") == 1
    assert "3 times" in timeline
    assert timeline.index("<strong>Viewed</strong>") < timeline.index("Left a voicemail.")
    access_log = html[html.index('id="access-heading"') :]
    assert access_log.count(manager.name) == 3, "the access log keeps every view"


def test_views_an_hour_apart_or_by_others_are_separate_lines(client, login, inquiry):
    first = login(Role.MANAGER, name="Morgan Manager")
    client.get(f"/inquiries/{inquiry.id}")
    [view] = events_of(inquiry, InquiryEventKind.VIEWED)
    view.occurred_at = view.occurred_at - timedelta(hours=2)
    db.session.commit()
    client.post("/logout")
    login(Role.MANAGER, name="Casey Colleague")
    client.get(f"/inquiries/{inquiry.id}")
    client.post("/logout")
    client.post("/login", data={"email": first.email, "password": "correct horse battery staple"})

    timeline = timeline_of(client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True))

    assert timeline.count("<strong>Viewed</strong>") == 3
    assert "times" not in timeline


# --- words for people ---------------------------------------------------------------------------


def test_the_timeline_speaks_plainly(client, login, world, inquiry):
    login(Role.STAFF)
    client.post(f"/inquiries/{inquiry.id}/assign", data={"contact_id": str(world.nora.id)})

    timeline = timeline_of(client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True) + 'id="access-heading"')

    for text in [
        "New-inquiry notice queued for the assignee (fran@foundation.example.org)",
        "Acknowledgement queued for the requester (alex@example.net)",
        "Reassignment notice queued for the new assignee (nora@north.example.org)",
    ]:
        assert text in timeline, text
    for internal in ["Requester ack", "Contact notice", "Reassigned notice", "_"]:
        assert internal not in timeline, internal


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        (InquiryEventKind.EMAIL_FAILED, "Email not delivered"),
        (InquiryEventKind.NOTE, "Internal note"),
        (InquiryEventKind.RESPONSE, "Response to the requester"),
        (InquiryEventKind.LINKED, "Linked to a contact"),
        (InquiryEventKind.REMINDER, "Deadline reminder"),
        (InquiryEventKind.ESCALATED, "Escalated: overdue"),
        (InquiryEventKind.ANONYMISED, "Personal details removed"),
    ],
)
def test_event_kinds_have_labels_for_people(kind, label):
    assert kind.label == label


def test_every_event_kind_has_its_own_label():
    labels = [kind.label for kind in InquiryEventKind]
    assert len(set(labels)) == len(labels)


def test_the_language_is_named_the_same_way_on_the_page_and_in_the_filters(client, login, world):
    login(Role.STAFF)
    spanish = InquiryFactory(language="es")

    page = client.get(f"/inquiries/{spanish.id}").get_data(as_text=True)
    inbox = client.get("/inquiries/").get_data(as_text=True)

    assert "<dt>Language</dt><dd>Spanish</dd>" in page
    assert '<option value="es">Spanish</option>' in inbox
    assert "Español" not in page + inbox


def test_the_web_form_notice_names_the_form(world, app_context):
    InquiryFactory()

    notice = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "contact_notice")).one()
    assert "came in through the Get in Touch form" in notice.body_text


@pytest.mark.parametrize("zone", ["America/Chicago", "America/New_York"])
def test_the_notice_names_the_timezone_its_deadlines_are_shown_in(app, world, app_context, monkeypatch, zone):
    monkeypatch.setitem(app.config, "DISPLAY_TIMEZONE", zone)
    inquiry = InquiryFactory()

    notice = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "contact_notice")).one()
    assert inquiry.due_at is not None
    assert inquiry.acceptance_due_at is not None
    assert notice.body_text.count(f"({zone} time)") == 2  # the first response's and the acceptance's
    assert "Central time" not in notice.body_text


def duplicate_ids(html: str) -> list[str]:
    counts = Counter(re.findall(r"""\sid=["']([^"']+)["']""", html))
    return sorted(name for name, times in counts.items() if times > 1)


@pytest.mark.parametrize("status", [None, InquiryStatus.IN_PROGRESS, InquiryStatus.CLOSED])
def test_every_form_on_the_inquiry_page_has_ids_of_its_own(client, login, inquiry, status):
    """The accept/pass, attempt, response and note forms share one page: a label must find its own
    field, so no id is used twice (a doubled #note once sent the pass form's label to the note)."""
    login(Role.MANAGER)
    if status is not None:
        set_status(inquiry, status, first_response_at=NOW)

    html = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)

    if status is None:
        assert 'id="pass-heading"' in html  # awaiting acceptance: the pass form is there too
    assert 'id="note-heading"' in html
    assert duplicate_ids(html) == []
