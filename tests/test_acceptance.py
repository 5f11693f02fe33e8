"""Accept or pass, end to end below the browser: the clock routing starts, accepting in the
app and from the notice's link, passing on to the next candidate, and the acceptance job."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from sqlalchemy import func, insert, select

from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import acceptance_jobs, accepting
from crm.inquiries import services as inquiry_services
from crm.inquiries.acceptance_jobs import run_acceptance_timers
from crm.inquiries.sla_jobs import DIGEST_MAX_LINES
from crm.mail.outbox import public_url
from crm.models import (
    Contact,
    EmailKind,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    InquiryPass,
    OutboundEmail,
    PassReason,
    Role,
    User,
)
from crm.models.inquiry import notice_pending_clause
from crm.models.inquiry_status import InquiryStatus
from tests.factories import NOW, HolidayCalendarFactory, HolidayFactory, InquiryFactory, UserFactory
from tests.fixtures_database import two_clicks_at_once
from tests.fixtures_world import reload, written

# NOW is Monday 10:00 in Missouri (summer time began the day before): four business hours
# later is 14:00 (19:00 UTC).
WINDOW_ENDS = datetime(2026, 3, 9, 19, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _business_hours(app, monkeypatch):
    for key, value in {"SLA_TIMEZONE": "America/Chicago", "SLA_DAY_START_HOUR": 9, "SLA_DAY_END_HOUR": 17}.items():
        monkeypatch.setitem(app.config, key, value)


@pytest.fixture
def spanish(world) -> Inquiry:
    """A Spanish home-visits request: routed to North Families, where nobody speaks Spanish."""
    return receive(topic=world.home_visits, language="es")


def receive(**fields) -> Inquiry:
    return InquiryFactory(**fields)


def events_of(inquiry: Inquiry, kind: InquiryEventKind) -> list[InquiryEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == kind).order_by(InquiryEvent.id)
        )
    )


def emails(inquiry: Inquiry | None = None, kind: str | None = None) -> list[OutboundEmail]:
    db.session.expire_all()
    query = select(OutboundEmail).order_by(OutboundEmail.id)
    if inquiry is not None:
        query = query.where(OutboundEmail.inquiry_id == inquiry.id)
    if kind is not None:
        query = query.where(OutboundEmail.kind == kind)
    return list(db.session.scalars(query))


def accept_link(notice: OutboundEmail) -> str:
    """The path and query of the notice's "Accept" link."""
    found = re.search(r"http://[^/\s]+(/inquiries/accept\?token=\S+)", notice.body_text)
    assert found, notice.body_text
    return found.group(1)


def partner_of(organisation, contact=None, **fields):
    return UserFactory(role=Role.PARTNER, organisation=organisation, contact=contact, **fields)


