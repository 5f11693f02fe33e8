"""The acceptance timer: an inquiry its contact has not accepted within its window moves on
by itself, exactly as if they had passed it ("not accepted in time"), and the managers are told.

``run_acceptance_timers(now)`` handles every inquiry whose acceptance_due_at has passed, each
in a transaction of its own that holds its row and the counts of its move only
(crm.models.open_load): a transaction holding the counts of one move while it takes those of
the next could deadlock with staff reassigning another inquiry between the same contacts. Two
runners never move one inquiry twice: the row is locked while it moves (SKIP LOCKED on
PostgreSQL; the runner's transaction is exclusive on SQLite), and claimed by an UPDATE that only
succeeds while it is still with the same contact, unaccepted, with the same deadline. An
inquiry with a first response logged is left alone: whoever answered has taken it.

Managers get one email per run, listing the references moved (the first DIGEST_MAX_LINES of
them, then how many more, with a link to the inbox), never an inquiry's text. The
move's own transaction writes its pass as awaiting that notice (inquiry_passes.managers_told_at
unset); after the moves, and also when a move fails, one transaction reads every move still
awaiting it, those a run that stopped before its notice left included, queues the email and
marks them told, so that each move is told once. Two runners never tell one move twice: the
passes are locked while they are told (SKIP LOCKED on PostgreSQL: another runner's are left to
it; the runner's transaction is exclusive on SQLite), and each is marked only if it is still
unmarked. With no manager or admin to tell, the moves wait, as the escalations do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import Row, select, update
from sqlalchemy.orm import aliased, selectinload

from crm import audit
from crm.extensions import db
from crm.inquiries import accepting
from crm.inquiries.sla_jobs import DIGEST_MAX_LINES, MARK_CHUNK, escalation_recipients, recipient_language
from crm.mail.outbox import inquiry_url, public_url, queue_email, render_email
from crm.models import Contact, EmailKind, Inquiry, InquiryEventKind, InquiryPass, PassReason
from crm.models.inquiry import add_event, awaiting_acceptance_clause, notice_pending_clause
from crm.routing import services as routing


@dataclass(frozen=True)
class Moved:
    reference: str
    url: str
    # None for a contact since removed: the email says so in its reader's language.
    from_name: str | None
    to_name: str | None


def _is_due(now: datetime) -> tuple:
    """The conditions of an inquiry due to move on at ``now``, term for term those of the
    partial index ix_inquiries_acceptance_due, so that the index can serve them."""
    return (
        awaiting_acceptance_clause(),
        Inquiry.acceptance_due_at.is_not(None),
        Inquiry.acceptance_due_at <= now,
        Inquiry.first_response_at.is_(None),
    )


def _due_ids(now: datetime) -> list[int]:
    """The inquiries due, soonest deadline first; read without locking them, each is locked
    (and checked again) in the transaction that moves it."""
    return list(
        db.session.scalars(select(Inquiry.id).where(*_is_due(now)).order_by(Inquiry.acceptance_due_at, Inquiry.id))
    )


def _lock_if_still_due(inquiry_id: int, now: datetime) -> Inquiry | None:
    """The inquiry, locked, if it is still due and no other runner holds it (SKIP LOCKED)."""
    return db.session.scalars(
        select(Inquiry)
        .options(selectinload(Inquiry.assigned_contact), selectinload(Inquiry.topic))
        .where(Inquiry.id == inquiry_id, *_is_due(now))
        .with_for_update(skip_locked=True, of=Inquiry)
    ).one_or_none()


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
    """Move one locked inquiry on, in the caller's transaction, which commits this move alone
    (_move_one); None when another runner or a person got there first."""
    if not _claim(inquiry):
        return None
    inquiry.acceptance_due_at = None
    contact = inquiry.assigned_contact
    # Unmarked, the pass awaits the managers' notice (tell_pending), committed with the move.
    passed = accepting.record_pass(inquiry, contact, PassReason.NOT_ACCEPTED_IN_TIME, "", now, None)
    add_event(
        inquiry,
        InquiryEventKind.PASSED,
        occurred_at=now,
        # Told by a later run when this one stops before its notice, or while there is nobody to
        # tell (tell_pending): the line is read long before that, so it says what happens.
        detail=f"Not accepted in time by {contact.name}: moved on by itself; the managers are told by email",
        data={"contact_id": contact.id, "reason": PassReason.NOT_ACCEPTED_IN_TIME.value},
    )
    taker = accepting.move_on(inquiry, f"{contact.name} did not accept it in time", now, None)
    passed.moved_to_contact = taker
    return Moved(inquiry.reference, inquiry_url(inquiry), contact.name, taker.name)


def tell_managers(moved: list[Moved]) -> int:
    """One email to each manager (each admin, without one) listing what moved; how many were queued.

    Moves wait for their notice while there is nobody to tell, so one notice may carry
    thousands: it lists the first DIGEST_MAX_LINES, as the SLA digests do, and counts the rest.
    The subject counts them all."""
    recipients = escalation_recipients()
    lines = moved[:DIGEST_MAX_LINES]
    # No filter picks out the moves; they are open and awaiting their new contacts, in the inbox.
    more_url = public_url("inquiries.index")
    for user in recipients:
        # Each in their own language, as the escalation digests to the same people are.
        language = recipient_language(user)
        with force_locale(language):
            subject = (
                gettext("Inquiry %(reference)s was not accepted in time", reference=moved[0].reference)
                if len(moved) == 1
                else gettext("%(count)s inquiries were not accepted in time", count=len(moved))
            )
            body = render_email(
                "email/acceptance_missed.txt",
                recipient=user,
                moved=lines,
                more=len(moved) - len(lines),
                more_url=more_url,
            )
        queue_email(
            kind=EmailKind.ACCEPTANCE_MISSED, to_address=user.email, subject=subject, body_text=body, language=language
        )
    return len(recipients)


def _move_one(inquiry_id: int, now: datetime) -> Moved | None:
    """Move one inquiry on and commit: its pass, timeline lines, the new contact's notice and
    the audit trail go together, so a run stopped after it leaves this move whole."""
    inquiry = _lock_if_still_due(inquiry_id, now)
    done = move_unaccepted(inquiry, now) if inquiry is not None else None
    if done is None:
        db.session.rollback()
        return None
    audit.commit(actor=None)
    return done


def run_acceptance_timers(now: datetime) -> list[Moved]:
    """Move on every inquiry whose acceptance window has run out at ``now``, then tell the
    managers of every move awaiting it (tell_pending); returns the moves of this run.

    Each move commits on its own: a move locks the open-inquiry counts of the two contacts it
    is between, and a transaction that held them while taking the next move's could deadlock
    with a staff reassignment between the same contacts (crm.models.open_load), whose request
    would then fail; nor do routed posts to those contacts wait for the whole run."""
    moved: list[Moved] = []
    try:
        _move_due(now, moved)
    except Exception:
        # The moves committed so far stand: the managers still hear of them, and the runner
        # records the failure (crm.jobs.runner), trying again at its next turn.
        db.session.rollback()
        tell_pending(now)
        raise
    tell_pending(now)
    return moved


def _move_due(now: datetime, moved: list[Moved]) -> None:
    """Move on the inquiries due, adding each move to ``moved`` once it is committed."""
    due = _due_ids(now)
    if not due:
        db.session.rollback()
        return
    if routing.current_fallback() is None:
        # Routing cannot run without one; the rules page says so, and the next run tries again.
        current_app.logger.warning("%d inquiries wait to move on, but no fallback contact is set", len(due))
        db.session.rollback()
        return
    db.session.rollback()  # ends the read: each move locks and reads its inquiry afresh
    for inquiry_id in due:
        if (done := _move_one(inquiry_id, now)) is not None:
            moved.append(done)


def _pending() -> list[Row]:
    """The moves awaiting the managers' notice, oldest first, locked (SKIP LOCKED on
    PostgreSQL: those another runner is telling are its own)."""
    moved_from, moved_to = aliased(Contact), aliased(Contact)
    return list(
        db.session.execute(
            select(InquiryPass.id, Inquiry.id, Inquiry.reference, moved_from.name, moved_to.name)
            .join(Inquiry, Inquiry.id == InquiryPass.inquiry_id)
            .outerjoin(moved_from, moved_from.id == InquiryPass.contact_id)
            .outerjoin(moved_to, moved_to.id == InquiryPass.moved_to_contact_id)
            .where(notice_pending_clause())
            .order_by(InquiryPass.passed_at, InquiryPass.id)
            .with_for_update(skip_locked=True, of=InquiryPass)
        )
    )


def _mark_told(pass_ids: list[int], now: datetime) -> set[int]:
    """Mark those of ``pass_ids`` still unmarked as told at ``now``; the ids marked."""
    marked: set[int] = set()
    for start in range(0, len(pass_ids), MARK_CHUNK):
        marked.update(
            db.session.scalars(
                update(InquiryPass)
                .where(InquiryPass.id.in_(pass_ids[start : start + MARK_CHUNK]), InquiryPass.managers_told_at.is_(None))
                .values(managers_told_at=now)
                .returning(InquiryPass.id)
                .execution_options(synchronize_session=False)
            )
        )
    return marked


def tell_pending(now: datetime) -> int:
    """Queue the managers' notice of every move awaiting it and mark them told, in one
    transaction; how many moves it listed (none: no notice)."""
    pending = _pending()
    if pending and not escalation_recipients():
        # Left unmarked, they are told once there is someone to tell.
        current_app.logger.warning(
            "%d inquiries moved on unaccepted, but no active manager or admin can be told", len(pending)
        )
        pending = []
    marked = _mark_told([row[0] for row in pending], now) if pending else set()
    if not marked:
        db.session.rollback()
        return 0
    tell_managers(
        [
            Moved(reference, public_url("inquiries.detail", inquiry_id=inquiry_id), from_name, to_name)
            for pass_id, inquiry_id, reference, from_name, to_name in pending
            if pass_id in marked
        ]
    )
    audit.commit(actor=None)
    return len(marked)


def acceptance_timers_job(now: datetime) -> str:
    """The acceptance-timers job (crm.jobs.catalogue)."""
    moved = run_acceptance_timers(now)
    summary = f"Moved on {len(moved)} inquiries not accepted in time."
    if moved:
        current_app.logger.info("Acceptance timers: %s", summary)
    return summary
