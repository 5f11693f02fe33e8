"""The inbox's CSV export: every inquiry the filters match, one row of cells each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from crm.business_hours import is_overdue
from crm.extensions import db
from crm.inquiries import attempts
from crm.inquiries.filters import InboxFilters, conditions
from crm.inquiries.paging import order_by
from crm.languages import language_name
from crm.models import Contact, County, Inquiry, Organisation, Topic
from crm.models.inquiry_status import OPEN_STATUSES
from crm.timezones import local_time

EXPORT_HEADER = (
    "Reference",
    "Received",
    "Source",
    "Status",
    "Name",
    "Email",
    "Phone",
    "Reach by",
    "ZIP code",
    "County",
    "Topic",
    "Language",
    "Organisation",
    "Assigned to",
    "Due",
    "First response",
    "Closed",
    "Outcome",
    "Outcome organisation",
    "Outcome detail",
    "Attempts",
    "Last attempt",
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
    outcome_organisation = aliased(Organisation)
    tried = attempts.per_inquiry()
    query = (
        select(
            Inquiry.reference,
            Inquiry.received_at,
            Inquiry.source,
            Inquiry.status,
            Inquiry.name,
            Inquiry.email,
            Inquiry.phone,
            Inquiry.contact_preference,
            Inquiry.zip_code,
            County.name,
            Topic.name_en,
            Inquiry.language,
            Organisation.name,
            Contact.name,
            Inquiry.due_at,
            Inquiry.first_response_at,
            Inquiry.closed_at,
            Inquiry.outcome,
            outcome_organisation.name,
            Inquiry.outcome_detail,
            tried.c.attempts,
            tried.c.last_attempt_at,
            Inquiry.message,
        )
        .select_from(Inquiry)
        .outerjoin(County, County.fips == Inquiry.county_fips)
        .outerjoin(Topic, Topic.id == Inquiry.topic_id)
        .outerjoin(Organisation, Organisation.id == Inquiry.organisation_id)
        .outerjoin(Contact, Contact.id == Inquiry.assigned_contact_id)
        .outerjoin(outcome_organisation, outcome_organisation.id == Inquiry.outcome_organisation_id)
        .outerjoin(tried, tried.c.inquiry_id == Inquiry.id)
        .where(*conditions(filters, user, now))
        .order_by(*order_by(filters.sort))
        .execution_options(yield_per=batch)
    )
    for row in db.session.execute(query):
        (reference, received_at, source, status, name, email, phone, preference, zip_code, county, topic, language,
         organisation, assignee, due_at, first_response_at, closed_at, outcome, outcome_organisation_name,
         outcome_detail, attempt_count, last_attempt_at, message) = row  # fmt: skip
        overdue = status in OPEN_STATUSES and due_at is not None and is_overdue(due_at, first_response_at, now)
        yield [
            reference,
            _local_text(received_at),
            source.label,
            status.label,
            name,
            email,
            phone,
            preference.label,
            zip_code,
            county or "",
            topic or "",
            language_name(language),
            organisation or "",
            assignee or "",
            _local_text(due_at),
            _local_text(first_response_at),
            _local_text(closed_at),
            outcome.label if outcome else "",
            outcome_organisation_name or "",
            outcome_detail,
            attempt_count or 0,
            _local_text(last_attempt_at),
            "yes" if overdue else "",
            message,
        ]