def sign_in(client, user) -> None:
    response = client.post("/login", data={"email": user.email, "password": "correct horse battery staple"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


# --- the clock routing starts ---------------------------------------------------------------


def test_a_routed_inquiry_awaits_acceptance_for_its_topics_window(world, spanish):
    assert spanish.assigned_contact.organisation_id == world.north.id
    assert spanish.awaiting_acceptance
    assert spanish.accepted_at is None
    assert spanish.acceptance_due_at == WINDOW_ENDS
    [notice] = emails(spanish, "contact_notice")
    assert "/inquiries/accept?token=" in notice.body_text
    assert spanish.message not in notice.body_text


def test_a_topics_own_window_is_in_its_organisations_business_hours(world):
    world.home_visits.acceptance_hours = 10  # 7 on Monday; North is closed on Tuesday; 3 on Wednesday
    HolidayFactory(calendar=HolidayCalendarFactory(organisation=world.north), day=date(2026, 3, 10))
    db.session.commit()

    inquiry = receive(topic=world.home_visits)

    assert inquiry.acceptance_due_at == datetime(2026, 3, 11, 17, 0, tzinfo=UTC)


# --- accepting in the app ---------------------------------------------------------------------


def test_the_assigned_contacts_user_accepts(client, world, spanish):
    contact = spanish.assigned_contact
    user = partner_of(world.north, contact=contact)
    sign_in(client, user)

    page = client.get(f"/inquiries/{spanish.id}").get_data(as_text=True)
    assert "Awaiting acceptance" in page
    assert ">Accept</button>" in page

    response = client.post(f"/inquiries/{spanish.id}/accept", data={"shown_contact": contact.id})

    assert response.status_code == 302
    inquiry = reload(spanish)
    assert (inquiry.accepted_at is not None, inquiry.accepted_by_id, inquiry.acceptance_due_at) == (True, user.id, None)
    [event] = events_of(inquiry, InquiryEventKind.ACCEPTED)
    assert event.detail == f"Accepted by {user.name}"
    assert "Awaiting acceptance" not in client.get("/inquiries/").get_data(as_text=True)

    before = written()
    again = client.post(f"/inquiries/{spanish.id}/accept", data={"shown_contact": contact.id})
    assert again.status_code == 409
    assert "already been accepted" in again.get_data(as_text=True)
    assert written() == before


def test_staff_accept_for_the_contact(client, login, spanish):
    me = login(Role.STAFF)
    client.post(f"/inquiries/{spanish.id}/accept", data={"shown_contact": spanish.assigned_contact_id})
    [event] = events_of(spanish, InquiryEventKind.ACCEPTED)
    assert event.detail == f"Accepted by {me.name} for {reload(spanish).assigned_contact.name}"


def test_accepting_from_a_page_shown_before_the_inquiry_moved_on_does_not_take_it_for_the_next_contact(
    client, world, spanish
):
    first = spanish.assigned_contact
    user = partner_of(world.north, contact=first)
    sign_in(client, user)
    page = client.get(f"/inquiries/{spanish.id}").get_data(as_text=True)
    # Meanwhile a colleague hands it to the other contact at North.
    taker = world.ned.id if first.id == world.nora.id else world.nora.id
    inquiry_services.assign(spanish, db.session.get(Contact, taker), partner_of(world.north), NOW)
    before = written()

    response = client.post(f"/inquiries/{spanish.id}/accept", data={"shown_contact": first.id})

    assert response.status_code == 409
    assert "reload the page" in response.get_data(as_text=True)
    assert written() == before
    inquiry = reload(spanish)
    assert (inquiry.assigned_contact_id, inquiry.accepted_at) == (taker, None)
    assert events_of(inquiry, InquiryEventKind.ACCEPTED) == []
    # The page's Accept button says whom it was shown with.
    assert f'name="shown_contact" type="hidden" value="{first.id}"' in page


def test_a_partner_of_another_organisation_can_neither_see_nor_accept_it(client, world, spanish):
    sign_in(client, partner_of(world.south))
    before = written()

    assert client.post(f"/inquiries/{spanish.id}/accept").status_code == 404
    assert client.post(f"/inquiries/{spanish.id}/pass", data={"pass_reason": "language"}).status_code == 404
    assert written() == before
    assert reload(spanish).accepted_at is None


# --- passing on --------------------------------------------------------------------------------


def test_a_pass_for_language_goes_to_the_next_candidate_and_the_family_is_not_emailed_again(client, world, spanish):
    first = spanish.assigned_contact
    second = world.ned if first.id == world.nora.id else world.nora
    user = partner_of(world.north, contact=first)
    sign_in(client, user)
    acknowledgements = len(emails(spanish, "requester_ack"))

    response = client.post(
        f"/inquiries/{spanish.id}/pass",
        data={"pass_reason": "language", "pass_note": "No Spanish here.", "shown_contact": first.id},
    )

    assert response.status_code == 302
    inquiry = reload(spanish)
    assert inquiry.assigned_contact_id == second.id
    assert inquiry.awaiting_acceptance
    assert inquiry.acceptance_due_at is not None
    [passed] = db.session.scalars(select(InquiryPass)).all()
    assert (passed.contact_id, passed.reason, passed.note, passed.passed_by_id, passed.moved_to_contact_id) == (
        first.id,
        PassReason.LANGUAGE,
        "No Spanish here.",
        user.id,
        second.id,
    )
    assert passed.managers_told_at is None, "a person's pass is nobody's to tell"
    [event] = events_of(inquiry, InquiryEventKind.PASSED)
    assert event.detail == f"Passed on by {user.name}: Language\nNo Spanish here."
    routed = events_of(inquiry, InquiryEventKind.ROUTED)[-1]
    assert routed.detail.startswith(f"{first.name} passed it on (language) -> ")
    assert routed.data["contact_id"] == second.id
    assert [email.to_address for email in emails(inquiry, "contact_notice")] == [first.email, second.email]
    assert len(emails(inquiry, "requester_ack")) == acknowledgements == 1

    # The second passes too: nobody else at North, no backup, so the foundation's fallback.
    client.post(f"/inquiries/{inquiry.id}/pass", data={"pass_reason": "no_capacity", "shown_contact": second.id})
    inquiry = reload(inquiry)
    assert inquiry.assigned_contact_id == world.fallback.id
    assert inquiry.organisation_id == world.foundation.id


def test_when_everyone_has_passed_it_stays_with_the_fallback_without_a_timer(client, login, world):
    login(Role.STAFF)
    inquiry = receive()  # no topic: no rule, so the fallback
    assert inquiry.assigned_contact_id == world.fallback.id

    response = client.post(
        f"/inquiries/{inquiry.id}/pass",
        data={"pass_reason": "not_a_service", "shown_contact": world.fallback.id},
        follow_redirects=True,
    )

    assert "Assign it by hand" in response.get_data(as_text=True)
    inquiry = reload(inquiry)
    assert inquiry.assigned_contact_id == world.fallback.id
    assert inquiry.awaiting_acceptance
    assert inquiry.acceptance_due_at is None
    assert len(emails(inquiry, "contact_notice")) == 1, "nobody is told twice about what they passed"


def test_a_second_click_on_pass_does_not_pass_it_on_from_the_next_contact(client, login, world, spanish):
    login(Role.STAFF)
    first = spanish.assigned_contact_id
    # Whom the page shows it with goes with the pass.
    page = client.get(f"/inquiries/{spanish.id}").get_data(as_text=True)
    assert f'name="shown_contact" type="hidden" value="{first}"' in page
    data = {"pass_reason": "language", "shown_contact": first}

    assert client.post(f"/inquiries/{spanish.id}/pass", data=data).status_code == 302
    taker = reload(spanish).assigned_contact_id
    before = written()
    again = client.post(f"/inquiries/{spanish.id}/pass", data=data)

    assert again.status_code == 409
    assert "reload the page" in again.get_data(as_text=True)
    assert written() == before
    assert reload(spanish).assigned_contact_id == taker
    assert len(events_of(spanish, InquiryEventKind.PASSED)) == 1
    assert db.session.scalars(select(InquiryPass.contact_id)).all() == [first]


def test_a_second_pass_of_what_stays_with_the_fallback_is_refused(client, login, world):
    login(Role.STAFF)
    inquiry = receive()  # no topic: no rule, so the fallback
    data = {"pass_reason": "not_a_service", "shown_contact": world.fallback.id}
    assert client.post(f"/inquiries/{inquiry.id}/pass", data=data).status_code == 302
    before = written()

    again = client.post(f"/inquiries/{inquiry.id}/pass", data=data)

    assert again.status_code == 409
    assert "assign it by hand" in again.get_data(as_text=True)
    assert written() == before
    assert len(events_of(inquiry, InquiryEventKind.PASSED)) == 1
    assert db.session.scalars(select(InquiryPass.contact_id)).all() == [world.fallback.id]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"pass_reason": "other", "pass_note": ""}, "required with “Other”"),
        ({"pass_reason": "other", "pass_note": "   "}, "required with “Other”"),
        ({"pass_reason": ""}, "Choose a reason from the list."),
        ({"pass_reason": "not_accepted_in_time"}, "Choose a reason from the list."),
        ({"pass_reason": "busy"}, "Choose a reason from the list."),
        ({"pass_reason": "no_capacity", "pass_note": "x" * 1001}, "1,000 characters or fewer"),
        ({"pass_reason": "no_capacity", "pass_note": "bad\x07bell"}, ""),
    ],
)
def test_a_pass_without_a_proper_reason_is_refused_and_writes_nothing(client, login, spanish, data, message):
    login(Role.STAFF)
    before = written()

    response = client.post(f"/inquiries/{spanish.id}/pass", data={**data, "shown_contact": spanish.assigned_contact_id})

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert written() == before
    assert db.session.scalar(select(func.count()).select_from(InquiryPass)) == 0
    assert reload(spanish).assigned_contact_id == spanish.assigned_contact_id


