"""Sends of the Get in Touch form held rather than routed at once, and the job that files them.

A send taken for a bot, or one beyond the shared routing budget during a flood
(crm.public.admission), is stored as it came: one insert, nothing read, the sender thanked
with their reference. The job runner files each held send as an inquiry, in the order they
came, through the same take_in as any other send (the duplicate check, routing or spam, the
two emails), and deletes the held row in the same transaction: a send is filed once, by one
runner, however many run (each claims its row with SKIP LOCKED).

A send that keeps failing to file (a lost database connection aside) is not tried for ever:
after MAX_ATTEMPTS failures it is filed as it came, unrouted and unacknowledged, for staff to
route by hand (it is new and with nobody, so in every staff inbox), and the held row goes.
Should even that fail, it stays held, no longer tried, and the outbox page shows it to
admins, who can have it tried again. Nothing a family sent is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from crm import audit, logs, outage
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries.held_checks import held_repeated_by
from crm.inquiries.intake import (
    InquiryDetails,
    dedupe_key,
    insert_unless_taken,
    new_inquiry,
    new_reference,
    recent_duplicate,
    set_due,
    take_in,
    window_start,
)
from crm.models import AuditEvent, HeldPost, Inquiry, InquiryEventKind, InquirySource, Topic, User
from crm.models.inquiry import add_event
from crm.models.inquiry_status import InquiryStatus

logger = logging.getLogger(__name__)

# Held sends filed in one run at most; the rest wait for the next poll, so a run keeps well
# within its lease whatever a flood left.
FILE_BATCH = 500
# Failed tries before a held send is filed for routing by hand: a few polls' worth, enough
# to ride out a passing fault, few enough that the family is not kept waiting on a lasting one.
MAX_ATTEMPTS = 5
DEFAULT_WARN_MINUTES = 5


def held_with_reference(reference: str) -> HeldPost | None:
    return db.session.scalar(select(HeldPost).where(HeldPost.reference == reference))


def insert_unless_in_use(values: dict[str, object], since: datetime) -> bool:
    """Insert a held send, in one statement that reads nothing beforehand, unless its
    reference is an inquiry's already, or the same words from the same sender (its
    ``dedupe_key``) came since ``since``, as an inquiry or as a send held already; False then,
    for the caller to find out which (earlier_send). The family is shown the reference at
    once, so it must be the one their request is filed under: a reference in use would be
    replaced at filing, and a second send of the same words filed as the first one, leaving
    the family a reference that names nothing (or someone else's request). One held send's
    reference against another's: the unique index."""
    statement = insert_unless_taken(
        HeldPost.__table__,
        tuple(values),
        keyed=bool(values.get("dedupe_key")),
        spam=bool(values.get("spam_reason")),
        repeats_too=held_repeated_by,
    )
    return db.session.scalar(statement, {**audit.new_parameters(values), "since": since}) is not None


def earlier_send(key: str, now: datetime, *, spam: bool) -> Inquiry | HeldPost | None:
    """The first send this one repeats within the duplicate window: an inquiry, or else a
    send still held. None without a key."""
    if not key:
        return None
    return recent_duplicate(key, now, spam=spam) or db.session.scalar(
        select(HeldPost).where(held_repeated_by(key, window_start(now), spam=spam)).order_by(HeldPost.id).limit(1)
    )


def details_of(held: HeldPost) -> InquiryDetails:
    return InquiryDetails(
        name=held.name,
        email=held.email,
        phone=held.phone,
        contact_preference=held.contact_preference,
        zip_code=held.zip_code,
        topic=db.session.get(Topic, held.topic_id) if held.topic_id is not None else None,
        language=held.language,
        message=held.message,
        consent=True,  # the form does not validate without it
        source=InquirySource.WEB,
    )


def _next_held(skipped: list[int]) -> HeldPost | None:
    query = (
        select(HeldPost)
        .where(HeldPost.attempts < MAX_ATTEMPTS)
        .order_by(HeldPost.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if skipped:
        query = query.where(HeldPost.id.not_in(skipped))
    return db.session.scalar(query)


def file_held_posts(limit: int = FILE_BATCH) -> tuple[int, int]:
    """File up to `limit` held sends, oldest first, each in a transaction of its own; returns
    (filed, failed). One that fails is logged, counted (record_failure) and left held for the
    next run; at its MAX_ATTEMPTS-th failure it is filed for routing by hand."""
    filed, skipped = 0, []
    while filed + len(skipped) < limit:
        held = _next_held(skipped)
        if held is None:
            break
        held_id = held.id
        try:
            # Received when the family sent it: its clocks and the duplicate window start then,
            # and what it repeats came before it (only_earlier).
            received = take_in(
                details_of(held), held.received_at, spam_reason=held.spam_reason, reference=held.reference, only_earlier=True
            )
            db.session.delete(held)
            if received.duplicate:
                db.session.commit()
            else:
                audit.commit(None)
        except Exception as error:
            outage.roll_back()
            logs.log_failure(logger, "A held Get in Touch send could not be filed; it stays held", error=error)
            if record_failure(held_id, error) >= MAX_ATTEMPTS and file_for_routing_by_hand(held_id):
                filed += 1
            else:
                skipped.append(held_id)
            continue
        filed += 1
    return filed, len(skipped)


def record_failure(held_id: int, error: Exception) -> int:
    """Count a failed try on the held send, in a transaction of its own; returns its tries so
    far. A lost connection is not the send's fault and is not counted (nor can it be, often)."""
    if outage.connection_lost(error):
        return 0
    try:
        attempts = db.session.scalar(
            update(HeldPost)
            .where(HeldPost.id == held_id)
            .values(attempts=HeldPost.attempts + 1, last_error=logs.describe(error)[:500])
            .returning(HeldPost.attempts)
        )
        db.session.commit()
    except Exception as counting_error:  # noqa: BLE001  (the send stays held either way)
        outage.roll_back()
        logs.log_failure(logger, "A held send's failed try could not be counted", error=counting_error)
        return 0
    return attempts or 0


def file_for_routing_by_hand(held_id: int, now: datetime | None = None) -> bool:
    """File the held send as it came, as a new inquiry with nobody, neither routed nor
    acknowledged, and delete the held row; False (logged, left held) if even that fails.
    Nothing but the inquiry and its timeline is written: whatever kept failing in the usual
    filing (routing, the emails) is left to the staff member who routes it."""
    try:
        held = db.session.scalar(select(HeldPost).where(HeldPost.id == held_id).with_for_update(skip_locked=True))
        if held is None:  # filed, or claimed by another runner, meanwhile
            db.session.rollback()
            return False
        reference = held.reference
        if db.session.scalar(select(Inquiry.id).where(Inquiry.reference == reference)) is not None:
            reference = new_reference()
        reason = (
            f"Not routed: it could not be filed automatically ({held.attempts} tries); "
            "route it by hand. No acknowledgement was sent."
        )
        details = details_of(held)
        inquiry = new_inquiry(details, reference, held.received_at, dedupe_key(details.email, details.message, details.phone))
        if held.spam_reason:
            inquiry.status, inquiry.spam_reason = InquiryStatus.SPAM, held.spam_reason
        inquiry.routing_reason = reason
        db.session.add(inquiry)
        set_due(inquiry)
        when = now or utcnow()
        add_event(inquiry, InquiryEventKind.RECEIVED, occurred_at=held.received_at, detail="Received (Web form, held in a flood)")
        add_event(inquiry, InquiryEventKind.ROUTED, occurred_at=when, detail=reason)
        db.session.delete(held)
        audit.commit(None)
    except Exception as error:
        outage.roll_back()
        logs.log_failure(logger, "A held Get in Touch send could not be filed for routing by hand; it stays held", error=error)
        return False
    logger.warning("A held Get in Touch send was filed unrouted, for routing by hand, as %s", reference)
    return True


@dataclass(frozen=True)
class Backlog:
    """The held sends not yet filed, as staff see them (the outbox page) and the runner logs them."""

    waiting: int  # still tried at each run
    oldest_received_at: datetime | None  # of those
    given_up: int  # no longer tried: not filed even for routing by hand (MAX_ATTEMPTS)

    def oldest_wait(self, now: datetime) -> timedelta:
        return now - self.oldest_received_at if self.oldest_received_at is not None else timedelta(0)


def backlog() -> Backlog:
    tried = HeldPost.attempts < MAX_ATTEMPTS
    waiting, oldest, given_up = db.session.execute(
        select(
            func.count().filter(tried),
            func.min(HeldPost.received_at).filter(tried),
            func.count().filter(~tried),
        ).select_from(HeldPost)
    ).one()
    return Backlog(waiting=waiting, oldest_received_at=oldest, given_up=given_up)


def try_again(actor: User, now: datetime | None = None) -> int:
    """Have the held sends that were given up tried again from the next run, with a fresh
    count of tries; commits. Returns how many. Held sends are not audited (crm.audit), so
    each gets an entry of its own here, naming the field changed and nothing that was sent."""
    given_up = db.session.scalars(select(HeldPost).where(HeldPost.attempts >= MAX_ATTEMPTS)).all()
    when = now or utcnow()
    for held in given_up:
        db.session.add(
            AuditEvent(
                occurred_at=when,
                actor_id=actor.id,
                action="update",
                entity_type="HeldPost",
                entity_id=str(held.id),
                changes={"attempts": [held.attempts, 0]},
            )
        )
        held.attempts = 0
    db.session.commit()
    return len(given_up)


def warn_of_backlog(waiting: Backlog, now: datetime) -> None:
    """A warning while the oldest held send still tried has waited longer than
    HELD_POSTS_WARN_MINUTES: counts and minutes only, nothing a family sent. The health check
    stays 200 meanwhile: the web processes are well, and taking them out of rotation would
    turn families away."""
    limit = timedelta(minutes=int(current_app.config.get("HELD_POSTS_WARN_MINUTES", DEFAULT_WARN_MINUTES)))
    waited = waiting.oldest_wait(now)
    if waiting.waiting and waited > limit:
        logger.warning(
            "Held Get in Touch sends are waiting to be filed: %d, the oldest for %d minutes (%d given up, shown on the outbox page)",
            waiting.waiting,
            waited // timedelta(minutes=1),
            waiting.given_up,
        )


def file_held_posts_job(_started_at: datetime) -> str:
    filed, failed = file_held_posts()
    waiting = backlog()
    db.session.commit()
    warn_of_backlog(waiting, utcnow())
    return f"{filed} filed, {failed} failed, {waiting.waiting} waiting"
