"""The inquiry inbox, a page at a time: its sort orders and keyset pagination.

Pages are found by keyset ("seek") pagination: a page is the first rows after (or before)
the last row the reader saw, in the sort order, with the id as tie-breaker. Each page is
one indexed range scan of ``per_page + 1`` rows, so page 40 000 costs what page 1 costs,
and no page ever counts the whole table. The position travels in an opaque cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, tuple_
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.inquiries.filters import DEFAULT_SORT, SORTS, InboxFilters, conditions
from crm.models import Inquiry
from crm.records import MAX_ID

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
