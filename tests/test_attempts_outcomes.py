"""Attempts to reach the family, and closing with an outcome: the routes, what they refuse
(a 4xx and nothing written), what the inquiry page, the inbox and the export show, and the
database's own rule that a closed inquiry has an outcome."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from crm.database import utcnow, violated_constraint
from crm.extensions import db
from crm.inquiries import services
from crm.models import (
    AttemptMethod,
    ContactAttempt,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    Role,
    User,
)
from crm.models.inquiry_status import InquiryStatus
from crm.timezones import local_parts
from tests.factories import NOW, ContactFactory, InquiryFactory, OrganisationFactory
from tests.fixtures_database import two_clicks_at_once
from tests.fixtures_world import post_export, reload, written

ATTEMPT = {"method": "voicemail", "attempted_on": "2026-03-10", "attempted_time": "10:15", "note": "Left our number."}


@pytest.fixture
def inquiry(world):
    return InquiryFactory(name="Norah Requester", topic=world.home_visits)


def attempts() -> int:
    return db.session.scalar(select(func.count()).select_from(ContactAttempt))


def responded(inquiry):
    inquiry.status = InquiryStatus.RESPONDED
    inquiry.first_response_at = NOW + timedelta(hours=1)
    db.session.commit()
    return inquiry


def close(client, inquiry, **answers):
    return client.post(f"/inquiries/{inquiry.id}/status", data={"status": "closed", "confirmed": "yes", **answers})


# --- attempts ---------------------------------------------------------------------------------


def test_an_attempt_is_logged_and_shown(client, login, inquiry):
    me = login(Role.STAFF)

    response = client.post(f"/inquiries/{inquiry.id}/attempt", data=ATTEMPT)

    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    attempt = db.session.scalar(select(ContactAttempt))
    assert (attempt.method, attempt.note, attempt.logged_by_id) == (AttemptMethod.VOICEMAIL, "Left our number.", me.id)
    # 10:15 in Missouri (Central Daylight Time on 10 March 2026) is 15:15 UTC.
    assert attempt.attempted_at == NOW.replace(day=10, hour=15, minute=15)
    event = [e for e in reload(inquiry).events if e.kind is InquiryEventKind.ATTEMPT][-1]
    assert event.detail == "Voicemail left: Left our number."
    # It is not a response: the response clock still runs.
    assert reload(inquiry).first_response_at is None
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "Attempts to reach them" in page
    assert "1, the last" in page


def test_the_same_attempt_sent_twice_is_logged_once(client, login, inquiry):
    login(Role.STAFF)
    assert client.post(f"/inquiries/{inquiry.id}/attempt", data=ATTEMPT).status_code == 302
    before = written()

    again = client.post(f"/inquiries/{inquiry.id}/attempt", data=ATTEMPT)

    assert again.status_code == 409
    assert "logged already" in again.get_data(as_text=True)
    assert (written(), attempts()) == (before, 1)
    assert [e.kind for e in reload(inquiry).events].count(InquiryEventKind.ATTEMPT) == 1
    # Another attempt in the same minute, or with another note, is one of its own.
    assert client.post(f"/inquiries/{inquiry.id}/attempt", data={**ATTEMPT, "method": "call"}).status_code == 302
    assert client.post(f"/inquiries/{inquiry.id}/attempt", data={**ATTEMPT, "note": "Again."}).status_code == 302
    assert attempts() == 3


def test_the_attempt_form_starts_at_now(client, login, inquiry):
    login(Role.STAFF)
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    today, _minute = local_parts(utcnow())
    assert f'name="attempted_on" required type="date" value="{today.isoformat()}"' in page
    assert re.search(r'name="attempted_time" required type="time" value="\d\d:\d\d"', page)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"method": "carrier-pigeon"}, "Choose call, text message"),
        ({"method": ""}, "Choose how you tried to reach them."),
        ({"attempted_on": ""}, "Enter the date of the attempt."),
        ({"attempted_on": "2026-02-30"}, "That date does not exist."),
        ({"attempted_on": "1850-01-01"}, "Enter a date between"),
        ({"attempted_time": "25:99"}, "Enter a time like 14:30."),
        ({"attempted_time": ""}, "Enter the time of the attempt."),
        ({"attempted_on": "2026-03-08"}, "before the inquiry arrived"),
        ({"attempted_on": "2099-01-01"}, "in the future"),
        ({"note": "bad\x00note"}, "invisible control characters"),
        ({"note": "x" * 2001}, "2,000 characters"),
    ],
)
def test_a_bad_attempt_is_refused_and_nothing_written(client, login, inquiry, change, said):
    login(Role.STAFF)
    before = (written(), attempts())

    response = client.post(f"/inquiries/{inquiry.id}/attempt", data={**ATTEMPT, **change})

    assert response.status_code == 422
    assert said in response.get_data(as_text=True)
    assert (written(), attempts()) == before


@pytest.mark.parametrize("status", [InquiryStatus.CLOSED, InquiryStatus.SPAM])
def test_closed_and_spam_inquiries_take_no_attempt(client, login, inquiry, status):
    login(Role.STAFF)
    inquiry.status = status
    inquiry.outcome = InquiryOutcome.NOT_NEEDED if status is InquiryStatus.CLOSED else None
    db.session.commit()
    before = (written(), attempts())

    response = client.post(f"/inquiries/{inquiry.id}/attempt", data=ATTEMPT)

    assert response.status_code == 409
    assert (written(), attempts()) == before


def test_a_partner_logs_attempts_only_on_their_own_inquiries(client, login, world, inquiry):
    login(Role.PARTNER, organisation=world.south)
    assert client.post(f"/inquiries/{inquiry.id}/attempt", data=ATTEMPT).status_code == 404
    assert attempts() == 0


def test_the_inbox_shows_the_count_and_the_last_attempt_in_one_query(client, login, count_queries, world):
    login(Role.STAFF)

    def add(n: int) -> None:
        for i in range(n):
            inquiry = InquiryFactory(name=f"Row {i}", topic=world.home_visits)
            for hours in (2, 5):
                db.session.add(
                    ContactAttempt(inquiry=inquiry, method=AttemptMethod.CALL, attempted_at=NOW + timedelta(hours=hours))
                )
        db.session.commit()

    add(2)
    with count_queries() as few:
        html = client.get("/inquiries/?status=").get_data(as_text=True)
    assert html.count('<td data-label="Attempts">2<br>') == 2
    assert f'datetime="{(NOW + timedelta(hours=5)).isoformat()}"' in html
    add(10)
    with count_queries() as many:
        html = client.get("/inquiries/?status=").get_data(as_text=True)
    assert html.count('<td data-label="Attempts">2<br>') == 12
    assert many.count == few.count


# --- closing with an outcome --------------------------------------------------------------------


def test_close_without_an_outcome_is_refused(client, login, inquiry):
    login(Role.STAFF)
    responded(inquiry)
    before = written()

    response = close(client, inquiry)

    assert response.status_code == 422
    assert "Choose what came of it." in response.get_data(as_text=True)
    assert reload(inquiry).status is InquiryStatus.RESPONDED
    assert written() == before


@pytest.mark.parametrize(
    ("answers", "said"),
    [
        ({"outcome": "lost-in-the-post"}, "Choose one of the outcomes listed."),
        ({"outcome": "other"}, "Say what happened."),
        ({"outcome": "referred"}, "Say to whom it was referred"),
        ({"outcome": "connected"}, "Say which organisation or program"),
        ({"outcome": "unreachable"}, "Log at least one attempt"),
        ({"outcome": "not_needed", "organisation": "__ORG__"}, "An organisation goes with"),
        ({"outcome": "connected", "organisation": "999999"}, "Choose an organisation from the list."),
        ({"outcome": "connected", "organisation": "abc"}, "Choose"),
        ({"outcome": "other", "detail": "x" * 501}, "500 characters"),
        ({"outcome": "other", "detail": "a\x07b"}, "invisible control characters"),
    ],
)
def test_a_bad_outcome_is_refused_and_nothing_written(client, login, world, inquiry, answers, said):
    login(Role.STAFF)
    responded(inquiry)
    answers = {key: str(world.north.id) if value == "__ORG__" else value for key, value in answers.items()}
    before = written()

    response = close(client, inquiry, **answers)

    assert response.status_code == 422
    assert said in response.get_data(as_text=True)
    assert reload(inquiry).status is InquiryStatus.RESPONDED
    assert written() == before


def test_closing_as_connected_names_the_organisation_on_the_page_and_timeline(client, login, world, inquiry):
    me = login(Role.STAFF)
    responded(inquiry)

    response = close(client, inquiry, outcome="connected", organisation=str(world.south.id), detail="Doula program")

    assert response.status_code == 302
    closed = reload(inquiry)
    assert closed.status is InquiryStatus.CLOSED
    assert (closed.outcome, closed.outcome_organisation_id, closed.outcome_detail) == (
        InquiryOutcome.CONNECTED,
        world.south.id,
        "Doula program",
    )
    change = [e for e in closed.events if e.kind is InquiryEventKind.STATUS_CHANGED][-1]
    assert change.actor_id == me.id
    assert change.detail == "Responded → Closed: Connected to a service: South Start, Doula program"
    assert change.data["outcome"] == "connected"
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "Connected to a service: South Start, Doula program" in page


def test_could_not_reach_needs_an_attempt_first(client, login, inquiry):
    login(Role.STAFF)
    responded(inquiry)
    assert close(client, inquiry, outcome="unreachable").status_code == 422

    assert client.post(f"/inquiries/{inquiry.id}/attempt", data={**ATTEMPT, "method": "no_answer"}).status_code == 302
    assert close(client, inquiry, outcome="unreachable").status_code == 302
    assert reload(inquiry).outcome is InquiryOutcome.UNREACHABLE


def test_the_close_page_offers_the_outcomes(client, login, inquiry):
    login(Role.STAFF)
    responded(inquiry)

    html = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "closed"}).get_data(as_text=True)

    for outcome in InquiryOutcome:
        assert outcome.label in html
    assert "No attempt to reach them is logged yet" in html


def test_a_partner_closes_with_an_outcome_only_their_own_inquiries(client, login, world, inquiry):
    responded(inquiry)
    login(Role.PARTNER, organisation=world.south)
    assert close(client, inquiry, outcome="not_needed").status_code == 404
    assert reload(inquiry).status is InquiryStatus.RESPONDED


def test_the_export_has_the_outcome_and_the_attempts(client, login, world, inquiry):
    login(Role.STAFF)
    responded(inquiry)
    client.post(f"/inquiries/{inquiry.id}/attempt", data=ATTEMPT)
    client.post(f"/inquiries/{inquiry.id}/attempt", data={**ATTEMPT, "attempted_time": "11:45"})
    close(client, inquiry, outcome="referred", organisation=str(world.north.id), detail="Nurse home visits")
    other = InquiryFactory(name="No attempts yet")

    rows = list(csv.DictReader(io.StringIO(post_export(client, "status=").get_data(as_text=True).lstrip("\ufeff"))))

    by_name = {row["Name"]: row for row in rows}
    row = by_name["Norah Requester"]
    assert row["Outcome"] == "Referred elsewhere"
    assert row["Outcome organisation"] == "North Families"
    assert row["Outcome detail"] == "Nurse home visits"
    assert row["Attempts"] == "2"
    assert row["Last attempt"] == "2026-03-10 11:45"
    assert (by_name[other.name]["Outcome"], by_name[other.name]["Attempts"]) == ("", "0")


# --- the database's rule ------------------------------------------------------------------------


def test_the_database_refuses_a_closed_inquiry_without_an_outcome(inquiry):
    inquiry.status = InquiryStatus.CLOSED
    with pytest.raises(IntegrityError) as refused:
        db.session.commit()
    assert violated_constraint(refused.value) == "ck_inquiries_closed_outcome"
    db.session.rollback()


def test_the_database_refuses_an_unknown_outcome_and_method(inquiry):
    with pytest.raises(IntegrityError) as refused:
        db.session.execute(text("UPDATE inquiries SET outcome = 'shrugged' WHERE id = :id"), {"id": inquiry.id})
    assert violated_constraint(refused.value) == "ck_inquiries_outcome"
    db.session.rollback()
    with pytest.raises(IntegrityError) as refused:
        db.session.execute(
            text("INSERT INTO contact_attempts (inquiry_id, method, attempted_at, note, logged_at) "
                 "VALUES (:id, 'telepathy', :at, '', :at)"),
            {"id": inquiry.id, "at": NOW.replace(tzinfo=None)},
        )
    assert violated_constraint(refused.value) == "ck_contact_attempts_method"
    db.session.rollback()


def test_an_organisation_named_by_an_outcome_may_be_deleted(inquiry, world):
    """The outcome keeps its words; the link goes (ON DELETE SET NULL)."""
    elsewhere = OrganisationFactory(name="Elsewhere")
    ContactFactory(organisation=elsewhere)
    inquiry.status = InquiryStatus.CLOSED
    inquiry.outcome = InquiryOutcome.REFERRED
    inquiry.outcome_organisation = elsewhere
    db.session.commit()
    db.session.delete(elsewhere)
    db.session.commit()
    assert reload(inquiry).outcome_organisation_id is None


# --- two closes at once ---------------------------------------------------------------------


def test_two_closes_at_once_close_it_once(demo_racing_app, monkeypatch):
    """Two clicks on the close page's button at once: both requests read the inquiry as
    responded before either commits. The second must wait for the first and find it closed,
    not close it again over it (PostgreSQL only: SQLite's writers take turns already)."""
    with demo_racing_app.app_context():
        user = db.session.scalar(select(User).where(User.role == Role.MANAGER).limit(1))
        inquiry = InquiryFactory()
        inquiry.status = InquiryStatus.RESPONDED
        inquiry.first_response_at = inquiry.received_at + timedelta(hours=1)
        db.session.commit()
        inquiry_id, user_id = inquiry.id, user.id
        db.session.remove()
    def click(both_read) -> str:
        inquiry, actor = db.session.get(Inquiry, inquiry_id), db.session.get(User, user_id)
        assert inquiry.status is InquiryStatus.RESPONDED
        both_read()
        outcome = services.Outcome(InquiryOutcome.NOT_NEEDED)
        services.change_status(inquiry, InquiryStatus.CLOSED, actor, utcnow(), outcome)
        return "closed"

    answers = two_clicks_at_once(demo_racing_app, monkeypatch, click)

    with demo_racing_app.app_context():
        closes = db.session.scalars(
            select(InquiryEvent).where(
                InquiryEvent.inquiry_id == inquiry_id, InquiryEvent.kind == InquiryEventKind.STATUS_CHANGED
            )
        ).all()
        db.session.remove()
    assert sorted(answers) == ["The inquiry is already closed.", "closed"], answers
    assert [event.data["to"] for event in closes].count("closed") == 1
