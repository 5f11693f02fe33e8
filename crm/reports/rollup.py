"""Daily roll-ups of the inquiries' report fields, and the change log that keeps them honest.

Why: a 90-day report over a million inquiries touches some 47,000 of them, and reading that
many rows costs more than the page may take (tens of microseconds a row through the
driver), whatever the database does with them. Each UTC day's inquiries are kept instead as
one packed array of fixed-size records (``RECORD``): the report reads one row a day and
counts and measures the records with numpy.

How they stay right:
- every flush that inserts, deletes or changes a reported field of an inquiry records the
  UTC day it was received on (both days when received_at moves) in ``report_changes``, in
  the same transaction (``crm.models.report``); appending takes no lock;
- a report reads a changed day from the inquiries instead of its roll-up, and the worker
  rebuilds changed days a batch at a time (``refresh``), so a report reads only and finds
  few such days;
- a rebuild reads the changes, locks their days, reads the inquiries, then deletes exactly
  the changes it read: a change committed meanwhile stays for the next refresh, and two
  rebuilds of a day take turns, so the later one never writes an older picture.

Writes that bypass the ORM (bulk loads) must call ``record_changes`` or ``rebuild_all``.
Days are UTC so that the display timezone can change without invalidating them: a period in
local days reads the UTC days that overlap it and keeps the records received inside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any

import click
import numpy as np
from flask.cli import with_appcontext
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from crm.business_hours import business_calendar, business_hours_between
from crm.database import utcnow
from crm.extensions import db
from crm.models import County, Inquiry, ReportChange, ReportDay
from crm.models.inquiry_status import InquiryStatus
from crm.models.report import utc_day

# Bump when RECORD changes: days written in another layout are rebuilt, never misread.
LAYOUT = 1
NO_ID = -1  # topic or organisation not set
LOCK_NAMESPACE = 0x5245504F  # "REPO": PostgreSQL advisory locks of the report's days
# Codes are eight bytes wide, NUL-padded, so that they can be read as 64-bit integers
# (``as_keys``): numpy sorts and counts integers many times faster than strings.
CODE = "S8"
RECORD = np.dtype(
    [
        ("received", "<f8"),  # epoch seconds
        ("hours", "<f8"),  # business hours to the first response; NaN while unanswered
        ("topic", "<i4"),
        ("organisation", "<i4"),
        ("county", CODE),  # FIPS code; empty outside Missouri
        ("language", CODE),
    ]
)
if max(County.__table__.c.fips.type.length, Inquiry.__table__.c.language.type.length) > 8:
    raise RuntimeError("county and language codes must fit the report's 8-byte CODE: bump LAYOUT and widen it")


def as_keys(codes: np.ndarray) -> np.ndarray:
    """A CODE column as unsigned integers, equal exactly when the codes are (their order is not
    the codes' order: they serve to group, not to sort for people)."""
    return codes.view("<u8")


def code_of(key: int) -> str | None:
    """The code an ``as_keys`` integer stands for; None for the empty code."""
    return np.array([key], dtype="<u8").view(CODE)[0].decode() or None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


# --- rebuilding ------------------------------------------------------------------------------


def _records_of(rows: Sequence[Any]) -> np.ndarray:
    """Pack (received_at, first_response_at, first_response_hours, topic_id, organisation_id,
    county_fips, language) rows into RECORDs, a column at a time."""
    records = np.zeros(len(rows), dtype=RECORD)
    if not rows:
        return records
    received, responded, hours, topics, organisations, counties, languages = zip(*rows, strict=True)
    if any(when is not None and measured is None for when, measured in zip(responded, hours, strict=True)):
        # Inquiries answered before hours were stored when a response was logged.
        calendar = business_calendar()
        hours = [
            business_hours_between(start, when, calendar) if when is not None and measured is None else measured
            for start, when, measured in zip(received, responded, hours, strict=True)
        ]
    records["received"] = [moment.timestamp() for moment in received]
    records["hours"] = [np.nan if when is None else measured for when, measured in zip(responded, hours, strict=True)]
    records["topic"] = [NO_ID if topic is None else topic for topic in topics]
    records["organisation"] = [NO_ID if organisation is None else organisation for organisation in organisations]
    records["county"] = [(county or "").encode() for county in counties]
    records["language"] = [(language or "").encode() for language in languages]
    return records


def _runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days, (first, last) each."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _rows_by_day(days: Sequence[date], session: Session) -> dict[date, list[Any]]:
    """The reported columns of the non-spam inquiries received on each of ``days`` (sorted),
    read a run of consecutive days at a time."""
    by_day: dict[date, list[Any]] = {}
    for first, last in _runs(days):
        rows = session.execute(
            select(
                Inquiry.received_at,
                Inquiry.first_response_at,
                Inquiry.first_response_hours,
                Inquiry.topic_id,
                Inquiry.organisation_id,
                Inquiry.county_fips,
                Inquiry.language,
            )
            # No ORDER BY: the records' order means nothing, and without one the report's
            # covering index answers alone.
            .where(
                Inquiry.received_at >= day_bounds(first)[0],
                Inquiry.received_at < day_bounds(last)[1],
                Inquiry.status != InquiryStatus.SPAM,
            )
        )
        for row in rows:
            by_day.setdefault(utc_day(row[0]), []).append(row)
    return by_day


def rebuild_days(days: Iterable[date], session: Session | None = None) -> int:
    """Rewrite the ReportDay of each day from its inquiries; returns how many days were written."""
    session = session or db.session
    days = sorted(set(days))
    if not days:
        return 0
    by_day = _rows_by_day(days, session)
    table = ReportDay.__table__
    session.execute(delete(table).where(table.c.day.in_(days)))
    written = [
        {
            "day": day,
            "layout": LAYOUT,
            "inquiries": len(day_rows),
            "records": _records_of(day_rows).tobytes(),
            "refreshed_at": utcnow(),
        }
        for day, day_rows in sorted(by_day.items())
    ]
    if written:
        session.execute(table.insert(), written)
    return len(days)


def _old_layout_days(
    session: Session, first: date | None = None, last: date | None = None, limit: int | None = None
) -> set[date]:
    """Days written by an older record layout (from ``first`` to ``last``; the newest ``limit``):
    rebuilt, never misread."""
    table = ReportDay.__table__
    query = select(table.c.day).where(table.c.layout != LAYOUT).order_by(table.c.day.desc()).limit(limit)
    if first is not None and last is not None:
        query = query.where(table.c.day >= first, table.c.day <= last)
    return set(session.scalars(query))


def _lock_days(session: Session, days: Sequence[date]) -> None:
    """Make rebuilds of one day take turns (held to the end of the transaction).

    Without it two rebuilds could overlap and the one that read earlier write last. On
    SQLite a writing transaction already holds the whole database."""
    if session.get_bind().dialect.name == "postgresql":
        # In one order everywhere, so two rebuilds never wait on each other.
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(:namespace, day) "
                "FROM (SELECT unnest(CAST(:days AS integer[])) AS day ORDER BY 1) AS days"
            ),
            {"namespace": LOCK_NAMESPACE, "days": sorted(day.toordinal() for day in days)},
        )


