"""Retention: anonymise closed inquiries once they are older than the retention period.

An inquiry is due when it is closed and was closed before the cutoff (its received date
when the close date is missing), or is spam received before the cutoff. Anonymising
removes what identifies the person and what they wrote, and keeps what the reports need:

- removed: name (becomes "Anonymised"), email, phone, ZIP code, message, the duplicate
  key (a hash of email and message), the link to a requester contact record, the outcome's
  words and the notes of attempts to reach them;
- kept: county, state, language, topic, organisation, assigned contact, status, the outcome
  and its organisation, the attempts' times and methods, and every date, so the figures for past periods do not change.

A send held during a flood (crm.inquiries.held_posts) is due by the same rules: one taken
for spam once received before the cutoff, and it is deleted, as it was never filed and the
reports count nothing of it. Any other held send is an open request, as an open inquiry is
kept: the job files it, for routing by hand if need be, and the inquiry's rules then apply.

The ZIP code goes entirely rather than keeping its first three digits: the reports use the
county, and a three-digit ZIP area in a rural county adds little but a way back to a person.

The same details are removed where copies of them live: the detail of timeline events
that can quote the requester or carry their address, the outbox (bodies, and the address
of emails to the requester; unsent ones are stopped) and earlier audit entries about the
inquiry, its events and its emails, whose values are replaced by "(anonymised)". Each
inquiry gets an ANONYMISED event and an "anonymise" audit entry that names the fields,
never their values. The audit entry is written directly, not through crm.audit.commit,
which would copy the old values into the trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import selectinload

from crm.database import utcnow
from crm.extensions import db
from crm.models import (
    AuditEvent,
    ContactAttempt,
    EmailKind,
    EmailStatus,
    HeldPost,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    OutboundEmail,
    User,
)
from crm.models.inquiry_status import InquiryStatus

DEFAULT_RETENTION_DAYS = 730
BATCH_SIZE = 200
ANONYMISED_NAME = "Anonymised"
REMOVED = "(anonymised)"

# Field -> its value once anonymised.
CLEARED_FIELDS: dict[str, Any] = {
    "name": ANONYMISED_NAME,
    "email": "",
    "phone": "",
    "zip_code": "",
    "message": "",
    "dedupe_key": "",
    "requester_contact_id": None,
    # What came of it stays (outcome, organisation) for the reports; the words can be about the family.
    "outcome_detail": "",
}
# Timeline events whose text or data can hold what the requester wrote, or their address.
SCRUBBED_EVENT_KINDS = frozenset(
    {
        InquiryEventKind.NOTE,
        InquiryEventKind.RESPONSE,
        InquiryEventKind.ATTEMPT,
        InquiryEventKind.LINKED,
        InquiryEventKind.STATUS_CHANGED,
        InquiryEventKind.EMAIL_QUEUED,
        InquiryEventKind.EMAIL_SENT,
        InquiryEventKind.EMAIL_FAILED,
    }
)
EVENT_FIELDS = ("detail", "data")
ATTEMPT_FIELDS = ("note",)
EMAIL_FIELDS = ("body_text", "to_address")
REQUESTER_EMAIL_KINDS = frozenset({EmailKind.REQUESTER_ACK, EmailKind.FAMILY_FOLLOW_UP})


@dataclass(frozen=True)
class Due:
    id: int
    reference: str


def retention_days() -> int:
    return int(current_app.config.get("RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def cutoff_for(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _eligible(cutoff: datetime):
    return and_(
        Inquiry.anonymised_at.is_(None),
        or_(
            and_(Inquiry.status == InquiryStatus.CLOSED, func.coalesce(Inquiry.closed_at, Inquiry.received_at) < cutoff),
            and_(Inquiry.status == InquiryStatus.SPAM, Inquiry.received_at < cutoff),
        ),
    )


def due_for_anonymising(cutoff: datetime) -> list[Due]:
    """Every inquiry the cutoff makes due, oldest first; reading it changes nothing."""
    rows = db.session.execute(
        select(Inquiry.id, Inquiry.reference).where(_eligible(cutoff)).order_by(Inquiry.received_at, Inquiry.id)
    )
    return [Due(id=id_, reference=reference) for id_, reference in rows]


def _held_eligible(cutoff: datetime):
    return and_(HeldPost.spam_reason != "", HeldPost.received_at < cutoff)


def held_due(cutoff: datetime) -> int:
    """How many held sends the cutoff makes due (see the module's docstring)."""
    return db.session.scalar(select(func.count()).select_from(HeldPost).where(_held_eligible(cutoff))) or 0


def purge_held(cutoff: datetime) -> int:
    """Delete the held sends the cutoff makes due, and commit; returns how many."""
    deleted = db.session.execute(delete(HeldPost).where(_held_eligible(cutoff))).rowcount
    db.session.commit()
    return deleted


def _scrub_values(changes: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A copy of an audit entry's changes with these fields' values replaced (names kept)."""
    scrubbed = dict(changes)
    for name in fields:
        if name not in scrubbed:
            continue
        value = scrubbed[name]
        if isinstance(value, list):
            scrubbed[name] = [None if item is None else REMOVED for item in value]
        elif value is not None:
            scrubbed[name] = REMOVED
    return scrubbed


def _scrub_audit(entity_type: str, entity_ids: Sequence[int], fields: Iterable[str]) -> None:
    if not entity_ids:
        return
    fields = tuple(fields)
    entries = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity_type == entity_type, AuditEvent.entity_id.in_([str(id_) for id_ in entity_ids])
        )
    )
    for entry in entries:
        scrubbed = _scrub_values(entry.changes or {}, fields)
        if scrubbed != entry.changes:
            entry.changes = scrubbed  # a new dict, so the JSON column sees the change


def anonymise(inquiry: Inquiry, now: datetime, days: int, actor: User | None = None) -> None:
    """Anonymise one inquiry in the current transaction; the caller commits."""
    requester_email = (inquiry.email or "").strip().lower()
    changed = [name for name, value in CLEARED_FIELDS.items() if getattr(inquiry, name) != value]
    for name, value in CLEARED_FIELDS.items():
        setattr(inquiry, name, value)
    inquiry.anonymised_at = now

    scrubbed_events = [event for event in inquiry.events if event.kind in SCRUBBED_EVENT_KINDS]
    for event in scrubbed_events:
        event.detail = ""
        event.data = {}

    # Attempts keep when and how (the loop's record); their notes can quote the family.
    attempts = db.session.scalars(select(ContactAttempt).where(ContactAttempt.inquiry_id == inquiry.id)).all()
    for attempt in attempts:
        attempt.note = ""

    emails = db.session.scalars(select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id)).all()
    requester_emails = []
    for email in emails:
        email.body_text = ""
        if email.kind in REQUESTER_EMAIL_KINDS or (requester_email and email.to_address.lower() == requester_email):
            email.to_address = ""
            requester_emails.append(email.id)
        if email.status is EmailStatus.PENDING:
            email.status = EmailStatus.DEAD
            email.last_error = "Not sent: the inquiry was anonymised."

    _scrub_audit("Inquiry", [inquiry.id], CLEARED_FIELDS)
    _scrub_audit("InquiryEvent", [event.id for event in scrubbed_events], EVENT_FIELDS)
    _scrub_audit("ContactAttempt", [attempt.id for attempt in attempts], ATTEMPT_FIELDS)
    _scrub_audit("OutboundEmail", [email.id for email in emails if email.id not in requester_emails], ("body_text",))
    _scrub_audit("OutboundEmail", requester_emails, EMAIL_FIELDS)

    inquiry.events.append(
        InquiryEvent(
            kind=InquiryEventKind.ANONYMISED,
            occurred_at=now,
            actor_id=actor.id if actor else None,
            detail=f"Personal details removed after the retention period ({days} days)",
        )
    )
    db.session.add(
        AuditEvent(
            occurred_at=now,
            actor_id=actor.id if actor else None,
            action="anonymise",
            entity_type="Inquiry",
            entity_id=str(inquiry.id),
            # Which fields, never their values.
            changes=dict.fromkeys([*changed, "anonymised_at"]),
        )
    )


def purge(ids: Sequence[int], now: datetime, days: int, actor: User | None = None) -> list[str]:
    """Anonymise those of ``ids`` that are still due; one commit per batch. Returns their references."""
    cutoff = cutoff_for(now, days)
    done: list[str] = []
    for offset in range(0, len(ids), BATCH_SIZE):
        batch = ids[offset : offset + BATCH_SIZE]
        inquiries = db.session.scalars(
            select(Inquiry)
            .options(selectinload(Inquiry.events))
            .where(Inquiry.id.in_(batch), _eligible(cutoff))
            .order_by(Inquiry.id)
            .with_for_update(skip_locked=True, of=Inquiry)
        ).all()
        for inquiry in inquiries:
            anonymise(inquiry, now, days, actor)
            done.append(inquiry.reference)
        db.session.commit()
    return done


def retention_purge_job(now: datetime) -> str:
    """The retention-purge job (crm.jobs.catalogue): anonymise everything due under RETENTION_DAYS."""
    days = retention_days()
    cutoff = cutoff_for(now, days)
    done = purge([item.id for item in due_for_anonymising(cutoff)], now, days)
    if done:
        current_app.logger.info("Retention: anonymised %d inquiries closed more than %d days ago", len(done), days)
    held = purge_held(cutoff)
    if held:
        current_app.logger.info("Retention: deleted %d held spam sends received more than %d days ago", held, days)
        return f"Anonymised {len(done)} inquiries; deleted {held} held spam sends."
    return f"Anonymised {len(done)} inquiries."


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be anonymised and change nothing.")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=None,
    help="Override RETENTION_DAYS (default 730) for this run.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def purge_command(dry_run: bool, older_than_days: int | None, yes: bool) -> None:
    """Anonymise closed and spam inquiries older than the retention period."""
    days = older_than_days or retention_days()
    now = utcnow()
    cutoff = cutoff_for(now, days)
    due = due_for_anonymising(cutoff)
    click.echo(
        f"{len(due)} inquiries closed, or marked as spam, before {cutoff.date().isoformat()} "
        f"({days} days ago) {'would be' if dry_run else 'are due to be'} anonymised."
    )
    for item in due:
        click.echo(f"  {item.reference}")
    held = held_due(cutoff)
    if held:
        click.echo(f"{held} held spam sends received before then {'would be' if dry_run else 'are due to be'} deleted.")
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        return
    if not due and not held:
        return
    if not yes:
        click.confirm("Anonymise them now? This cannot be undone.", abort=True)
    done = purge([item.id for item in due], now, days)
    click.echo(f"Anonymised {len(done)} inquiries.")
    if held:
        click.echo(f"Deleted {purge_held(cutoff)} held spam sends.")
