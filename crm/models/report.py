"""Daily roll-ups the managers' report reads instead of every inquiry of a period."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Integer, LargeBinary, SmallInteger, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm.database import UTCDateTime, utcnow
from crm.extensions import db
from crm.models.inquiry import Inquiry

# A change to any of these moves an inquiry in or out of some figure of the report. The
# relationships are listed with their keys: code may set either.
REPORTED_FIELDS = (
    "received_at",
    "status",
    "first_response_at",
    "first_response_hours",
    "topic_id",
    "topic",
    "county_fips",
    "county",
    "language",
    "organisation_id",
    "organisation",
)


def utc_day(instant: datetime) -> date:
    return instant.astimezone(UTC).date()


class ReportDay(db.Model):
    """The report's fields of every inquiry (spam aside) received on one UTC day, packed.

    ``records`` is a packed array of fixed-size records (see crm.reports.rollup): a 90-day
    report reads 90 rows instead of tens of thousands. ``layout`` says which record format
    wrote it, so a day written by an older format is rebuilt instead of misread. A day with
    ReportChange rows is out of date until it is rebuilt.
    """

    __tablename__ = "report_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    layout: Mapped[int] = mapped_column(SmallInteger)
    inquiries: Mapped[int] = mapped_column(Integer)
    records: Mapped[bytes] = mapped_column(LargeBinary)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportChange(db.Model):
    """A change to the reported fields of an inquiry received on ``day`` (UTC), not yet rolled up.

    Every flush that changes an inquiry's reported fields appends one row per day it touched,
    in the same transaction; rebuilding a day deletes the rows it has seen. Appending takes
    no lock, so a writer never waits for a report.
    """

    __tablename__ = "report_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Every flush records the days of the inquiries it changed (crm.reports.rollup explains why).


def record_changes(connection: Connection, days: Iterable[date]) -> None:
    """Record that the inquiries of these UTC days changed, for writes the ORM did not see."""
    rows = [{"day": day, "changed_at": utcnow()} for day in sorted(set(days))]
    if rows:
        connection.execute(ReportChange.__table__.insert(), rows)


def _received_days(inquiry: Inquiry) -> set[date]:
    """The days the inquiry was received on before this flush and after it."""
    history = inspect(inquiry).attrs.received_at.history
    values = [*history.deleted, *history.unchanged, *history.added]
    if not values and inquiry not in inspect(inquiry).session.deleted:
        values = [inquiry.received_at]  # not loaded, so unchanged: load it
    return {utc_day(value) for value in values if value is not None}


def _reported_fields_changed(inquiry: Inquiry) -> bool:
    attributes = inspect(inquiry).attrs
    return any(attributes[name].history.has_changes() for name in REPORTED_FIELDS)


@event.listens_for(Session, "after_flush")
def _record_changed_days(session: Session, _context: Any) -> None:
    """In the flush's own transaction. ``new``, ``dirty`` and ``deleted`` still hold their
    pre-flush state here, and new inquiries already have their received_at default."""
    days: set[date] = set()
    for inquiry in (*session.new, *session.deleted):
        if isinstance(inquiry, Inquiry):
            days |= _received_days(inquiry)
    for inquiry in session.dirty:
        if isinstance(inquiry, Inquiry) and _reported_fields_changed(inquiry):
            days |= _received_days(inquiry)
    if days:
        record_changes(session.connection(), days)
