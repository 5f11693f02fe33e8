"""Service-level clock jobs: remind contacts before the deadline, tell managers after it.

``run_sla_checks(now)`` looks at open inquiries that still have no first response:

- a reminder is due for an inquiry assigned to a contact once the business hours left before
  ``due_at`` are at most ``SLA_REMINDER_HOURS`` (default 4), unless it was reminded already;
- an escalation is due once ``due_at`` has passed, unless the inquiry was escalated already.

Each run is a digest: one email per contact listing the inquiries it reminds them of, and one
email per active manager (per active admin when there is no manager) listing the inquiries it
escalates; never an email per inquiry. A digest lists references, county, topic, how long is
left or how late it is, and a link: never the message, which may be about a pregnancy or a
loss, nor who wrote it or how to reach them. It is written in its reader's language
(``staff_language``).

Incremental: an inquiry waits in a partial index (``ix_inquiries_reminder_pending``,
``ix_inquiries_escalation_pending``) until it has been handled, and a run reads only the
entries whose deadline has come, so a run where little changed reads a handful of index
entries however many inquiries there are. Handling one sets ``reminder_sent_at`` or
``escalated_at``, which takes it out of its index, and writes its timeline line; everything
is written by a few statements, whatever the number of inquiries, and committed once, so
running the job twice sends nothing new. On PostgreSQL the rows are locked (SKIP LOCKED)
while they are handled, and each is marked only if it is still unmarked, so two workers never
send the same reminder.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale, gettext
from sqlalchemy import Row, insert, select, update

from crm import audit
from crm.business_hours import BusinessCalendar, add_business_hours
from crm.database import utcnow
from crm.extensions import db
from crm.holidays import calendars
from crm.languages import staff_language
from crm.mail.outbox import public_url, queue_email, render_email
from crm.models import Contact, County, EmailKind, Inquiry, InquiryEvent, InquiryEventKind, Role, Topic, User
from crm.models.inquiry import escalation_pending_clause, reminder_pending_clause
from crm.timezones import display_timezone, format_datetime

DEFAULT_REMINDER_HOURS = 4
# A digest lists at most this many inquiries and links to the list for the rest: the first
# run on a large database, or one after a long outage, may find thousands.
DIGEST_MAX_LINES = 100
# Rows marked per statement (SQLite takes a few thousand bound values at most).
MARK_CHUNK = 900


def reminder_horizon(now: datetime, lead_hours: float, calendar: BusinessCalendar) -> datetime:
    """The latest deadline that has at most ``lead_hours`` business hours left at ``now`` by
    ``calendar``.

    Adding zero hours to a closing time gives the next opening, so a deadline at Tuesday
    09:00 counts as exactly as near as one at Monday 17:00 (no business time lies between).
    """
    return add_business_hours(add_business_hours(now, lead_hours, calendar), 0, calendar)


@dataclass(frozen=True)
class DueInquiry:
    """What a digest may say about one inquiry: no message, no name, no contact details."""

    id: int
    reference: str
    due_at: datetime
    organisation_id: int | None
    contact_id: int | None
    county: str
    topic_en: str
    topic_es: str

    @classmethod
    def from_row(cls, row: Row) -> DueInquiry:
        return cls(*row)

    def topic(self, language: str) -> str:
        return (self.topic_es if language == "es" else self.topic_en) or ""

    @property
    def url(self) -> str:
        return public_url("inquiries.detail", inquiry_id=self.id)


def _due(*conditions) -> list[DueInquiry]:
    """The inquiries matching ``conditions``, soonest deadline first, locked on PostgreSQL
    (SKIP LOCKED: rows another worker is handling are left to it). ``conditions`` repeat a
    partial index's, term for term, so that the index can serve them."""
    rows = db.session.execute(
        select(
            Inquiry.id,
            Inquiry.reference,
            Inquiry.due_at,
            Inquiry.organisation_id,
            Inquiry.assigned_contact_id,
            County.name,
            Topic.name_en,
            Topic.name_es,
        )
        .outerjoin(County, County.fips == Inquiry.county_fips)
        .outerjoin(Topic, Topic.id == Inquiry.topic_id)
        .where(*conditions)
        .order_by(Inquiry.due_at, Inquiry.id)
        .with_for_update(skip_locked=True, of=Inquiry)
    )
    return [DueInquiry.from_row(row) for row in rows]


