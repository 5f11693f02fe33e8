"""Service-level clock jobs: remind the contact before the deadline, tell managers after it.

``run_sla_checks(now)`` looks at open inquiries that still have no first response:

- a reminder goes to the assigned contact once the business hours left before ``due_at``
  are at most ``SLA_REMINDER_HOURS`` (default 4), unless one was sent already;
- an escalation goes to every active manager (every active admin when there is no
  manager) once ``due_at`` has passed, unless the inquiry was escalated already.

Each sets its timestamp and writes an InquiryEvent, all in one commit, so running the job
twice sends nothing new. On PostgreSQL the rows are locked (SKIP LOCKED) while they are
handled, so two workers never send the same reminder. The emails carry the reference, the
deadline and a link: never the message, which may be about a pregnancy or a loss, nor who
wrote it.
"""

from __future__ import annotations

from datetime import datetime

import click
from flask import current_app, render_template
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm import audit
from crm.business_hours import BusinessCalendar, add_business_hours
from crm.database import utcnow
from crm.extensions import db
from crm.holidays import calendars
from crm.mail.outbox import inquiry_url, queue_email
from crm.models import Contact, EmailKind, Inquiry, InquiryEventKind, Role, User
from crm.models.inquiry import add_event, awaiting_response_clause
from crm.timezones import display_timezone, format_datetime

DEFAULT_REMINDER_HOURS = 4


def reminder_horizon(now: datetime, lead_hours: float, calendar: BusinessCalendar) -> datetime:
    """The latest deadline that has at most ``lead_hours`` business hours left at ``now`` by
    ``calendar``.

    Adding zero hours to a closing time gives the next opening, so a deadline at Tuesday
    09:00 counts as exactly as near as one at Monday 17:00 (no business time lies between).
    """
    return add_business_hours(add_business_hours(now, lead_hours, calendar), 0, calendar)


def _near_their_deadline(inquiries: list[Inquiry], now: datetime, lead_hours: float) -> list[Inquiry]:
    """Those with at most ``lead_hours`` business hours left, each by the holidays of the
    organisation it is with."""
    by_organisation = calendars.calendars_for({inquiry.organisation_id for inquiry in inquiries})
    horizons = {
        organisation_id: reminder_horizon(now, lead_hours, calendar) for organisation_id, calendar in by_organisation.items()
    }
    return [inquiry for inquiry in inquiries if inquiry.due_at <= horizons[inquiry.organisation_id]]


def _awaiting_response():
    return select(Inquiry).where(
        awaiting_response_clause(),
        Inquiry.due_at.is_not(None),
    )


def _locked(query):
    # The contact is loaded separately: FOR UPDATE cannot lock the nullable side of an outer join.
    return db.session.scalars(
        query.options(selectinload(Inquiry.assigned_contact))
        .order_by(Inquiry.due_at, Inquiry.id)
        .with_for_update(skip_locked=True, of=Inquiry)
    ).all()


def escalation_recipients() -> list[User]:
    """Active managers; active admins when the initiative has no manager."""
    for role in (Role.MANAGER, Role.ADMIN):
        users = db.session.scalars(
            select(User).where(User.role == role, User.active.is_(True)).order_by(User.id)
        ).all()
        if users:
            return list(users)
    return []


def _due_text(inquiry: Inquiry) -> str:
    return f"{format_datetime(inquiry.due_at)} ({display_timezone()} time)"


def _queue_sla_email(kind: EmailKind, inquiry: Inquiry, recipient: Contact | User, subject: str, **context: str) -> None:
    """Queue templates/email/<kind>.txt to one person: the reference, the deadline and a link."""
    body = render_template(
        f"email/{kind}.txt",
        inquiry=inquiry,
        recipient=recipient,
        due=_due_text(inquiry),
        url=inquiry_url(inquiry),
        **context,
    )
    queue_email(kind=kind, to_address=recipient.email, subject=subject, body_text=body, inquiry=inquiry)


def queue_reminder(inquiry: Inquiry, now: datetime) -> bool:
    """Remind the assigned contact; False (and nothing changed) when there is nobody to remind,
    so that a contact assigned later still gets the reminder."""
    contact = inquiry.assigned_contact
    if contact is None or not contact.email:
        return False
    _queue_sla_email(
        EmailKind.SLA_REMINDER, inquiry, contact, f"Reminder: inquiry {inquiry.reference} is due for a first response"
    )
    inquiry.reminder_sent_at = now
    add_event(
        inquiry,
        InquiryEventKind.REMINDER,
        occurred_at=now,
        detail=f"Reminder for {contact.name}: a first response is due by {_due_text(inquiry)}",
        data={"contact_id": contact.id},
    )
    return True


def queue_escalation(inquiry: Inquiry, recipients: list[User], now: datetime) -> bool:
    if not recipients:
        current_app.logger.warning("Inquiry %s is overdue, but no active manager or admin can be told", inquiry.reference)
        return False
    contact = inquiry.assigned_contact
    assigned = contact.name if contact is not None else "nobody yet"
    for user in recipients:
        _queue_sla_email(
            EmailKind.SLA_ESCALATION,
            inquiry,
            user,
            f"Overdue: inquiry {inquiry.reference} has no first response",
            assigned=assigned,
        )
    inquiry.escalated_at = now
    add_event(
        inquiry,
        InquiryEventKind.ESCALATED,
        occurred_at=now,
        detail=f"Overdue: escalated to {', '.join(user.name for user in recipients)}",
        data={"user_ids": [user.id for user in recipients]},
    )
    return True


def run_sla_checks(now: datetime) -> tuple[int, int]:
    """Queue the reminders and escalations that are due at ``now``; returns how many of each."""
    lead = float(current_app.config.get("SLA_REMINDER_HOURS", DEFAULT_REMINDER_HOURS))
    # The widest calendar's horizon is the latest any organisation's can be: the rows past it
    # are left alone, and those before it are checked by their own organisation's holidays.
    widest = reminder_horizon(now, lead, calendars.widest_calendar())
    candidates = _locked(_awaiting_response().where(Inquiry.reminder_sent_at.is_(None), Inquiry.due_at <= widest))
    to_remind = _near_their_deadline(candidates, now, lead) if candidates else []
    reminders = sum(1 for inquiry in to_remind if queue_reminder(inquiry, now))

    to_escalate = _locked(_awaiting_response().where(Inquiry.escalated_at.is_(None), Inquiry.due_at < now))
    recipients = escalation_recipients() if to_escalate else []
    escalations = sum(1 for inquiry in to_escalate if queue_escalation(inquiry, recipients, now))

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
