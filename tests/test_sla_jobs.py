"""Reminders before the response deadline and escalations after it, on the business calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import factory
import pytest
from sqlalchemy import func, select, text

from crm.database import utcnow
from crm.extensions import db
from crm.inquiries.sla_jobs import run_sla_checks, sla_command
from crm.mail.outbox import inquiry_url
from crm.models import EmailStatus, Inquiry, InquiryEvent, InquiryEventKind, InquiryOutcome, OutboundEmail, Role, Topic
from crm.models.inquiry_status import InquiryStatus
from tests import factories
from tests.query_plans import plan, statements_run

SECRET = "I lost the baby at 20 weeks and need someone to talk to"
REQUESTER = "Private Requester"
REQUESTER_EMAIL = "private.requester@example.net"


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)


class InquiryFactory(factories.BaseFactory):
    class Meta:
        model = Inquiry

    reference = factory.Sequence(lambda n: f"SL-{n:06d}")
    received_at = factory.LazyAttribute(lambda o: (o.due_at or utcnow()) - timedelta(days=3))
    name = REQUESTER
    email = REQUESTER_EMAIL
    message = SECRET
    status = InquiryStatus.ASSIGNED
    language = "en"
    consent = True  # from the web form, which requires it
    assigned_contact = factory.SubFactory(factories.ContactFactory, name="Lucía Ramírez")


@pytest.fixture(autouse=True)
def calendar(app, monkeypatch):
    """Weekdays 09:00-17:00 in Chicago, reminders four business hours ahead (no holidays unless a
    test adds them to a calendar)."""
    for key, value in {
        "SLA_TIMEZONE": "America/Chicago",
        "DISPLAY_TIMEZONE": "America/Chicago",
        "SLA_DAY_START_HOUR": 9,
        "SLA_DAY_END_HOUR": 17,
        "SLA_REMINDER_HOURS": 4,
    }.items():
        monkeypatch.setitem(app.config, key, value)


@pytest.fixture
def managers(app):
    return [
        factories.UserFactory(role=Role.MANAGER, name="Morgan Manager", email="morgan@example.org"),
        factories.UserFactory(role=Role.MANAGER, name="Mo Manager", email="mo@example.org"),
        factories.UserFactory(role=Role.MANAGER, name="Gone Manager", email="gone@example.org", active=False),
        factories.UserFactory(role=Role.ADMIN, name="Avery Admin", email="avery@example.org"),
        factories.UserFactory(role=Role.STAFF, name="Sasha Staff", email="sasha@example.org"),
    ]


def emails(kind: str | None = None) -> list[OutboundEmail]:
    query = select(OutboundEmail).order_by(OutboundEmail.id)
    if kind:
        query = query.where(OutboundEmail.kind == kind)
    return list(db.session.scalars(query))


def events(inquiry: Inquiry, kind: InquiryEventKind) -> list[InquiryEvent]:
    return list(
        db.session.scalars(select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == kind))
    )


# --- when a reminder goes ---------------------------------------------------------------------------

TUESDAY_3PM = local(2026, 3, 3, 15)
MONDAY_11AM = local(2026, 3, 9, 11)  # after a weekend and the change to summer time
TUESDAY_OPENING = local(2026, 3, 3, 9)


@pytest.mark.parametrize(
    ("due", "now", "reminded"),
    [
        (TUESDAY_3PM, local(2026, 3, 3, 10, 59), False),  # 4h01 left
        (TUESDAY_3PM, local(2026, 3, 3, 11), True),  # exactly 4 hours left
        (TUESDAY_3PM, local(2026, 3, 3, 14), True),
        (TUESDAY_3PM, local(2026, 3, 3, 16), True),  # already late: reminded and escalated
        (TUESDAY_3PM, local(2026, 3, 2, 15), False),  # a day ahead
        (MONDAY_11AM, local(2026, 3, 6, 15), True),  # Friday 15-17 and Monday 9-11: four hours
        (MONDAY_11AM, local(2026, 3, 6, 14, 59), False),
        (MONDAY_11AM, local(2026, 3, 7, 12), True),  # Saturday: two business hours left
        (TUESDAY_OPENING, local(2026, 3, 2, 13), True),  # no business time between Monday 17:00 and Tuesday 09:00
        (TUESDAY_OPENING, local(2026, 3, 2, 12, 59), False),
    ],
)
def test_reminder_goes_within_four_business_hours_of_the_deadline(app, managers, due, now, reminded):
    inquiry = InquiryFactory(due_at=due)

    reminders, _escalations = run_sla_checks(now)

    assert reminders == (1 if reminded else 0)
    assert (inquiry.reminder_sent_at == now) is reminded
    assert len(emails("sla_reminder")) == reminders
    assert len(events(inquiry, InquiryEventKind.REMINDER)) == reminders


@pytest.mark.parametrize(("holidays", "reminded"), [((), False), ((date(2026, 3, 9),), True)])
def test_a_holiday_is_not_business_time(app, managers, holidays, reminded):
    factories.foundation_holidays(*holidays)
    InquiryFactory(due_at=local(2026, 3, 10, 11))  # Tuesday

    # Friday 15:00: two hours on Friday, eight on Monday unless it is a holiday, two on Tuesday.
    reminders, _escalations = run_sla_checks(local(2026, 3, 6, 15))

    assert reminders == (1 if reminded else 0)


def test_reminder_goes_to_the_assigned_contact_with_a_link_only(app, managers):
    inquiry = InquiryFactory(due_at=TUESDAY_3PM)

    run_sla_checks(local(2026, 3, 3, 12))

    [email] = emails("sla_reminder")
    assert email.to_address == inquiry.assigned_contact.email
    assert email.subject == "Reminder: inquiries due for a first response (1)"
    assert f"- {inquiry.reference} · " in email.body_text
    assert " · due in 3 h\n" in email.body_text
    assert inquiry_url(inquiry) in email.body_text
    assert email.inquiry_id is None  # a digest is about its list, not one inquiry
    [event] = events(inquiry, InquiryEventKind.REMINDER)
    assert event.detail.startswith("Reminder for Lucía Ramírez: a first response is due by ")


# --- escalation -------------------------------------------------------------------------------------


def test_escalation_after_the_deadline_goes_to_every_active_manager(app, managers):
    inquiry = InquiryFactory(due_at=TUESDAY_3PM)

    reminders, escalations = run_sla_checks(local(2026, 3, 3, 15, 1))

    assert (reminders, escalations) == (1, 1)
    assert sorted(email.to_address for email in emails("sla_escalation")) == ["mo@example.org", "morgan@example.org"]
    assert inquiry.escalated_at == local(2026, 3, 3, 15, 1)
    [event] = events(inquiry, InquiryEventKind.ESCALATED)
    assert "Morgan Manager" in event.detail


def test_no_escalation_at_the_deadline_itself(app, managers):
    inquiry = InquiryFactory(due_at=TUESDAY_3PM)

    _reminders, escalations = run_sla_checks(TUESDAY_3PM)

    assert escalations == 0
    assert inquiry.escalated_at is None


def test_escalation_falls_back_to_admins_without_managers(app):
    factories.UserFactory(role=Role.ADMIN, email="avery@example.org")
    factories.UserFactory(role=Role.MANAGER, email="gone@example.org", active=False)
    InquiryFactory(due_at=TUESDAY_3PM)

    run_sla_checks(local(2026, 3, 4, 9))

    assert [email.to_address for email in emails("sla_escalation")] == ["avery@example.org"]


def test_without_anyone_to_tell_nothing_is_marked_escalated(app):
    inquiry = InquiryFactory(due_at=TUESDAY_3PM)

    _reminders, escalations = run_sla_checks(local(2026, 3, 4, 9))

    assert escalations == 0
    assert inquiry.escalated_at is None


def test_unassigned_inquiry_is_escalated_but_nobody_is_reminded(app, managers):
    inquiry = InquiryFactory(due_at=TUESDAY_3PM, assigned_contact=None, status=InquiryStatus.NEW)

    reminders, escalations = run_sla_checks(local(2026, 3, 4, 9))

    assert (reminders, escalations) == (0, 1)
    assert inquiry.reminder_sent_at is None  # a contact assigned later is still reminded
    assert f"- {inquiry.reference} · " in emails("sla_escalation")[0].body_text


def test_a_quiet_sla_run_does_not_read_again_every_inquiry_of_a_contact_without_email(app, managers, monkeypatch):
    """A contact without an email address cannot be reminded: their inquiries are left out of
    the reminder's candidates (not marked), so a run each minute neither reads nor locks them
    again. They are still escalated, and reminded once the contact has an address."""
    from crm.inquiries import sla_jobs

    phone_only = factories.ContactFactory(name="Phone Only", email="")
    waiting = [InquiryFactory(due_at=TUESDAY_3PM, assigned_contact=phone_only) for _ in range(30)]
    now = local(2026, 3, 4, 9)
    assert run_sla_checks(now) == (0, 30)  # escalated all the same; nobody can be reminded
    assert all(inquiry.reminder_sent_at is None for inquiry in waiting)

    read: list[int] = []
    real_due = sla_jobs._due
    monkeypatch.setattr(sla_jobs, "_due", lambda *conditions: read.append(len(rows := real_due(*conditions))) or rows)
    assert run_sla_checks(now + timedelta(minutes=1)) == (0, 0)
    assert sum(read) == 0, f"a run where nothing changed read {read} rows"

    phone_only.email = "phone.only@example.org"
    db.session.commit()
    assert run_sla_checks(now + timedelta(minutes=2)) == (30, 0)
    [reminder] = emails("sla_reminder")
    assert reminder.to_address == "phone.only@example.org"


@pytest.mark.parametrize(
    "fields",
    [
        {"status": InquiryStatus.RESPONDED, "first_response_at": local(2026, 3, 2, 10)},
        {
            "status": InquiryStatus.CLOSED,
            "outcome": InquiryOutcome.CONNECTED,
            "first_response_at": local(2026, 3, 2, 10),
        },
        {"status": InquiryStatus.IN_PROGRESS, "first_response_at": local(2026, 3, 2, 10)},
        {"status": InquiryStatus.SPAM},
        {"due_at": None},
    ],
    ids=["responded", "closed", "answered-in-progress", "spam", "no-deadline"],
)
def test_answered_closed_and_spam_inquiries_are_left_alone(app, managers, fields):
    InquiryFactory(**({"due_at": TUESDAY_3PM} | fields))

    assert run_sla_checks(local(2026, 3, 5, 9)) == (0, 0)
    assert emails() == []


# --- idempotence and privacy -----------------------------------------------------------------------


def test_running_twice_sends_nothing_new(app, managers):
    inquiry = InquiryFactory(due_at=TUESDAY_3PM)
    now = local(2026, 3, 4, 9)

    first = run_sla_checks(now)
    queued = len(emails())
    second = run_sla_checks(now)
    later = run_sla_checks(now + timedelta(days=7))

    assert first == (1, 1)
    assert second == later == (0, 0)
    assert len(emails()) == queued
    assert len(events(inquiry, InquiryEventKind.REMINDER)) == 1
    assert len(events(inquiry, InquiryEventKind.ESCALATED)) == 1


def test_emails_carry_no_message_text_nor_who_wrote_it(app, managers):
    inquiry = InquiryFactory(due_at=TUESDAY_3PM)

    run_sla_checks(local(2026, 3, 4, 9))

    sent = emails()
    assert {email.kind for email in sent} == {"sla_reminder", "sla_escalation"}
    for email in sent:
        for private in (SECRET, "lost the baby", REQUESTER, REQUESTER_EMAIL):
            assert private not in email.body_text
            assert private not in email.subject
        assert inquiry_url(inquiry) in email.body_text


def test_only_one_commit_for_the_whole_run(app, managers):
    for hours in range(3):
        InquiryFactory(due_at=TUESDAY_3PM + timedelta(hours=hours))
    commits = []
    from sqlalchemy import event

    def on_commit(_session):
        commits.append(1)

    event.listen(db.session, "after_commit", on_commit)
    try:
        assert run_sla_checks(local(2026, 3, 4, 9)) == (3, 3)
    finally:
        event.remove(db.session, "after_commit", on_commit)
    assert len(commits) == 1


def test_sla_check_command(app, managers):
    InquiryFactory(due_at=utcnow() - timedelta(hours=1))

    result = app.test_cli_runner().invoke(sla_command)

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Queued 1 reminder(s) and 1 escalation(s)."
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 3


def test_a_reassigned_inquiry_reminds_its_new_assignee(app, managers):
    """The reminder belongs to whoever holds the inquiry, so reassigning re-arms it."""
    from crm.inquiries import services as actions

    inquiry = InquiryFactory(due_at=TUESDAY_3PM)
    assert run_sla_checks(local(2026, 3, 3, 12)) == (1, 0)

    newcomer = factories.ContactFactory(name="Nora New", email="nora@example.org", accepts_inquiries=True)
    actions.assign(inquiry, newcomer, managers[0], local(2026, 3, 3, 12, 30))
    assert inquiry.reminder_sent_at is None

    assert run_sla_checks(local(2026, 3, 3, 13)) == (1, 0)
    assert [email.to_address for email in emails("sla_reminder")][-1] == "nora@example.org"


def test_jobs_once_queues_reminders_before_sending(app, managers, monkeypatch):
    from crm.jobs.cli import jobs_command

    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    InquiryFactory(due_at=utcnow() + timedelta(minutes=30))

    result = app.test_cli_runner().invoke(jobs_command, ["--once", "--only", "sla-checks", "--only", "send-mail"])

    assert result.exit_code == 0, result.output
    assert "send-mail: done: Outbox: 0 sent, 0 failed (will retry), 0 dead, 1 held" in result.output
    assert len(emails("sla_reminder")) == 1
    assert emails("sla_reminder")[0].status is EmailStatus.HELD  # queued, then handled in the same pass


# --- digests: one email per contact and per manager, whatever the number of inquiries -------------


def prenatal_care() -> Topic:
    topic = Topic(name_en="Prenatal care", name_es="Atención prenatal")
    db.session.add(topic)
    db.session.commit()
    return topic


def test_one_reminder_digest_per_contact_and_one_escalation_digest_per_manager(app, managers):
    lucia = factories.ContactFactory(name="Lucía Ramírez", email="lucia@example.org")
    dana = factories.ContactFactory(name="Dana Doe", email="dana@example.org")
    county = factories.CountyFactory()
    topic = prenatal_care()
    hers = [
        InquiryFactory(due_at=TUESDAY_3PM + timedelta(minutes=n), assigned_contact=lucia, county=county, topic=topic)
        for n in range(3)
    ]
    his = [InquiryFactory(due_at=TUESDAY_3PM, assigned_contact=dana) for _ in range(2)]
    now = local(2026, 3, 4, 9)  # the next morning: all five overdue

    assert run_sla_checks(now) == (5, 5)

    reminders = {email.to_address: email for email in emails("sla_reminder")}
    assert sorted(reminders) == ["dana@example.org", "lucia@example.org"]
    assert reminders["lucia@example.org"].subject == "Reminder: inquiries due for a first response (3)"
    for inquiry in hers:
        assert (
            f"- {inquiry.reference} · {county.name} · Prenatal care · overdue by "
            in reminders["lucia@example.org"].body_text
        )
        assert inquiry.reference not in reminders["dana@example.org"].body_text
    escalations = emails("sla_escalation")
    assert sorted(email.to_address for email in escalations) == ["mo@example.org", "morgan@example.org"]
    for email in escalations:
        assert email.subject == "Overdue: inquiries without a first response (5)"
        for inquiry in hers + his:
            assert f"- {inquiry.reference} · " in email.body_text
            assert inquiry_url(inquiry) in email.body_text
        for private in (SECRET, REQUESTER, REQUESTER_EMAIL, "Lucía", "Dana"):
            assert private not in email.body_text
    for inquiry in hers + his:
        assert len(events(inquiry, InquiryEventKind.REMINDER)) == 1
        assert len(events(inquiry, InquiryEventKind.ESCALATED)) == 1
        assert "Morgan Manager" in events(inquiry, InquiryEventKind.ESCALATED)[0].detail


def test_digests_are_in_the_readers_language(app):
    hablante = factories.ContactFactory(name="Rosa Ruiz", email="rosa@example.org", languages=["es"])
    both = factories.ContactFactory(name="Ana Both", email="ana@example.org", languages=["en", "es"])
    manager_contact = factories.ContactFactory(name="Marta Manager", email="marta@example.org", languages=["es"])
    factories.UserFactory(role=Role.MANAGER, name="Marta Manager", email="marta@example.org", contact=manager_contact)
    factories.UserFactory(role=Role.MANAGER, name="Morgan Manager", email="morgan@example.org")
    topic = prenatal_care()
    InquiryFactory(due_at=TUESDAY_3PM, assigned_contact=hablante, topic=topic)
    InquiryFactory(due_at=TUESDAY_3PM, assigned_contact=both, topic=topic)

    run_sla_checks(local(2026, 3, 3, 17))  # two hours late

    by_address = {email.to_address: email for email in emails()}
    spanish = by_address["rosa@example.org"]
    assert (spanish.language, spanish.subject) == (
        "es",
        "Recordatorio: consultas que esperan una primera respuesta (1)",
    )
    assert "Hola, Rosa Ruiz:" in spanish.body_text
    assert " · Atención prenatal · vencida hace 2 h\n" in spanish.body_text
    assert by_address["ana@example.org"].language == "en"
    assert " · Prenatal care · overdue by 2 h\n" in by_address["ana@example.org"].body_text
    assert by_address["marta@example.org"].subject == "Vencidas: consultas sin primera respuesta (2)"
    assert by_address["morgan@example.org"].subject == "Overdue: inquiries without a first response (2)"


def test_a_long_digest_lists_the_first_inquiries_and_links_to_the_rest(app, managers, monkeypatch):
    from crm.inquiries import sla_jobs

    monkeypatch.setattr(sla_jobs, "DIGEST_MAX_LINES", 2)
    contact = factories.ContactFactory(email="busy@example.org")
    inquiries = [InquiryFactory(due_at=TUESDAY_3PM + timedelta(minutes=n), assigned_contact=contact) for n in range(5)]

    assert run_sla_checks(local(2026, 3, 4, 9)) == (5, 5)

    [reminder] = emails("sla_reminder")
    assert [inquiry.reference in reminder.body_text for inquiry in inquiries] == [True, True, False, False, False]
    assert "And 3 more, in your list:\nhttp://127.0.0.1:5000/inquiries/?mine=1\n" in reminder.body_text
    escalation = emails("sla_escalation")[0]
    assert (
        "And 3 more, in the list of overdue inquiries:\nhttp://127.0.0.1:5000/inquiries/?overdue=1\n"
        in escalation.body_text
    )
    assert all(inquiry.escalated_at is not None for inquiry in inquiries)  # all handled, listed or not


# --- incremental: a run reads what is due, from an index, in a fixed number of statements ---------


def _run_counting(now: datetime) -> int:
    """The statements a run takes, those reading holiday calendars aside: a process may keep
    those for a while, so whether a run reads them depends on the runs before it."""
    with statements_run() as ran:
        run_sla_checks(now)
    return len([statement for statement, _parameters in ran if "holiday" not in statement])


def test_a_run_takes_the_same_number_of_statements_for_three_inquiries_or_thirty(app, managers):
    contacts = [factories.ContactFactory() for _ in range(3)]
    for n in range(3):
        InquiryFactory(due_at=TUESDAY_3PM, assigned_contact=contacts[n])
    few = _run_counting(local(2026, 3, 4, 9))

    for n in range(30):
        InquiryFactory(due_at=TUESDAY_3PM + timedelta(days=2), assigned_contact=contacts[n % 3])
    many = _run_counting(local(2026, 3, 6, 9))

    assert len(emails("sla_reminder")) == 6  # two runs, three contacts
    assert len(emails("sla_escalation")) == 4  # two runs, two managers
    assert many == few
    nothing_new = _run_counting(local(2026, 3, 6, 9, 1))
    assert nothing_new < few


def test_the_run_reads_the_pending_inquiries_from_their_partial_indexes(app, managers):
    InquiryFactory(due_at=TUESDAY_3PM)
    InquiryFactory(due_at=TUESDAY_3PM + timedelta(days=30))  # far from due: must not be read
    # As in a real database, most inquiries awaiting a response were reminded and escalated
    # already: on a table of two rows another partial index (those awaiting a response)
    # costs the planner the same, and which one it takes would be left to chance.
    handled = {"reminder_sent_at": TUESDAY_3PM, "escalated_at": TUESDAY_3PM}
    InquiryFactory.create_batch(60, due_at=TUESDAY_3PM - timedelta(days=3), **handled)
    db.session.flush()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE inquiries"))

    with statements_run() as ran:
        run_sla_checks(local(2026, 3, 4, 9))

    reads = [
        (statement, parameters)
        for statement, parameters in ran
        if statement.lstrip().upper().startswith("SELECT") and "FROM inquiries" in statement
    ]
    reminder = [entry for entry in reads if "reminder_sent_at IS NULL" in entry[0]]
    escalation = [entry for entry in reads if "escalated_at IS NULL" in entry[0]]
    assert len(reminder) == len(escalation) == 1
    reminder_plan, escalation_plan = plan(*reminder[0]), plan(*escalation[0])
    if db.engine.dialect.name == "postgresql":
        assert "ix_inquiries_reminder_pending" in reminder_plan
        assert "ix_inquiries_escalation_pending" in escalation_plan
    else:
        # SQLite (local work), without statistics, may take another index matching a term;
        # either way it searches an index rather than reading the table.
        assert "SEARCH inquiries USING INDEX" in reminder_plan
        assert "SEARCH inquiries USING INDEX" in escalation_plan
        assert "SCAN inquiries" not in reminder_plan + escalation_plan


def test_the_acceptance_timers_read_their_partial_index(app, managers):
    from crm.inquiries.acceptance_jobs import run_acceptance_timers

    with statements_run() as ran:
        run_acceptance_timers(local(2026, 3, 4, 9))

    [(statement, parameters)] = [
        (statement, parameters) for statement, parameters in ran if "acceptance_due_at <=" in statement
    ]
    acceptance_plan = plan(statement, parameters)
    if db.engine.dialect.name == "postgresql":
        assert "ix_inquiries_acceptance_due" in acceptance_plan
    else:
        assert "SCAN inquiries" not in acceptance_plan


def test_a_run_locks_no_open_inquiry_count(app, managers):
    """The acceptance job moves inquiries one per transaction so as never to hold two moves'
    count locks at once (crm.models.open_load); a run here marks many inquiries in one
    transaction, which is safe only because marking moves none and so neither writes nor
    locks a count: each count row keeps its version (ctid) and has no locker (xmax)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks of PostgreSQL's statement triggers")
    first, second = factories.ContactFactory(), factories.ContactFactory()
    for contact in (first, second, first, second):
        InquiryFactory(due_at=TUESDAY_3PM, assigned_contact=contact)
    db.session.commit()
    versions = text("SELECT contact_id, ctid::text, xmax::text FROM contact_open_loads ORDER BY contact_id")
    before = db.session.execute(versions).all()
    assert [row.contact_id for row in before] == sorted([first.id, second.id])

    reminders, escalations = run_sla_checks(local(2026, 3, 3, 16))

    assert (reminders, escalations) == (4, 4)
    assert db.session.execute(versions).all() == before