def test_a_closed_inquiry_cannot_be_accepted_or_passed(client, login, spanish):
    login(Role.STAFF)
    spanish.status = InquiryStatus.CLOSED
    spanish.outcome = InquiryOutcome.NOT_NEEDED
    db.session.commit()
    before = written()

    assert client.post(f"/inquiries/{spanish.id}/accept").status_code == 409
    assert client.post(f"/inquiries/{spanish.id}/pass", data={"pass_reason": "language"}).status_code == 409
    assert written() == before


def test_two_passes_at_once_pass_it_on_once(demo_racing_app, monkeypatch):
    """Two clicks on Pass at once: both requests read the inquiry as with its first contact
    before either commits. The second must wait for the first and find it moved on, not pass
    it on from the next contact too (PostgreSQL only: SQLite's writers take turns already)."""
    with demo_racing_app.app_context():
        inquiry = InquiryFactory()
        manager = db.session.scalar(select(User).where(User.role == Role.MANAGER).limit(1))
        inquiry_id, manager_id, first = inquiry.id, manager.id, inquiry.assigned_contact_id
        db.session.remove()
    def click(both_read) -> str:
        inquiry, actor = db.session.get(Inquiry, inquiry_id), db.session.get(User, manager_id)
        assert inquiry.assigned_contact_id == first
        both_read()
        accepting.pass_on(inquiry, "no_capacity", "", actor, utcnow(), shown_contact_id=first)
        return "passed"

    answers = two_clicks_at_once(demo_racing_app, monkeypatch, click)

    with demo_racing_app.app_context():
        passes = db.session.scalars(select(InquiryPass.contact_id).where(InquiryPass.inquiry_id == inquiry_id)).all()
        db.session.remove()
    assert len(answers) == 2
    assert answers.count("passed") == 1, answers
    assert passes == [first]


# --- the link in the notice ---------------------------------------------------------------------