def refresh(*, limit: int | None = None, session: Session | None = None) -> int:
    """Rebuild the changed days, and days written by an older record layout (the newest
    ``limit`` of each), in the caller's transaction; returns the days rebuilt.

    The changes are read first, then the days locked and rebuilt: each rebuild reads the
    inquiries after every change it read was committed, so deleting exactly those changes
    loses none (a change committed meanwhile stays recorded for the next refresh)."""
    session = session or db.session
    changes = ReportChange.__table__
    query = select(changes.c.id, changes.c.day)
    if limit is not None:
        newest = select(changes.c.day).distinct().order_by(changes.c.day.desc()).limit(limit)
        query = query.where(changes.c.day.in_(newest.scalar_subquery()))
    seen = session.execute(query).all()
    days = {day for _id, day in seen} | _old_layout_days(session, limit=limit)
    if not days:
        return 0
    _lock_days(session, list(days))
    rebuild_days(days, session)
    ids = [id_ for id_, _day in seen]
    for offset in range(0, len(ids), 10_000):
        session.execute(delete(changes).where(changes.c.id.in_(ids[offset : offset + 10_000])))
    return len(days)


def refresh_in_background(batch: int = 31) -> int:
    """One batch for the worker: the most recently received changed days first, committed."""
    rebuilt = refresh(limit=batch)
    db.session.commit()
    return rebuilt


