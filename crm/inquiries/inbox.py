"""The inquiry inbox: filters, search, sorting and keyset pagination.

Pages are found by keyset ("seek") pagination: a page is the first rows after (or before)
the last row the reader saw, in the sort order, with the id as tie-breaker. Each page is
one indexed range scan of ``per_page + 1`` rows, so page 40 000 costs what page 1 costs,
and no page ever counts the whole table. The position travels in an opaque cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, tuple_
from sqlalchemy.orm import selectinload

from crm.auth.permissions import is_staff
from crm.business_hours import is_overdue, sla_state
from crm.database import like_pattern
from crm.extensions import db
from crm.inquiries import queries
from crm.languages import language_name
from crm.models import Contact, County, Inquiry, Organisation, Region, RoutingRule, Topic
from crm.models.geography import region_counties
from crm.models.inquiry import SEARCHED_COLUMNS, open_clause, overdue_clause, searched_text
from crm.models.inquiry_status import OPEN_STATUSES, InquiryStatus
from crm.records import MAX_ID
from crm.timezones import local_midnight, local_time

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


# --- filtering ---------------------------------------------------------------------------


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
        pattern = like_pattern(filters.q.casefold())
        where.append(or_(*(searched_text(column).like(pattern, escape="\\") for column in SEARCHED_COLUMNS)))
    if filters.assignee_id is not None:
        where.append(Inquiry.assigned_contact_id == filters.assignee_id)
    if filters.mine:
        # The user's contacts are looked up first: a handful of ids the planner can seek on.
        mine = list(db.session.scalars(queries.my_contact_ids(user)))
        where.append(Inquiry.assigned_contact_id.in_(mine) if mine else false())
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


# --- sorting and cursors -----------------------------------------------------------------


def _sort(name: str) -> str:
    return name if name in SORTS else DEFAULT_SORT


def order_by(sort: str, *, reverse: bool = False) -> list[Any]:
    """The ORDER BY of a sort; ``reverse`` reads it backwards (for the page before a cursor)."""
    sort = _sort(sort)
    if sort == "due":
        # Inquiries without a due time (spam caught at intake) come last.
        if reverse:
            return [Inquiry.due_at.desc().nulls_first(), Inquiry.id.desc()]
        return [Inquiry.due_at.asc().nulls_last(), Inquiry.id.asc()]
    descending = (sort == "newest") != reverse
    if descending:
        return [Inquiry.received_at.desc(), Inquiry.id.desc()]
    return [Inquiry.received_at.asc(), Inquiry.id.asc()]


def _sort_key(inquiry: Inquiry, sort: str) -> datetime | None:
    return inquiry.due_at if _sort(sort) == "due" else inquiry.received_at


def _seek(sort: str, key: datetime | None, id_: int, *, forward: bool) -> ColumnElement[bool]:
    """The rows strictly after (``forward``) or before the row (key, id_) in ``sort`` order."""
    sort = _sort(sort)
    if sort == "due":
        due = Inquiry.due_at
        if forward:
            if key is None:
                return and_(due.is_(None), Inquiry.id > id_)
            return or_(due > key, and_(due == key, Inquiry.id > id_), due.is_(None))
        if key is None:
            return or_(due.is_not(None), and_(due.is_(None), Inquiry.id < id_))
        return or_(due < key, and_(due == key, Inquiry.id < id_))
    # A row-value comparison, which an index on (received_at, id) answers with one range scan.
    position = tuple_(Inquiry.received_at, Inquiry.id)
    later = (sort == "oldest") == forward
    return position > (key, id_) if later else position < (key, id_)


def encode_cursor(sort: str, inquiry: Inquiry) -> str:
    key = _sort_key(inquiry, sort)
    payload = json.dumps([_sort(sort), key.isoformat() if key else None, inquiry.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str | None) -> tuple[datetime | None, int] | None:
    """The (key, id) a cursor points at; None when absent, malformed or made for another sort."""
    if not cursor or len(cursor) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, key, id_ = json.loads(raw)
        if cursor_sort != _sort(sort) or not isinstance(id_, int) or isinstance(id_, bool):
            return None
        when = datetime.fromisoformat(key) if key is not None else None
        if when is not None and when.tzinfo is not None:
            when = when.astimezone(UTC)  # near year 1 or 9999 this overflows: not a cursor of ours
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
        return None
    if when is not None and when.tzinfo is None:
        return None
    if not 0 < id_ <= MAX_ID:
        return None
    if when is None and _sort(sort) != "due":
        return None
    return when, id_


# --- pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: Sequence[Inquiry]
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None


def inbox_query(filters: InboxFilters, user: Any, now: datetime) -> Select[tuple[Inquiry]]:
    return (
        select(Inquiry)
        .options(
            selectinload(Inquiry.organisation),
            selectinload(Inquiry.assigned_contact),
            selectinload(Inquiry.topic),
        )
        .where(*conditions(filters, user, now))
    )


def fetch_page(
    filters: InboxFilters,
    user: Any,
    now: datetime,
    *,
    after: str | None = None,
    before: str | None = None,
    per_page: int = 25,
) -> Page:
    """One page of the inbox, with cursors for the pages on either side; never counts rows."""
    sort = _sort(filters.sort)
    query = inbox_query(filters, user, now)
    after_at = decode_cursor(sort, after)
    before_at = decode_cursor(sort, before) if after_at is None else None

    if before_at is not None:
        rows = list(
            db.session.scalars(
                query.where(_seek(sort, *before_at, forward=False))
                .order_by(*order_by(sort, reverse=True))
                .limit(per_page + 1)
            )
        )
        if rows:
            more_before = len(rows) > per_page
            rows = rows[:per_page][::-1]
            return Page(
                items=rows,
                next_cursor=encode_cursor(sort, rows[-1]),
                prev_cursor=encode_cursor(sort, rows[0]) if more_before else None,
            )
        # Nothing before the cursor (rows went away or the filters changed): show the first page.
        return fetch_page(filters, user, now, per_page=per_page)

    if after_at is not None:
        query = query.where(_seek(sort, *after_at, forward=True))
    rows = list(db.session.scalars(query.order_by(*order_by(sort)).limit(per_page + 1)))
    more_after = len(rows) > per_page
    rows = rows[:per_page]
    return Page(
        items=rows,
        next_cursor=encode_cursor(sort, rows[-1]) if more_after else None,
        # Coming from a cursor there was a page before; "Previous" reads back from this page's first row.
        prev_cursor=encode_cursor(sort, rows[0]) if after_at is not None and rows else None,
    )


EXPORT_HEADER = (
    "Reference",
    "Received",
    "Source",
    "Status",
    "Name",
    "Email",
    "Phone",
    "ZIP code",
    "County",
    "Topic",
    "Language",
    "Organisation",
    "Assigned to",
    "Due",
    "First response",
    "Closed",
    "Overdue",
    "Message",
)


def _local_text(value: datetime | None) -> str:
    local = local_time(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def export_table(filters: InboxFilters, user: Any, now: datetime, *, batch: int = 500) -> Iterator[list[Any]]:
    """Every inquiry the filters match, in the chosen order, one list of cells each, read from
    the database in batches of plain columns so nothing piles up in the session while streaming.
    Times are in the display timezone; the CSV writer neutralises every cell."""
    query = (
        select(
            Inquiry.reference,
            Inquiry.received_at,
            Inquiry.source,
            Inquiry.status,
            Inquiry.name,
            Inquiry.email,
            Inquiry.phone,
            Inquiry.zip_code,
            County.name,
            Topic.name_en,
            Inquiry.language,
            Organisation.name,
            Contact.name,
            Inquiry.due_at,
            Inquiry.first_response_at,
            Inquiry.closed_at,
            Inquiry.message,
        )
        .select_from(Inquiry)
        .outerjoin(County, County.fips == Inquiry.county_fips)
        .outerjoin(Topic, Topic.id == Inquiry.topic_id)
        .outerjoin(Organisation, Organisation.id == Inquiry.organisation_id)
        .outerjoin(Contact, Contact.id == Inquiry.assigned_contact_id)
        .where(*conditions(filters, user, now))
        .order_by(*order_by(filters.sort))
        .execution_options(yield_per=batch)
    )
    for row in db.session.execute(query):
        (reference, received_at, source, status, name, email, phone, zip_code, county, topic, language,
         organisation, assignee, due_at, first_response_at, closed_at, message) = row  # fmt: skip
        overdue = status in OPEN_STATUSES and due_at is not None and is_overdue(due_at, first_response_at, now)
        yield [
            reference,
            _local_text(received_at),
            source.label,
            status.label,
            name,
            email,
            phone,
            zip_code,
            county or "",
            topic or "",
            language_name(language),
            organisation or "",
            assignee or "",
            _local_text(due_at),
            _local_text(first_response_at),
            _local_text(closed_at),
            "yes" if overdue else "",
            message,
        ]


# --- what the filter form offers ---------------------------------------------------------


def assignee_choices(user: Any) -> list[tuple[int, str]]:
    # Plain columns, not ORM objects: this menu is on every inbox and inquiry page.
    contacts = queries.assignable_contacts(user).subquery()
    rows = db.session.execute(
        select(contacts.c.id, contacts.c.name, Organisation.name)
        .outerjoin(Organisation, Organisation.id == contacts.c.organisation_id)
        .order_by(func.lower(contacts.c.name), contacts.c.id)
    )
    return [(id_, f"{name} ({organisation})" if organisation else name) for id_, name, organisation in rows]


def topic_choices(*, active_only: bool = False) -> list[tuple[int, str]]:
    query = select(Topic).order_by(Topic.sort_order, Topic.name_en)
    if active_only:
        query = query.where(Topic.active.is_(True))
    return [(topic.id, topic.name_en) for topic in db.session.scalars(query)]


def visible_counties(user: Any) -> list[str] | None:
    """The counties a partner's inquiries come from; None for staff, who see every county.

    A partner sees only their organisation's inquiries, so any other county would filter to
    nothing. Read once per page from the (organisation_id, county_fips) index alone."""
    if is_staff(user):
        return None
    return list(
        db.session.scalars(
            select(Inquiry.county_fips).where(queries.visible_to(user), Inquiry.county_fips.is_not(None)).distinct()
        )
    )


def region_choices(counties: list[str] | None) -> list[tuple[int, str]]:
    """Every region, or only those holding one of ``counties`` (from visible_counties)."""
    query = select(Region).order_by(Region.name)
    if counties is not None:
        query = query.where(
            Region.id.in_(select(region_counties.c.region_id).where(region_counties.c.county_fips.in_(counties)))
        )
    return [(region.id, region.name) for region in db.session.scalars(query)]


def county_choices(counties: list[str] | None) -> list[tuple[str, str]]:
    """Every county, or only ``counties`` (from visible_counties)."""
    query = select(County).order_by(County.name)
    if counties is not None:
        query = query.where(County.fips.in_(counties))
    return [(county.fips, county.name) for county in db.session.scalars(query)]


# --- the response clock, as lists and the inquiry page show it ---------------------------


@dataclass(frozen=True)
class DueLabel:
    text: str
    overdue: bool = False


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


def due_label(inquiry: Inquiry, now: datetime) -> DueLabel:
    """How the response clock stands, as lists show it: "due in 3 h", "overdue by 2 h",
    "answered on time"; empty when no clock runs (spam, or never routed)."""
    if inquiry.due_at is None or inquiry.status is InquiryStatus.SPAM:
        return DueLabel("")
    try:
        state = sla_state(inquiry.received_at, inquiry.due_at, inquiry.first_response_at, now)
    except ValueError:
        return DueLabel("")
    if state == "met":
        return DueLabel("answered on time")
    if state == "missed":
        return DueLabel("answered late")
    if inquiry.status.is_open and is_overdue(inquiry.due_at, inquiry.first_response_at, now):
        return DueLabel(f"overdue by {_span(now - inquiry.due_at)}", overdue=True)
    if state == "overdue":
        return DueLabel("no response recorded")
    return DueLabel(f"due in {_span(inquiry.due_at - now)}")


def organisation_choices() -> list[tuple[int, str]]:
    """The organisations inquiries can be with: those whose contacts take inquiries, and the
    targets of routing rules. A partner directory of thousands stays out of the menu."""
    responders = select(Contact.organisation_id).where(Contact.accepts_inquiries.is_(True))
    targets = select(RoutingRule.target_organisation_id)
    query = (
        select(Organisation)
        .where(or_(Organisation.id.in_(responders), Organisation.id.in_(targets)))
        .order_by(Organisation.name_key)
    )
    return [
        (organisation.id, organisation.name if organisation.is_active else f"{organisation.name} (inactive)")
        for organisation in db.session.scalars(query)
    ]
