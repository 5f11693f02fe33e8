"""The audit page: every recorded change (crm.audit's table), filtered, newest first, a page at
a time by keyset, as the inbox pages (crm.inquiries.paging): a page is the rows after the last
one seen in (occurred_at, id) order, so a page deep in a long trail costs what the first does."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import current_app, url_for
from flask_login import current_user
from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.orm import selectinload

from crm.auth.permissions import access_of, role_may
from crm.extensions import db
from crm.models import AuditEvent, User
from crm.records import MAX_ID
from crm.timezones import local_midnight

SYSTEM = "system"  # the person filter's value for what no signed-in person did (jobs, commands)

# The page of each record type with one, and the name its id goes by in the URL.
RECORD_PAGES: dict[str, tuple[str, str]] = {
    "Organisation": ("organisations.detail", "organisation_id"),
    "Contact": ("contacts.detail", "contact_id"),
    "Grant": ("grants.detail", "grant_id"),
    "Interaction": ("interactions.edit", "interaction_id"),
    "Inquiry": ("inquiries.detail", "inquiry_id"),
    "User": ("users.edit", "user_id"),
    "RoutingRule": ("routing.edit_rule", "rule_id"),
    "Topic": ("routing.edit_topic", "topic_id"),
}


def type_label(entity_type: str) -> str:
    """"GrantReport" -> "Grant report"."""
    words = re.findall(r"[A-Z][a-z]*", entity_type) or [entity_type]
    return " ".join([words[0], *(word.lower() for word in words[1:])])


def record_url(event: AuditEvent) -> str | None:
    """The page of the record an event is about, while it can still have one."""
    page = RECORD_PAGES.get(event.entity_type)
    if page is None or event.action == "delete" or not event.entity_id.isdigit() or not 0 < int(event.entity_id) <= MAX_ID:
        return None
    endpoint, argument = page
    # The trail is for managers too, but some pages are for admins only (users): no link to a 403.
    access = access_of(current_app.view_functions[endpoint])
    if access is None or not role_may(current_user.role, access):
        return None
    return url_for(endpoint, **{argument: int(event.entity_id)})


@dataclass(frozen=True)
class AuditFilters:
    person: str = ""  # a user's id, SYSTEM, or "" for anyone
    record_type: str = ""
    record_id: str = ""
    action: str = ""
    occurred_from: date | None = None
    occurred_to: date | None = None


def conditions(filters: AuditFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.person == SYSTEM:
        where.append(AuditEvent.actor_id.is_(None))
    elif filters.person:
        where.append(AuditEvent.actor_id == int(filters.person))
    if filters.record_type:
        where.append(AuditEvent.entity_type == filters.record_type)
    if filters.record_id:
        where.append(AuditEvent.entity_id == filters.record_id)
    if filters.action:
        where.append(AuditEvent.action == filters.action)
    if filters.occurred_from is not None:
        where.append(AuditEvent.occurred_at >= local_midnight(filters.occurred_from))
    if filters.occurred_to is not None:
        where.append(AuditEvent.occurred_at < local_midnight(filters.occurred_to + timedelta(days=1)))
    return where


# --- cursors and pages -------------------------------------------------------------------


class BadCursor(ValueError):
    """A page link that is not one of ours (cut short, edited)."""


def encode_cursor(event: AuditEvent) -> str:
    payload = json.dumps([event.occurred_at.isoformat(), event.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (occurred_at, id) a cursor points at; raises BadCursor."""
    if len(cursor) > 200:
        raise BadCursor(cursor)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when_text, id_ = json.loads(raw)
        when = datetime.fromisoformat(when_text)
        if when.tzinfo is None:
            raise BadCursor(cursor)
        when = when.astimezone(UTC)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError) as error:
        raise BadCursor(cursor) from error
    if not isinstance(id_, int) or isinstance(id_, bool) or not 0 < id_ <= MAX_ID:
        raise BadCursor(cursor)
    return when, id_


@dataclass(frozen=True)
class Page:
    events: Sequence[AuditEvent]
    older: str | None  # the cursor of the next page (older changes), if any
    newer: str | None  # the cursor of the previous page (newer changes), if any


def fetch_page(filters: AuditFilters, per_page: int, after: str | None = None, before: str | None = None) -> Page:
    """A page of events newest first: the first page, the one after cursor ``after`` (older),
    or the one before cursor ``before`` (newer). Raises BadCursor."""
    position = tuple_(AuditEvent.occurred_at, AuditEvent.id)
    query = (
        select(AuditEvent)
        .options(selectinload(AuditEvent.actor))
        .where(*conditions(filters))
        .limit(per_page + 1)
    )
    if before:
        query = query.where(position > decode_cursor(before)).order_by(AuditEvent.occurred_at, AuditEvent.id)
    else:
        if after:
            query = query.where(position < decode_cursor(after))
        query = query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    rows = list(db.session.scalars(query))
    more = len(rows) > per_page
    rows = rows[:per_page]
    if before:
        rows.reverse()
        older = encode_cursor(rows[-1]) if rows else None
        newer = encode_cursor(rows[0]) if rows and more else None
    else:
        older = encode_cursor(rows[-1]) if rows and more else None
        newer = encode_cursor(rows[0]) if rows and after else None
    return Page(events=rows, older=older, newer=newer)


def person_choices() -> list[tuple[str, str]]:
    users = db.session.execute(select(User.id, User.name, User.email).order_by(User.name, User.id))
    return [(SYSTEM, "System (no person)"), *((str(id_), f"{name} ({email})") for id_, name, email in users)]