def test_the_notice_link_asks_for_sign_in_then_a_confirmation_and_works_once(client, world, spanish):
    link = accept_link(emails(spanish, "contact_notice")[0])

    # Not signed in: to the sign-in page, which comes back here.
    response = client.get(link)
    assert response.status_code == 302
    assert "/login" in response.location
    assert "/inquiries/accept" in unquote(response.location)

    user = partner_of(world.north, contact=spanish.assigned_contact)
    sign_in(client, user)
    before = written()
    page = client.get(link)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert f"Accept inquiry {spanish.reference}?" in page.get_data(as_text=True)
    assert written() == before, "opening the link changes nothing"
    assert reload(spanish).accepted_at is None

    token = link.split("token=", 1)[1]
    response = client.post("/inquiries/accept", data={"token": unquote(token)})

    assert response.status_code == 302
    inquiry = reload(spanish)
    assert inquiry.accepted_by_id == user.id
    [event] = events_of(inquiry, InquiryEventKind.ACCEPTED)
    assert event.data["from_link"] is True

    again = client.get(link)
    assert again.status_code == 410
    assert "already been accepted" in again.get_data(as_text=True)
    assert client.post("/inquiries/accept", data={"token": unquote(token)}).status_code == 410


def test_a_link_stops_working_once_the_inquiry_moved_on(client, login, spanish):
    link = accept_link(emails(spanish, "contact_notice")[0])
    login(Role.STAFF)
    client.post(
        f"/inquiries/{spanish.id}/pass", data={"pass_reason": "no_capacity", "shown_contact": spanish.assigned_contact_id}
    )

    response = client.get(link)

    assert response.status_code == 410
    assert "moved on to someone else" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("token", "status"), [("", 400), ("not-a-token", 404), ("x" * 300, 404), ("WzEsMl0.abc.def", 404)]
)
def test_a_bad_link_is_refused(client, login, spanish, token, status):
    login(Role.STAFF)
    before = written()

    assert client.get(f"/inquiries/accept?token={token}").status_code == status
    assert client.post("/inquiries/accept", data={"token": token}).status_code in (400, 404)
    assert written() == before


def test_a_link_for_an_inquiry_the_user_may_not_see_says_nothing_about_it(client, world, spanish):
    link = accept_link(emails(spanish, "contact_notice")[0])
    sign_in(client, partner_of(world.south))

    response = client.get(link)

    assert response.status_code == 404
    assert spanish.reference not in response.get_data(as_text=True)


# --- the acceptance job -------------------------------------------------------------------------


@pytest.fixture
def managers(app):
    return [
        UserFactory(role=Role.MANAGER, name="Morgan Manager", email="morgan@example.org"),
        UserFactory(role=Role.MANAGER, name="Mo Manager", email="mo@example.org"),
        UserFactory(role=Role.MANAGER, name="Gone Manager", email="gone@example.org", active=False),
    ]


def test_nothing_moves_before_the_window_ends(world, spanish, managers):
    assert run_acceptance_timers(WINDOW_ENDS - timedelta(minutes=1)) == []
    assert reload(spanish).assigned_contact_id == spanish.assigned_contact_id


def test_an_inquiry_nobody_accepts_moves_on_and_managers_get_one_list_each(world, spanish, managers):
    first = spanish.assigned_contact
    other = receive(topic=world.doulas)  # to Sam at South Start
    accepted = receive(topic=world.doulas)
    accepted.accepted_at = NOW
    answered = receive(topic=world.doulas)
    answered.first_response_at = NOW + timedelta(hours=1)
    db.session.commit()

    moved = run_acceptance_timers(WINDOW_ENDS)

    assert sorted(item.reference for item in moved) == sorted([spanish.reference, other.reference])
    inquiry = reload(spanish)
    assert inquiry.assigned_contact_id not in (None, first.id)
    [passed] = db.session.scalars(select(InquiryPass).where(InquiryPass.inquiry_id == inquiry.id)).all()
    assert (passed.reason, passed.passed_by_id, passed.contact_id) == (PassReason.NOT_ACCEPTED_IN_TIME, None, first.id)
    [event] = events_of(inquiry, InquiryEventKind.PASSED)
    assert event.actor_id is None
    # Written with the move, before the managers' notice, which may go in a later run.
    assert event.detail == f"Not accepted in time by {first.name}: moved on by itself; the managers are told by email"
    assert inquiry.acceptance_due_at is not None
    assert inquiry.acceptance_due_at > WINDOW_ENDS
    assert reload(accepted).assigned_contact_id == world.sam.id
    assert reload(answered).assigned_contact_id == world.sam.id
    # One email per active manager, listing both references, and nothing the family wrote.
    notices = emails(kind=EmailKind.ACCEPTANCE_MISSED)
    assert sorted(email.to_address for email in notices) == ["mo@example.org", "morgan@example.org"]
    for email in notices:
        assert spanish.reference in email.body_text
        assert other.reference in email.body_text
        assert spanish.message not in email.body_text
        assert spanish.name not in email.body_text
        assert email.subject == "2 inquiries were not accepted in time"
    # The family is not emailed again.
    assert len(emails(inquiry, "requester_ack")) == 1

    # A second run, or a second runner, finds nothing left to move.
    assert run_acceptance_timers(WINDOW_ENDS) == []
    assert len(emails(kind=EmailKind.ACCEPTANCE_MISSED)) == 2


