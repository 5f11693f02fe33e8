"""How many attempts to reach the family an inquiry has, and the last: one grouped query for a
page of inquiries, never one per row (the inbox, the export and the inquiry page ask here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Subquery, func, select

from crm.extensions import db
from crm.models import ContactAttempt


@dataclass(frozen=True)
class AttemptSummary:
    count: int = 0
    last_at: datetime | None = None


NONE_YET = AttemptSummary()


def per_inquiry() -> Subquery:
    """inquiry_id, attempts, last_attempt_at: one row per inquiry with attempts, read from
    ix_contact_attempts_inquiry alone."""
    return (
        select(
            ContactAttempt.inquiry_id,
            func.count().label("attempts"),
            func.max(ContactAttempt.attempted_at).label("last_attempt_at"),
        )
        .group_by(ContactAttempt.inquiry_id)
        .subquery("attempt_summary")
    )


def summaries(inquiry_ids: Iterable[int]) -> dict[int, AttemptSummary]:
    """The summary of each inquiry in ``inquiry_ids`` that has attempts; the others have none."""
    ids = list(inquiry_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            ContactAttempt.inquiry_id,
            func.count(),
            func.max(ContactAttempt.attempted_at),
        )
        .where(ContactAttempt.inquiry_id.in_(ids))
        .group_by(ContactAttempt.inquiry_id)
    )
    # max() takes its argument's type, so the last time comes back aware, as the column does.
    return {inquiry_id: AttemptSummary(count, last) for inquiry_id, count, last in rows}

