"""The acceptance timer: an inquiry its contact has not accepted within its window moves on
by itself, exactly as if they had passed it ("not accepted in time"), and the managers are told.

``run_acceptance_timers(now)`` handles every inquiry whose acceptance_due_at has passed, in
one transaction. Two runners never move one inquiry twice: the rows are locked (SKIP LOCKED on
PostgreSQL; the runner's transaction is exclusive on SQLite), and each is claimed by an UPDATE
that only succeeds while it is still with the same contact, unaccepted, with the same deadline.
An inquiry with a first response logged is left alone: whoever answered has taken it.

Managers get one email per run, listing the references moved, never an inquiry's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from crm import audit
from crm.extensions import db
from crm.inquiries import accepting
from crm.inquiries.sla_jobs import escalation_recipients
from crm.mail.outbox import inquiry_url, queue_email, render_email
from crm.models import EmailKind, Inquiry, InquiryEventKind, PassReason
from crm.models.inquiry import add_event, awaiting_acceptance_clause
from crm.routing import services as routing


@dataclass(frozen=True)
class Moved:
    reference: str
    url: str
    from_name: str
    to_name: str


def _due(now: datetime) -> list[Inquiry]:
    return list(
        db.session.scalars(
            select(Inquiry)
            .options(selectinload(Inquiry.assigned_contact), selectinload(Inquiry.topic))
            .where(
                awaiting_acceptance_clause(),
                Inquiry.acceptance_due_at.is_not(None),
                Inquiry.acceptance_due_at <= now,
                Inquiry.first_response_at.is_(None),
            )
            .order_by(Inquiry.acceptance_due_at, Inquiry.id)
            .with_for_update(skip_locked=True, of=Inquiry)
        )
    )


def _claim(inquiry: Inquiry) -> bool:
    """Stop this inquiry's timer, unless another runner or a person got there first."""
    claimed = db.session.execute(
        update(Inquiry)
        .where(
            Inquiry.id == inquiry.id,
            Inquiry.accepted_at.is_(None),
            Inquiry.assigned_contact_id == inquiry.assigned_contact_id,
            Inquiry.acceptance_due_at == inquiry.acceptance_due_at,
        )
        .values(acceptance_due_at=None)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def move_unaccepted(inquiry: Inquiry, now: datetime) -> Moved | None:
    if not _claim(inquiry):
        return None
    inquiry.acceptance_due_at = None
    contact = inquiry.assigned_contact
    accepting.record_pass(inquiry, contact, PassReason.NOT_ACCEPTED_IN_TIME, "", now, None)
    add_event(
        inquiry,
        InquiryEventKind.PASSED,
        occurred_at=now,
        detail=f"Not accepted in time by {contact.name}: moved on by itself, and the managers were told",
        data={"contact_id": contact.id, "reason": PassReason.NOT_ACCEPTED_IN_TIME.value},
    )
    taker = accepting.move_on(inquiry, f"{contact.name} did not accept it in time", now, None)
    return Moved(inquiry.reference, inquiry_url(inquiry), contact.name, taker.name)


def tell_managers(moved: list[Moved]) -> int:
    """One email to each manager (each admin, without one) listing what moved; how many were queued."""
    recipients = escalation_recipients()
    if not recipients:
        current_app.logger.warning("%d inquiries moved on unaccepted, but no active manager or admin can be told", len(moved))
    subject = (
        f"Inquiry {moved[0].reference} was not accepted in time"
        if len(moved) == 1
        else f"{len(moved)} inquiries were not accepted in time"
    )
    for user in recipients:
        body = render_email("email/acceptance_missed.txt", recipient=user, moved=moved)
        queue_email(kind=EmailKind.ACCEPTANCE_MISSED, to_address=user.email, subject=subject, body_text=body)
    return len(recipients)


def run_acceptance_timers(now: datetime) -> list[Moved]:
    """Move on every inquiry whose acceptance window has run out at ``now``; returns them."""
    due = _due(now)
    if not due:
        db.session.rollback()
        return []
    if routing.current_fallback() is None:
        # Routing cannot run without one; the rules page says so, and the next run tries again.
        current_app.logger.warning("%d inquiries wait to move on, but no fallback contact is set", len(due))
        db.session.rollback()
        return []
    moved = [done for inquiry in due if (done := move_unaccepted(inquiry, now)) is not None]
    if moved:
        tell_managers(moved)
    audit.commit(actor=None)
    return moved


def acceptance_timers_job(now: datetime) -> str:
    """The acceptance-timers job (crm.jobs.catalogue)."""
    moved = run_acceptance_timers(now)
    summary = f"Moved on {len(moved)} inquiries not accepted in time."
    if moved:
        current_app.logger.info("Acceptance timers: %s", summary)
    return summary