def test_each_manager_is_told_in_their_own_language(world, spanish):
    """As the escalation digests to the same people are: Spanish for a manager whose linked
    contact speaks Spanish and not English, English otherwise."""
    from tests.factories import ContactFactory

    first = spanish.assigned_contact.name
    hablante = ContactFactory(name="Marta Manager", email="marta@example.org", languages=["es"])
    UserFactory(role=Role.MANAGER, name="Marta Manager", email="marta@example.org", contact=hablante)
    UserFactory(role=Role.MANAGER, name="Morgan Manager", email="morgan@example.org")

    [moved] = run_acceptance_timers(WINDOW_ENDS)

    by_address = {email.to_address: email for email in emails(kind=EmailKind.ACCEPTANCE_MISSED)}
    marta, morgan = by_address["marta@example.org"], by_address["morgan@example.org"]
    assert (marta.language, marta.subject) == ("es", f"La consulta {spanish.reference} no se aceptó a tiempo")
    assert marta.body_text.startswith("Hola, Marta Manager:\n")
    assert (
        "Esta consulta no fue aceptada a tiempo por el contacto al que se asignó, y pasó al siguiente:"
        in marta.body_text
    )
    assert f"- {spanish.reference}: de {first} a {moved.to_name}\n" in marta.body_text
    assert "Inicie sesión para verla y reasignarla a mano si hace falta." in marta.body_text
    assert "not accepted" not in marta.body_text
    assert (morgan.language, morgan.subject) == ("en", f"Inquiry {spanish.reference} was not accepted in time")
    assert morgan.body_text.startswith("Hello Morgan Manager,\n")
    assert f"- {spanish.reference}: from {first} to {moved.to_name}\n" in morgan.body_text
    assert "Sign in to see it, and reassign by hand if needed." in morgan.body_text


def test_two_runners_never_move_one_inquiry_twice(world, spanish, managers):
    """The claim is a conditional UPDATE: a runner holding the row as it was before another
    runner moved it claims nothing."""
    as_seen = SimpleNamespace(
        id=spanish.id, assigned_contact_id=spanish.assigned_contact_id, acceptance_due_at=spanish.acceptance_due_at
    )
    assert len(run_acceptance_timers(WINDOW_ENDS)) == 1

    assert acceptance_jobs._claim(as_seen) is False
    assert db.session.scalar(select(func.count()).select_from(InquiryPass)) == 1


def test_the_job_is_in_the_runners_catalogue():
    from crm.jobs.catalogue import JOB_NAMES

    assert "acceptance-timers" in JOB_NAMES


def test_each_move_commits_on_its_own_so_a_failure_in_the_next_leaves_it_whole(world, spanish, managers, monkeypatch):
    """A run moves one inquiry at a time, each in its own transaction (a transaction holding
    several moves' locks can deadlock with staff: crm.models.open_load). A failure in the
    second move leaves the first moved, with its pass, timeline line, notice and audit entries;
    the managers hear of what moved, and the runner records the failure and tries again."""
    from crm.database import utcnow
    from crm.inquiries import accepting
    from crm.jobs import locks
    from crm.jobs.catalogue import jobs_named
    from crm.jobs.runner import Outcome, run_job
    from crm.models import AuditEvent

    first_contact = spanish.assigned_contact_id
    second = receive(topic=world.doulas)  # to Sam, due at the same time, moved after Spanish
    db.session.commit()
    move_on = accepting.move_on
    moves: list[int] = []

    def second_move_fails(inquiry, *args, **kwargs):
        taker = move_on(inquiry, *args, **kwargs)  # the second move's writes are in hand...
        moves.append(inquiry.id)
        if len(moves) == 2:
            raise RuntimeError("the mail template broke")  # ...when it fails
        return taker

    monkeypatch.setattr(accepting, "move_on", second_move_fails)
    [job] = jobs_named(["acceptance-timers"])

    with pytest.raises(RuntimeError):
        run_acceptance_timers(WINDOW_ENDS)
    db.session.rollback()  # as the runner does after a failure: what stands was committed

    assert moves == [spanish.id, second.id]
    moved = reload(spanish)
    assert moved.assigned_contact_id not in (None, first_contact)
    assert len(events_of(moved, InquiryEventKind.PASSED)) == 1
    assert db.session.scalar(select(func.count()).select_from(InquiryPass).where(InquiryPass.inquiry_id == spanish.id)) == 1
    taker = moved.assigned_contact
    assert [email.kind for email in emails(moved) if email.to_address == taker.email] == [EmailKind.CONTACT_NOTICE]
    assert db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.entity_type == "InquiryPass", AuditEvent.actor_id.is_(None))
    ) == 1
    # Nothing of the failed move stays: it is still due, with Sam, for the next run.
    unmoved = reload(second)
    assert unmoved.assigned_contact_id == world.sam.id
    assert unmoved.acceptance_due_at is not None
    assert unmoved.acceptance_due_at <= WINDOW_ENDS
    assert events_of(unmoved, InquiryEventKind.PASSED) == []
    # The managers were told of the move that stands, and only of it.
    notices = emails(kind=EmailKind.ACCEPTANCE_MISSED)
    assert sorted(email.to_address for email in notices) == ["mo@example.org", "morgan@example.org"]
    assert {email.subject for email in notices} == {f"Inquiry {spanish.reference} was not accepted in time"}
    assert all(second.reference not in email.body_text for email in notices)

    # Through the runner, the failure is recorded as the job's, by its type only.
    second_id, second_reference, sam_id = second.id, second.reference, world.sam.id

    def broken(*args, **kwargs):
        raise RuntimeError("broken")

    monkeypatch.setattr(accepting, "move_on", broken)
    locks.register([job.name], utcnow())
    run = run_job(job, "runner-1", force=True)
    assert run.outcome is Outcome.FAILED
    assert run.detail == "RuntimeError"
    assert db.session.get(Inquiry, second_id).assigned_contact_id == sam_id

    # Once mended, the next run moves the one left, and tells the managers of it.
    monkeypatch.setattr(accepting, "move_on", move_on)
    assert [item.reference for item in run_acceptance_timers(WINDOW_ENDS)] == [second_reference]
    db.session.expire_all()
    assert db.session.get(Inquiry, second_id).assigned_contact_id != sam_id
    assert len(emails(kind=EmailKind.ACCEPTANCE_MISSED)) == 4