def _near_their_deadline(inquiries: list[DueInquiry], now: datetime, lead_hours: float) -> list[DueInquiry]:
    """Those with at most ``lead_hours`` business hours left, each by the holidays of the
    organisation it is with."""
    by_organisation = calendars.calendars_for({inquiry.organisation_id for inquiry in inquiries})
    horizons = {
        organisation_id: reminder_horizon(now, lead_hours, calendar)
        for organisation_id, calendar in by_organisation.items()
    }
    return [inquiry for inquiry in inquiries if inquiry.due_at <= horizons[inquiry.organisation_id]]


def _mark(column, ids: Sequence[int], now: datetime) -> set[int]:
    """Set ``column`` to ``now`` on those of ``ids`` where it is still unset; the ids marked.
    A copy of one of them already in the session (a caller's) reads the new value next time."""
    marked: set[int] = set()
    for start in range(0, len(ids), MARK_CHUNK):
        chunk = ids[start : start + MARK_CHUNK]
        marked.update(
            db.session.scalars(
                update(Inquiry)
                .where(Inquiry.id.in_(chunk), column.is_(None))
                .values({column.key: now})
                .returning(Inquiry.id)
                .execution_options(synchronize_session=False)
            )
        )
    for inquiry_id in marked:
        loaded = db.session.identity_map.get(db.session.identity_key(Inquiry, inquiry_id))
        if loaded is not None:
            db.session.expire(loaded, [column.key])
    return marked


def _add_events(kind: InquiryEventKind, now: datetime, lines: Iterable[tuple[int, str, dict]]) -> None:
    rows = [
        {"inquiry_id": inquiry_id, "occurred_at": now, "kind": kind, "actor_id": None, "detail": detail, "data": data}
        for inquiry_id, detail, data in lines
    ]
    if rows:
        db.session.execute(insert(InquiryEvent), rows)


def escalation_recipients() -> list[User]:
    """Active managers; active admins when the initiative has no manager."""
    for role in (Role.MANAGER, Role.ADMIN):
        users = db.session.scalars(select(User).where(User.role == role, User.active.is_(True)).order_by(User.id)).all()
        if users:
            return list(users)
    return []


def recipient_language(user: User) -> str:
    """The language a manager's or admin's email is written in: their linked contact's
    (staff_language), English for a user linked to no contact."""
    contact = user.contact
    return staff_language(contact.languages if contact is not None else ())


def _due_text(due_at: datetime) -> str:
    return f"{format_datetime(due_at)} ({display_timezone()} time)"


