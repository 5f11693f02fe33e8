"""Sends of the Get in Touch form held rather than routed at once, and the job that files them.

A send taken for a bot, or one beyond the shared routing budget during a flood
(crm.public.admission), is stored as it came: one insert, nothing read, the sender thanked
with their reference. The job runner files each held send as an inquiry, in the order they
came, through the same take_in as any other send (the duplicate check, routing or spam, the
two emails), and deletes the held row in the same transaction: a send is filed once, by one
runner, however many run (each claims its row with SKIP LOCKED).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from crm import audit, logs, outage
from crm.extensions import db
from crm.inquiries.intake import InquiryDetails, take_in
from crm.models import HeldPost, InquirySource, Topic

logger = logging.getLogger(__name__)

# Held sends filed in one run at most; the rest wait for the next poll, so a run keeps well
# within its lease whatever a flood left.
FILE_BATCH = 500


def held_with_reference(reference: str) -> HeldPost | None:
    return db.session.scalar(select(HeldPost).where(HeldPost.reference == reference))


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
    query = select(HeldPost).order_by(HeldPost.id).limit(1).with_for_update(skip_locked=True)
    if skipped:
        query = query.where(HeldPost.id.not_in(skipped))
    return db.session.scalar(query)


def file_held_posts(limit: int = FILE_BATCH) -> tuple[int, int]:
    """File up to `limit` held sends, oldest first, each in a transaction of its own; returns
    (filed, failed). One that fails is left held, logged, and tried again at the next run."""
    filed, skipped = 0, []
    while filed + len(skipped) < limit:
        held = _next_held(skipped)
        if held is None:
            break
        held_id = held.id
        try:
            # Received when the family sent it: its clocks and the duplicate window start then.
            received = take_in(details_of(held), held.received_at, spam_reason=held.spam_reason, reference=held.reference)
            db.session.delete(held)
            if received.duplicate:
                db.session.commit()
            else:
                audit.commit(None)
        except Exception as error:
            outage.roll_back()
            logs.log_failure(logger, "A held Get in Touch send could not be filed; it stays held", error=error)
            skipped.append(held_id)
            continue
        filed += 1
    return filed, len(skipped)


def file_held_posts_job(_started_at: datetime) -> str:
    filed, failed = file_held_posts()
    waiting = db.session.scalar(select(func.count()).select_from(HeldPost))
    db.session.commit()
    return f"{filed} filed, {failed} failed, {waiting} waiting"
