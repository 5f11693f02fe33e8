"""The inbox's filters and search, in SQL: what a list of inquiries, its export and the
overdue counts can ask for, always within what the user may see; and the sorts it offers."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select

from crm.database import like_pattern
from crm.inquiries import queries
from crm.models import Inquiry
from crm.models.geography import region_counties
from crm.models.inquiry import SEARCHED_COLUMNS, open_clause, overdue_clause, searched_text
from crm.models.inquiry_status import InquiryStatus
from crm.timezones import local_midnight

# What a reference looks like (IM-7K3M9Q; bench data BX-000168525).
REFERENCE_SHAPE = re.compile(r"[A-Z]{2}-[0-9A-Z]{6,12}")

SORTS: dict[str, str] = {"newest": "Newest first", "oldest": "Oldest first", "due": "Due soonest"}
DEFAULT_SORT = "newest"
# The status filter: open work by default, any status, or one status.
OPEN = "open"
ANY = ""


@dataclass(frozen=True)
class InboxFilters:
    q: str = ""
    status: str = OPEN
    assignee_id: int | None = None
    organisation_id: int | None = None
    topic_id: int | None = None
    region_id: int | None = None
    county_fips: str = ""
    language: str = ""
    received_from: date | None = None
    received_to: date | None = None
    overdue: bool = False
    mine: bool = False
    sort: str = DEFAULT_SORT

    def described(self) -> dict[str, str]:
        """The filters that are set, as text (for the audit trail of an export)."""
        defaults = asdict(InboxFilters())
        return {
            name: value.isoformat() if isinstance(value, date) else str(value)
            for name, value in asdict(self).items()
            if value != defaults[name] or name in ("status", "sort")
        }


def conditions(filters: InboxFilters, user: Any, now: datetime) -> list[ColumnElement[bool]]:
    """The WHERE clauses for these filters, always starting with what ``user`` may see."""
    where: list[ColumnElement[bool]] = [queries.visible_to(user)]
    if filters.status == OPEN:
        # Overdue says "open" itself, and PostgreSQL would count a second saying twice.
        if not filters.overdue:
            where.append(open_clause())
    elif filters.status != ANY:
        where.append(Inquiry.status == InquiryStatus(filters.status))
    reference = filters.q.strip().upper()
    if REFERENCE_SHAPE.fullmatch(reference):
        # A reference is unique: look it up on its index instead of scanning every message.
        where.append(Inquiry.reference == reference)
    elif filters.q:
        # Found through each column's trigram index on PostgreSQL when the fragment is rare.
        # lower(), as the database lowers the columns: casefold() makes "Weiß" "weiss".
        pattern = like_pattern(filters.q.lower())
        where.append(or_(*(searched_text(column).like(pattern, escape="\\") for column in SEARCHED_COLUMNS)))
    if filters.assignee_id is not None:
        where.append(Inquiry.assigned_contact_id == filters.assignee_id)
    if filters.mine:
        mine = queries.my_contact_id(user)
        where.append(Inquiry.assigned_contact_id == mine if mine is not None else false())
    if filters.organisation_id is not None:
        where.append(Inquiry.organisation_id == filters.organisation_id)
    if filters.topic_id is not None:
        where.append(Inquiry.topic_id == filters.topic_id)
    if filters.region_id is not None:
        where.append(
            Inquiry.county_fips.in_(
                select(region_counties.c.county_fips).where(region_counties.c.region_id == filters.region_id)
            )
        )
    if filters.county_fips:
        where.append(Inquiry.county_fips == filters.county_fips)
    if filters.language:
        where.append(Inquiry.language == filters.language)
    if filters.received_from is not None:
        where.append(Inquiry.received_at >= local_midnight(filters.received_from))
    if filters.received_to is not None:
        where.append(Inquiry.received_at < local_midnight(filters.received_to + timedelta(days=1)))
    if filters.overdue:
        where.append(overdue_clause(now))
    return where