def _span(delta: timedelta) -> str:
    """A duration as a digest says it, in the current locale: "45 min", "3 h", "2 days"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return gettext("%(count)s min", count=max(minutes, 1))
    hours = minutes // 60
    if hours < 48:
        return gettext("%(count)s h", count=hours)
    return gettext("%(count)s days", count=hours // 24)


def _when(inquiry: DueInquiry, now: datetime) -> str:
    if inquiry.due_at <= now:
        return gettext("overdue by %(span)s", span=_span(now - inquiry.due_at))
    return gettext("due in %(span)s", span=_span(inquiry.due_at - now))


@dataclass(frozen=True)
class DigestLine:
    reference: str
    county: str
    topic: str
    when: str
    url: str


def _queue_digest(
    kind: EmailKind, to_address: str, name: str, language: str, items: list[DueInquiry], now: datetime
) -> None:
    """One email listing ``items`` (the first DIGEST_MAX_LINES of them) in ``language``."""
    with force_locale(language):
        lines = [
            DigestLine(item.reference, item.county, item.topic(language), _when(item, now), item.url)
            for item in items[:DIGEST_MAX_LINES]
        ]
        if kind is EmailKind.SLA_REMINDER:
            subject = gettext("Reminder: inquiries due for a first response (%(count)s)", count=len(items))
            more_url = public_url("inquiries.index", mine=1)
        else:
            subject = gettext("Overdue: inquiries without a first response (%(count)s)", count=len(items))
            more_url = public_url("inquiries.index", overdue=1)
        body = render_email(
            f"email/{kind}_digest.txt",
            name=name,
            lines=lines,
            more=len(items) - len(lines),
            more_url=more_url,
        )
    queue_email(kind=kind, to_address=to_address, subject=subject, body_text=body, language=language)


def _send_reminders(now: datetime, lead_hours: float) -> int:
    # The widest calendar's horizon is the latest any organisation's can be: the rows past it
    # are left alone, and those before it are checked by their own organisation's holidays.
    widest = reminder_horizon(now, lead_hours, calendars.widest_calendar())
    # A contact without an email address cannot be reminded. Their inquiries are left out of
    # the candidates rather than marked as reminded: unmarked, the reminder still goes once
    # the address is added (or the inquiry is reassigned), and a quiet run neither returns
    # nor locks them. Escalation does not depend on it (its own index and mark), so managers
    # still hear of them once overdue. The partial index still serves the query (contacts
    # are a semi-join; test_the_run_reads_the_pending_inquiries_from_their_partial_indexes).
    candidates = _due(
        reminder_pending_clause(),
        Inquiry.due_at <= widest,
        Inquiry.assigned_contact_id.in_(select(Contact.id).where(Contact.email != "")),
    )
    due = _near_their_deadline(candidates, now, lead_hours) if candidates else []
    if not due:
        return 0
    contacts = {
        contact.id: contact
        for contact in db.session.scalars(select(Contact).where(Contact.id.in_({item.contact_id for item in due})))
    }
    # An address removed since the read above: left unmarked, like the rest of theirs.
    due = [item for item in due if contacts[item.contact_id].email]
    marked = _mark(Inquiry.reminder_sent_at, [item.id for item in due], now)
    by_contact: dict[int, list[DueInquiry]] = defaultdict(list)
    for item in due:
        if item.id in marked:
            by_contact[item.contact_id].append(item)
    for contact_id, items in by_contact.items():
        contact = contacts[contact_id]
        _queue_digest(
            EmailKind.SLA_REMINDER, contact.email, contact.name, staff_language(contact.languages), items, now
        )
        _add_events(
            InquiryEventKind.REMINDER,
            now,
            (
                (
                    item.id,
                    f"Reminder for {contact.name}: a first response is due by {_due_text(item.due_at)}",
                    {"contact_id": contact.id},
                )
                for item in items
            ),
        )
    return len(marked)


def _send_escalations(now: datetime) -> int:
    recipients = escalation_recipients()
    if not recipients:
        waiting = db.session.scalar(
            select(Inquiry.id).where(escalation_pending_clause(), Inquiry.due_at < now).limit(1)
        )
        if waiting is not None:
            current_app.logger.warning("Inquiries are overdue, but no active manager or admin can be told")
        return 0
    due = _due(escalation_pending_clause(), Inquiry.due_at < now)
    if not due:
        return 0
    marked = _mark(Inquiry.escalated_at, [item.id for item in due], now)
    items = [item for item in due if item.id in marked]
    for user in recipients:
        _queue_digest(EmailKind.SLA_ESCALATION, user.email, user.name, recipient_language(user), items, now)
    told = ", ".join(user.name for user in recipients)
    user_ids = [user.id for user in recipients]
    _add_events(
        InquiryEventKind.ESCALATED,
        now,
        ((item.id, f"Overdue: escalated to {told}", {"user_ids": user_ids}) for item in items),
    )
    return len(items)


def run_sla_checks(now: datetime) -> tuple[int, int]:
    """Queue the reminder and escalation digests due at ``now``; returns how many inquiries
    each covered."""
    lead = float(current_app.config.get("SLA_REMINDER_HOURS", DEFAULT_REMINDER_HOURS))
    reminders = _send_reminders(now, lead)
    escalations = _send_escalations(now)
    audit.commit(actor=None)
    return reminders, escalations


def sla_checks_job(now: datetime) -> str:
    """The sla-checks job (crm.jobs.catalogue), and `flask crm sla-check`."""
    reminders, escalations = run_sla_checks(now)
    summary = f"Queued {reminders} reminder(s) and {escalations} escalation(s)."
    if reminders or escalations:
        current_app.logger.info("SLA checks: %s", summary)
    return summary


@click.command("sla-check")
@with_appcontext
def sla_command() -> None:
    """Queue the reminders and escalations that are due now (the job runner does this every minute)."""
    click.echo(sla_checks_job(utcnow()))
