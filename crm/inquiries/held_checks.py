"""What a send is checked against among the sends still held (crm.inquiries.held_posts): the
same words from the same sender, and the reference a held send holds, which the family was
shown and the job files the held send under later.

A module apart from held_posts, which imports intake, so that both can import these: intake
(a send routed at once must neither repeat a held send nor take its reference) and held_posts
(a held send must not repeat one).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, false, or_, select

from crm.extensions import db
from crm.models import HeldPost


def held_repeated_by(key: str, since: datetime, *, spam: bool):
    """The held sends a send with this dedupe key repeats, as intake.repeated_by says of inquiries."""
    repeats = and_(HeldPost.dedupe_key == key, HeldPost.received_at >= since)
    return repeats if spam else and_(repeats, HeldPost.spam_reason == "")


def holding(reference):
    """The held send holding ``reference``, as a clause."""
    return HeldPost.reference == reference


def held_repeat_or_taken(key: str, reference: str, since: datetime, *, spam: bool) -> tuple[HeldPost | None, bool]:
    """In one statement: the first held send a send repeats since ``since`` (None without a key
    or such a send; held_repeated_by), and whether a held send holds ``reference``, as
    intake.duplicate_or_taken says of inquiries."""
    repeats = held_repeated_by(key, since, spam=spam) if key else false()
    rows = db.session.execute(
        select(HeldPost, repeats.label("repeats"))
        .where(or_(holding(reference), repeats))
        .order_by(HeldPost.id)
        .limit(2)
    ).all()
    earlier = next((row.HeldPost for row in rows if row.repeats), None)
    return earlier, any(row.HeldPost.reference == reference for row in rows)