def rebuild_all(session: Session | None = None, chunk_days: int = 31) -> int:
    """Rebuild every day that has inquiries (after a bulk load or to repair); returns days written."""
    session = session or db.session
    bounds = session.execute(select(db.func.min(Inquiry.received_at), db.func.max(Inquiry.received_at))).one()
    session.execute(delete(ReportChange.__table__))
    session.execute(delete(ReportDay.__table__))
    if bounds[0] is None:
        return 0
    every_day = days_between(utc_day(bounds[0]), utc_day(bounds[1]))
    for offset in range(0, len(every_day), chunk_days):
        rebuild_days(every_day[offset : offset + chunk_days], session)
    return len(every_day)


# --- reading ---------------------------------------------------------------------------------


def _stored_records(first: date, last: date, skipped: set[date]) -> list[bytes]:
    """The stored records of the days from ``first`` to ``last``, except the ``skipped`` ones."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # Binary results: the bytes arrive as stored, half the time of decoding them from hex.
        with connection.connection.driver_connection.cursor(binary=True) as cursor:
            cursor.execute("SELECT day, records FROM report_days WHERE day >= %s AND day <= %s", (first, last))
            return [records for day, records in cursor if day not in skipped]
    table = ReportDay.__table__
    rows = db.session.execute(select(table.c.day, table.c.records).where(table.c.day >= first, table.c.day <= last))
    return [records for day, records in rows if day not in skipped]


def records_between(starts_at: datetime, ends_before: datetime) -> np.ndarray:
    """Every non-spam inquiry received in [starts_at, ends_before), as RECORDs.

    Days changed since their roll-up was written are read from the inquiries instead, and
    left for the worker to rebuild: a report only reads, and never waits on a rebuild."""
    session = db.session
    first, last = utc_day(starts_at), utc_day(ends_before - timedelta(microseconds=1))
    changes = ReportChange.__table__
    changed = set(
        session.scalars(select(changes.c.day).distinct().where(changes.c.day >= first, changes.c.day <= last))
    )
    changed |= _old_layout_days(session, first, last)
    parts = _stored_records(first, last, changed)
    if changed:
        parts += [_records_of(rows).tobytes() for rows in _rows_by_day(sorted(changed), session).values()]
    records = np.frombuffer(b"".join(parts), dtype=RECORD)
    received = records["received"]
    return records[(received >= starts_at.timestamp()) & (received < ends_before.timestamp())]


def bring_up_to_date(*, rebuild: bool = False) -> int:
    """Rebuild every changed day (every day with ``rebuild``), committing a year at a time;
    returns the days written."""
    if rebuild:
        days = rebuild_all()
    else:
        days = 0
        while batch := refresh(limit=366):
            days += batch
            db.session.commit()
    db.session.commit()
    return days


@click.command("report-days")
@click.option("--rebuild", is_flag=True, help="Rewrite every day from the inquiries, not only the changed ones.")
@with_appcontext
def report_days_command(rebuild: bool) -> None:
    """Bring the report's daily roll-ups up to date (the worker does it a batch at a time)."""
    began = perf_counter()
    days = bring_up_to_date(rebuild=rebuild)
    click.echo(f"{days} day(s) rebuilt in {perf_counter() - began:.1f} s.")