# --- the managers' notice: each move told once, whenever its run stopped -------------------------


def notices_since(seen: int) -> list[OutboundEmail]:
    return emails(kind=EmailKind.ACCEPTANCE_MISSED)[seen:]


def told_at(inquiry: Inquiry) -> list[datetime | None]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(InquiryPass.managers_told_at).where(InquiryPass.inquiry_id == inquiry.id).order_by(InquiryPass.id)
        )
    )


def pending_moves() -> int:
    return db.session.scalar(select(func.count()).select_from(InquiryPass).where(notice_pending_clause()))


# Each run: minutes after WINDOW_ENDS, and whether its notice's transaction fails; then, per
# run, the inquiries its notice lists. "early" is due at WINDOW_ENDS, "late" an hour later.
OK, FAILS = False, True


@pytest.mark.parametrize(
    ("runs", "told"),
    [
        pytest.param(((0, OK), (60, OK), (61, OK)), ({"early"}, {"late"}, set()), id="each run tells its own moves"),
        pytest.param(((0, FAILS), (1, OK), (2, OK)), (set(), {"early"}, set()), id="a failed notice is told next run"),
        pytest.param(((0, FAILS), (60, OK), (61, OK)), (set(), {"early", "late"}, set()), id="with the next run's moves"),
        pytest.param(((0, FAILS), (60, FAILS), (61, OK)), (set(), set(), {"early", "late"}), id="after two failures"),
    ],
)
def test_each_move_is_told_once_in_the_first_notice_that_goes(world, managers, monkeypatch, runs, told):
    """A move is committed awaiting its notice; the notice lists every move awaiting it and
    marks them told, in one transaction: a notice that fails (or a run that stops before it)
    leaves its moves for the next run, which tells them once."""
    inquiries = {"early": receive(topic=world.home_visits), "late": receive(topic=world.doulas)}
    inquiries["late"].acceptance_due_at = WINDOW_ENDS + timedelta(minutes=60)
    db.session.commit()
    first_contacts = {name: inquiry.assigned_contact_id for name, inquiry in inquiries.items()}
    tell_managers = acceptance_jobs.tell_managers

    def outbox_down(moved):
        raise RuntimeError("the outbox insert failed")

    seen = 0
    for (minutes, fails), expected in zip(runs, told, strict=True):
        now = WINDOW_ENDS + timedelta(minutes=minutes)
        monkeypatch.setattr(acceptance_jobs, "tell_managers", outbox_down if fails else tell_managers)
        if fails:
            with pytest.raises(RuntimeError):
                run_acceptance_timers(now)
            db.session.rollback()  # as the runner does: what stands was committed
        else:
            run_acceptance_timers(now)

        notices = notices_since(seen)
        seen += len(notices)
        if not expected:
            assert notices == []
            continue
        assert sorted(email.to_address for email in notices) == ["mo@example.org", "morgan@example.org"]
        for email in notices:
            listed = {name for name, inquiry in inquiries.items() if inquiry.reference in email.body_text}
            assert listed == expected
        for name in expected:
            assert told_at(inquiries[name]) == [now]
        if not fails:
            assert pending_moves() == 0

    # Every move stands, moved on once, and was told once.
    for name in set().union(*told):
        assert reload(inquiries[name]).assigned_contact_id not in (None, first_contacts[name])
        assert len(told_at(inquiries[name])) == 1
    assert len(emails(kind=EmailKind.ACCEPTANCE_MISSED)) == 2 * sum(1 for names in told if names)


