"""How many overdue inquiries a user sees, and how many of them are theirs: the box on the
dashboard and on a partner's organisation page. They are counted with the inbox's own filters,
so each number is what the list behind its link shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from crm.extensions import db
from crm.inquiries import queries
from crm.inquiries.filters import InboxFilters, conditions
from crm.models import Inquiry, User


@dataclass(frozen=True)
class OverdueInquiries:
    """Open inquiries past their first-response deadline that ``user`` may see (for a partner,
    their organisation's), and how many of those are assigned to the user; ``mine`` is None
    when no inquiry can be, because the user is no contact who takes inquiries."""

    seen: int
    mine: int | None


def overdue_inquiries(user: User, now: datetime) -> OverdueInquiries:
    def count(filters: InboxFilters) -> int:
        return db.session.scalar(
            select(func.count()).select_from(Inquiry).where(*conditions(filters, user, now))
        )

    seen = count(InboxFilters(overdue=True))
    mine = count(InboxFilters(overdue=True, mine=True)) if queries.takes_inquiries(user) else None
    return OverdueInquiries(seen=seen, mine=mine)