def test_a_notice_names_where_each_move_went_even_when_a_later_run_sends_it(world, managers, spanish, monkeypatch):
    first = spanish.assigned_contact

    def outbox_down(moved):
        raise RuntimeError("the outbox insert failed")

    monkeypatch.setattr(acceptance_jobs, "tell_managers", outbox_down)
    with pytest.raises(RuntimeError):
        run_acceptance_timers(WINDOW_ENDS)
    db.session.rollback()
    taker = reload(spanish).assigned_contact
    # Staff reassign it before the next run: the notice still says where the move took it.
    spanish = reload(spanish)
    spanish.assigned_contact = world.sam
    db.session.commit()
    monkeypatch.undo()

    assert run_acceptance_timers(WINDOW_ENDS + timedelta(minutes=1)) == []

    notices = emails(kind=EmailKind.ACCEPTANCE_MISSED)
    assert len(notices) == 2
    for email in notices:
        assert f"- {spanish.reference}: from {first.name} to {taker.name}" in email.body_text
        assert email.subject == f"Inquiry {spanish.reference} was not accepted in time"


def waiting_moves(world, count: int) -> list[str]:
    """What ``count`` moves left waiting for their notice leave (a long spell with nobody to
    tell), written in two statements rather than routed one by one; their references, oldest
    move first."""
    references = [f"IM-MOVE{number:04d}" for number in range(count)]
    ids = db.session.scalars(
        insert(Inquiry).returning(Inquiry.id, sort_by_parameter_order=True),
        [
            {"reference": reference, "name": "Rosa Requester", "email": "rosa@example.net", "message": "Help, please."}
            for reference in references
        ],
    ).all()
    db.session.execute(
        insert(InquiryPass),
        [
            {
                "inquiry_id": inquiry_id,
                "contact_id": world.nora.id,
                "moved_to_contact_id": world.sam.id,
                "reason": PassReason.NOT_ACCEPTED_IN_TIME,
                "passed_at": NOW + timedelta(seconds=number),
            }
            for number, inquiry_id in enumerate(ids)
        ],
    )
    db.session.commit()
    return references


LISTED = re.compile(r"^- (\S+): from Nora North to Sam South$", re.MULTILINE)


@pytest.mark.parametrize(
    ("moves", "shown", "more"),
    [
        pytest.param(1, 1, 0, id="one"),
        pytest.param(DIGEST_MAX_LINES, DIGEST_MAX_LINES, 0, id="as many as it lists"),
        pytest.param(DIGEST_MAX_LINES + 1, DIGEST_MAX_LINES, 1, id="one more"),
        pytest.param(250, DIGEST_MAX_LINES, 150, id="many more"),
    ],
)
def test_a_notice_lists_the_first_moves_and_counts_the_rest(world, managers, moves, shown, more):
    """Moves wait for their notice while there is nobody to tell, so one notice may carry
    thousands: it lists the oldest, as many as an SLA digest, and says how many more there are,
    with the inbox's address. Every move is counted in the subject and marked told."""
    references = waiting_moves(world, moves)

    assert acceptance_jobs.tell_pending(WINDOW_ENDS) == moves

    notices = emails(kind=EmailKind.ACCEPTANCE_MISSED)
    assert sorted(email.to_address for email in notices) == ["mo@example.org", "morgan@example.org"]
    for email in notices:
        assert LISTED.findall(email.body_text) == references[:shown]
        assert email.subject == (
            f"Inquiry {references[0]} was not accepted in time"
            if moves == 1
            else f"{moves} inquiries were not accepted in time"
        )
        if more:
            assert f"\nAnd {more} more, in the inbox:\n{public_url('inquiries.index')}\n" in email.body_text
        else:
            assert "more, in the inbox" not in email.body_text
    assert pending_moves() == 0


def test_with_nobody_to_tell_the_moves_wait_for_a_manager(world, spanish):
    assert len(run_acceptance_timers(WINDOW_ENDS)) == 1
    assert emails(kind=EmailKind.ACCEPTANCE_MISSED) == []
    assert told_at(spanish) == [None]

    UserFactory(role=Role.MANAGER, email="new@example.org")
    later = WINDOW_ENDS + timedelta(minutes=1)
    run_acceptance_timers(later)
    run_acceptance_timers(later + timedelta(minutes=1))

    [notice] = emails(kind=EmailKind.ACCEPTANCE_MISSED)
    assert notice.to_address == "new@example.org"
    assert spanish.reference in notice.body_text
    assert told_at(spanish) == [later]


def test_a_runner_that_read_the_moves_before_another_told_them_tells_nothing(world, spanish, managers, monkeypatch):
    """Two runners at once: the second reads the moves awaiting the notice, the first tells
    them meanwhile, and the second's mark, conditional on their being still untold, takes
    none, so it queues no notice. (On PostgreSQL the first holds them locked until it commits,
    and the second, SKIP LOCKED, does not even read them: see the threaded test below.)"""
    monkeypatch.setattr(acceptance_jobs, "tell_managers", lambda moved: (_ for _ in ()).throw(RuntimeError("down")))
    with pytest.raises(RuntimeError):
        run_acceptance_timers(WINDOW_ENDS)
    db.session.rollback()
    monkeypatch.undo()

    second_runner_read = [row[0] for row in acceptance_jobs._pending()]
    db.session.rollback()
    assert len(second_runner_read) == 1
    assert acceptance_jobs.tell_pending(WINDOW_ENDS) == 1  # the first runner

    assert acceptance_jobs._mark_told(second_runner_read, WINDOW_ENDS) == set()
    db.session.rollback()
    assert acceptance_jobs.tell_pending(WINDOW_ENDS) == 0
    assert len(emails(kind=EmailKind.ACCEPTANCE_MISSED)) == 2


def test_the_notice_step_reads_its_partial_index(world, spanish, managers):
    from tests.query_plans import plan, statements_run

    with statements_run() as ran:
        run_acceptance_timers(WINDOW_ENDS - timedelta(minutes=1))

    [(statement, parameters)] = [(statement, parameters) for statement, parameters in ran if "managers_told_at IS NULL" in statement]
    notice_plan = plan(statement, parameters)
    db.session.rollback()
    # Its order too: SQLite walks the partial index rather than the table.
    assert "ix_inquiry_passes_notice_pending" in notice_plan
    assert "SCAN inquiry_passes\n" not in notice_plan + "\n"


def test_a_second_runner_skips_the_moves_another_is_telling_and_does_not_wait(database_url, tmp_path, monkeypatch):
    """Two runners at once on PostgreSQL: while the first holds the moves it is telling, the
    second's run passes them by (SKIP LOCKED) rather than waiting for the first to commit,
    queues no notice of them, and the first tells them once."""
    import threading

    from sqlalchemy.engine import make_url

    from config import TestConfig
    from crm import create_app
    from tests.factories import ContactFactory, OrganisationFactory
    from tests.fixtures_database import database_of_its_own

    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("row locks: SQLite's runner holds the whole database while it writes")
    with database_of_its_own(database_url, tmp_path, "told") as (url, options):
        # Never wait for ever: a lock still held after 10 s fails the test instead.
        options["connect_args"]["options"] += " -c lock_timeout=10s"
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
        with app.app_context():
            db.create_all()
            foundation = OrganisationFactory(name="The Foundation")
            left, taker = (ContactFactory(organisation=foundation, accepts_inquiries=True) for _ in range(2))
            taker.is_inquiry_fallback = True
            UserFactory(role=Role.MANAGER, email="morgan@example.org")
            # What a run that stopped before its notice leaves: two moves awaiting it.
            for inquiry in (InquiryFactory(now=NOW) for _ in range(2)):
                db.session.add(
                    InquiryPass(
                        inquiry_id=inquiry.id,
                        contact_id=left.id,
                        moved_to_contact_id=taker.id,
                        reason=PassReason.NOT_ACCEPTED_IN_TIME,
                        passed_at=NOW,
                    )
                )
            db.session.commit()
            db.session.remove()

        tell_managers = acceptance_jobs.tell_managers
        second: dict[str, object] = {}

        def second_runner() -> None:
            with app.app_context():
                try:
                    second["moved"] = run_acceptance_timers(NOW)
                    second["notices"] = db.session.scalar(
                        select(func.count()).select_from(OutboundEmail).where(OutboundEmail.kind == EmailKind.ACCEPTANCE_MISSED)
                    )
                except Exception as error:  # noqa: BLE001  (reported by the assertion below)
                    second["error"] = repr(error)
                finally:
                    db.session.remove()

        def while_the_first_holds_them(moved):
            runner = threading.Thread(target=second_runner)
            runner.start()
            runner.join(5.0)  # done, unless it waits for the first runner's locks
            second["finished"] = not runner.is_alive()
            runner.join(20)
            return tell_managers(moved)

        monkeypatch.setattr(acceptance_jobs, "tell_managers", while_the_first_holds_them)
        with app.app_context():
            assert run_acceptance_timers(NOW) == []  # nothing is due: only the moves left to tell
            notices = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == EmailKind.ACCEPTANCE_MISSED)).all()
            listed = [notice.subject for notice in notices]
            pending = db.session.scalar(select(func.count()).select_from(InquiryPass).where(notice_pending_clause()))
            db.session.remove()
            db.engine.dispose()

    assert second == {"moved": [], "notices": 0, "finished": True}
    assert listed == ["2 inquiries were not accepted in time"]
    assert pending == 0
