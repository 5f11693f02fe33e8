"""The managers' review: figures over a period of received dates, each a small table.

Every figure leaves spam out. Counts are GROUP BY queries; response times need each
inquiry's business hours, so the rows of responded inquiries (five narrow columns) are
fetched and measured in Python with ``BusinessClock``: one bisect per timestamp against a
running total of the calendar's opening hours. The cost is linear in the responded
inquiries of the period: about 50,000 rows for 90 days of a million inquiries over five
years, a few tens of milliseconds on PostgreSQL (see ``python -m crm.bench``).

Open load is a snapshot of now, whatever the period: it counts every open inquiry.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, Select, case, func, literal_column, select

from crm.extensions import db
from crm.inquiries.intake import business_calendar
from crm.inquiries.sla import DEFAULT_TARGET_HOURS, BusinessCalendar
from crm.inquiries.status import OPEN_STATUSES, InquiryStatus
from crm.models import LANGUAGES, Contact, County, Inquiry, Organisation, Region, Topic
from crm.models.geography import region_counties
from crm.reports.stats import percentile

DEFAULT_DAYS = 90
# Dates outside these years are refused: nobody reports on them, and datetime arithmetic
# near year 1 or 9999 overflows.
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)

# Long tables (organisations, contacts) show this many rows on the page; the CSV has all.
PAGE_LIMIT = 25

NO_TOPIC = "No topic"
NO_COUNTY = "Outside Missouri or unknown"
NO_REGION = "No region"
NO_ORGANISATION = "No organisation"
UNASSIGNED = "Not assigned"

Kind = Literal["text", "count", "hours", "percent"]


# --- the period ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Received dates from ``start`` to ``end``, both included, in the display timezone."""

    start: date
    end: date
    timezone: str = "America/Chicago"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def ends_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)

    def months(self) -> list[date]:
        """The first day of every calendar month the period touches."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months

    def month_boundaries(self) -> list[datetime]:
        """The UTC instants at which the second and later months begin."""
        return [datetime.combine(month, time(0), tzinfo=self.zone).astimezone(UTC) for month in self.months()[1:]]

    def query_args(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def default_period(today: date, timezone: str) -> Period:
    return Period(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today, timezone=timezone)


def display_timezone() -> str:
    return current_app.config["DISPLAY_TIMEZONE"]


def in_period(period: Period) -> list[ColumnElement[bool]]:
    """The conditions every figure shares: received in the period, and not spam."""
    return [
        Inquiry.received_at >= period.starts_at,
        Inquiry.received_at < period.ends_before,
        Inquiry.status != InquiryStatus.SPAM,
    ]


# --- tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One report: rows of a text label and numbers, drawn as a chart of one column."""

    name: str
    title: str
    columns: tuple[str, ...]
    kinds: tuple[Kind, ...]
    rows: list[tuple[Any, ...]]
    chart_column: int = 1
    note: str = ""
    # Ranked tables run largest first and chart only their top rows; the month table runs in time order.
    ranked: bool = True
    # How many rows the page shows; the CSV always has them all.
    page_limit: int | None = None

    @property
    def chart_unit(self) -> str:
        return {"hours": "business hours", "percent": "%"}.get(self.kinds[self.chart_column], "")

    def chart_points(self, limit: int | None = None) -> list[tuple[str, float]]:
        points = [(str(row[0]), row[self.chart_column]) for row in self.rows if row[self.chart_column] is not None]
        return points[:limit] if limit else points


def _sorted_counts(rows: Iterable[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """Largest first, then by label, so equal counts always come out in the same order."""
    return sorted(rows, key=lambda row: (-row[1], str(row[0]).casefold()))


def _bucket_of(column: Any, boundaries: Sequence[datetime], lo: int, hi: int) -> ColumnElement[int]:
    """How many of ``boundaries[lo:hi]`` are at or before ``column``, as nested CASEs: a
    binary search, so even a period of decades costs a handful of comparisons a row."""
    if lo == hi:
        return literal_column(str(lo))
    mid = (lo + hi) // 2
    return case(
        (column < boundaries[mid], _bucket_of(column, boundaries, lo, mid)),
        else_=_bucket_of(column, boundaries, mid + 1, hi),
    )


def by_month(period: Period) -> Table:
    months = period.months()
    boundaries = period.month_boundaries()
    bucket = _bucket_of(Inquiry.received_at, boundaries, 0, len(boundaries)).label("bucket")
    # Grouped in an outer query: PostgreSQL would not match the CASE's parameters in GROUP BY.
    inner = select(bucket).where(*in_period(period)).subquery()
    counts = dict(db.session.execute(select(inner.c.bucket, func.count()).group_by(inner.c.bucket)).all())
    rows = [(month.strftime("%B %Y"), counts.get(index, 0)) for index, month in enumerate(months)]
    return Table("month", "Inquiries by month", ("Month", "Inquiries"), ("text", "count"), rows, ranked=False)


def _count_by(label: Any, key: Any, query: Select | None = None, *, period: Period, missing: str) -> list[tuple[str, int]]:
    query = query if query is not None else select(label, func.count()).select_from(Inquiry)
    keys = (key,) if key is label else (key, label)
    rows = db.session.execute(query.where(*in_period(period)).group_by(*keys))
    return _sorted_counts((name if name is not None else missing, count) for name, count in rows)


def by_topic(period: Period) -> Table:
    query = select(Topic.name_en, func.count()).select_from(Inquiry).outerjoin(Topic, Inquiry.topic_id == Topic.id)
    rows = _count_by(Topic.name_en, Inquiry.topic_id, query, period=period, missing=NO_TOPIC)
    return Table("topic", "Inquiries by topic", ("Topic", "Inquiries"), ("text", "count"), rows)


def by_region(period: Period) -> Table:
    query = (
        select(Region.name, func.count())
        .select_from(Inquiry)
        .outerjoin(region_counties, region_counties.c.county_fips == Inquiry.county_fips)
        .outerjoin(Region, Region.id == region_counties.c.region_id)
    )
    rows = _count_by(Region.name, Region.id, query, period=period, missing=NO_REGION)
    return Table(
        "region",
        "Inquiries by region",
        ("Region", "Inquiries"),
        ("text", "count"),
        rows,
        note="A county in two regions counts in both, so the regions can add up to more than the total.",
    )


def by_county(period: Period) -> Table:
    query = select(County.name, func.count()).select_from(Inquiry).outerjoin(County, County.fips == Inquiry.county_fips)
    rows = _count_by(County.name, Inquiry.county_fips, query, period=period, missing=NO_COUNTY)
    return Table("county", "Inquiries by county", ("County", "Inquiries"), ("text", "count"), rows)


def by_language(period: Period) -> Table:
    counts = _count_by(Inquiry.language, Inquiry.language, period=period, missing="")
    rows = [(LANGUAGES.get(code, code), count) for code, count in counts]
    return Table("language", "Inquiries by language", ("Language", "Inquiries"), ("text", "count"), rows)


def by_organisation(period: Period) -> Table:
    query = (
        select(Organisation.name, func.count())
        .select_from(Inquiry)
        .outerjoin(Organisation, Organisation.id == Inquiry.organisation_id)
    )
    rows = _count_by(Organisation.name, Inquiry.organisation_id, query, period=period, missing=NO_ORGANISATION)
    return Table(
        "organisation",
        "Inquiries by organisation",
        ("Organisation", "Inquiries"),
        ("text", "count"),
        rows,
        page_limit=PAGE_LIMIT,
    )


def open_load(now: datetime) -> Table:
    """Open inquiries per assigned contact right now, and how many of them are overdue."""
    overdue = case((Inquiry.first_response_at.is_(None) & (Inquiry.due_at < now), 1), else_=0)
    query = (
        select(Contact.name, Organisation.name, func.count(), func.sum(overdue))
        .select_from(Inquiry)
        .outerjoin(Contact, Contact.id == Inquiry.assigned_contact_id)
        .outerjoin(Organisation, Organisation.id == Contact.organisation_id)
        .where(Inquiry.status.in_(sorted(OPEN_STATUSES)))
        .group_by(Inquiry.assigned_contact_id, Contact.name, Organisation.name)
    )
    rows = [
        (name if name is not None else UNASSIGNED, organisation or "", count, int(late or 0))
        for name, organisation, count, late in db.session.execute(query)
    ]
    rows.sort(key=lambda row: (-row[2], -row[3], row[0].casefold(), row[1].casefold()))
    return Table(
        "open_load",
        "Open inquiries per contact, now",
        ("Contact", "Organisation", "Open inquiries", "Overdue"),
        ("text", "text", "count", "count"),
        rows,
        chart_column=2,
        note="Every inquiry open right now, whenever it was received; the period above does not apply.",
        page_limit=PAGE_LIMIT,
    )


# --- response times ------------------------------------------------------------------------


class BusinessClock:
    """Business hours between many pairs of instants.

    Gives what ``crm.inquiries.sla.business_hours_between`` gives, but lays the calendar's
    opening hours from ``first_day`` to ``last_day`` out once as a running total, so each
    pair costs two bisects instead of a walk over its days. Instants outside those days
    must not be asked about.
    """

    def __init__(self, calendar: BusinessCalendar, first_day: date, last_day: date) -> None:
        self._opens: list[float] = []
        self._lengths: list[float] = []
        self._before: list[float] = []
        total = 0.0
        day = first_day
        while day <= last_day:
            hours = calendar.opening_hours(day)
            if hours is not None:
                opens, closes = hours
                length = (closes - opens).total_seconds()
                self._opens.append(opens.timestamp())
                self._lengths.append(length)
                self._before.append(total)
                total += length
            day += timedelta(days=1)

    @classmethod
    def covering(cls, calendar: BusinessCalendar, earliest: datetime, latest: datetime) -> BusinessClock:
        zone = calendar.zone
        return cls(
            calendar,
            earliest.astimezone(zone).date() - timedelta(days=1),
            latest.astimezone(zone).date() + timedelta(days=1),
        )

    def _elapsed(self, instant: float) -> float:
        """Business seconds from the first opening to ``instant``."""
        index = bisect_right(self._opens, instant) - 1
        if index < 0:
            return 0.0
        return self._before[index] + min(instant - self._opens[index], self._lengths[index])

    def hours_between(self, start: datetime, end: datetime) -> float:
        seconds = self._elapsed(end.timestamp()) - self._elapsed(start.timestamp())
        return max(seconds, 0.0) / 3600


@dataclass(frozen=True)
class Response:
    """One responded inquiry, measured."""

    hours: float
    target_hours: float
    county: str
    language: str

    @property
    def within_target(self) -> bool:
        return self.hours <= self.target_hours


@dataclass(frozen=True)
class ResponseFigures:
    count: int
    median: float | None
    p90: float | None
    within_target_share: float | None

    @classmethod
    def of(cls, responses: Sequence[Response]) -> ResponseFigures:
        if not responses:
            return cls(0, None, None, None)
        hours = sorted(response.hours for response in responses)
        within = sum(1 for response in responses if response.within_target)
        return cls(len(responses), percentile(hours, 50), percentile(hours, 90), within / len(responses))


def responses(period: Period, calendar: BusinessCalendar | None = None) -> list[Response]:
    """Every inquiry received in the period that has a first response, with its business hours.

    Only five columns come back, and the clock needs no query of its own.
    """
    calendar = calendar or business_calendar()
    target = func.coalesce(Topic.response_target_hours, DEFAULT_TARGET_HOURS)
    rows = db.session.execute(
        select(Inquiry.received_at, Inquiry.first_response_at, target, County.name, Inquiry.language)
        .select_from(Inquiry)
        .outerjoin(Topic, Topic.id == Inquiry.topic_id)
        .outerjoin(County, County.fips == Inquiry.county_fips)
        .where(*in_period(period), Inquiry.first_response_at.is_not(None))
    ).all()
    if not rows:
        return []
    clock = BusinessClock.covering(calendar, period.starts_at, max(row[1] for row in rows))
    return [
        Response(
            hours=clock.hours_between(received, responded),
            target_hours=float(target_hours),
            county=county if county is not None else NO_COUNTY,
            language=LANGUAGES.get(language, language),
        )
        for received, responded, target_hours, county, language in rows
    ]


def _figures_row(label: str, figures: ResponseFigures) -> tuple[Any, ...]:
    share = None if figures.within_target_share is None else round(figures.within_target_share * 100, 1)
    return (
        label,
        figures.count,
        None if figures.median is None else round(figures.median, 1),
        None if figures.p90 is None else round(figures.p90, 1),
        share,
    )


RESPONSE_COLUMNS = ("", "Responded", "Median (business hours)", "90th percentile (business hours)", "Within target (%)")
RESPONSE_KINDS: tuple[Kind, ...] = ("text", "count", "hours", "hours", "percent")


def _response_table(name: str, title: str, heading: str, rows: list[tuple[Any, ...]], note: str = "") -> Table:
    return Table(name, title, (heading, *RESPONSE_COLUMNS[1:]), RESPONSE_KINDS, rows, chart_column=2, note=note)


def grouped(items: Iterable[Response], key: Callable[[Response], str]) -> dict[str, list[Response]]:
    groups: dict[str, list[Response]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def response_overall(measured: Sequence[Response]) -> Table:
    return _response_table(
        "response",
        "First-response time",
        "Inquiries",
        [_figures_row("All", ResponseFigures.of(measured))],
        note="Business hours from receipt to first response; the target is each inquiry's topic target "
        f"({DEFAULT_TARGET_HOURS} hours without a topic).",
    )


def _response_by(name: str, title: str, heading: str, measured: Sequence[Response], key) -> Table:
    figures = {label: ResponseFigures.of(group) for label, group in grouped(measured, key).items()}
    ordered = sorted(figures.items(), key=lambda item: (-item[1].count, item[0].casefold()))
    return _response_table(name, title, heading, [_figures_row(label, value) for label, value in ordered])


def response_by_county(measured: Sequence[Response]) -> Table:
    return _response_by("response_county", "First-response time by county", "County", measured, lambda r: r.county)


def response_by_language(measured: Sequence[Response]) -> Table:
    return _response_by(
        "response_language", "First-response time by language", "Language", measured, lambda r: r.language
    )


def awaiting_response(period: Period) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Inquiry).where(*in_period(period), Inquiry.first_response_at.is_(None))
    ) or 0


# --- the whole report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    period: Period
    total: int
    awaiting: int
    overall: ResponseFigures
    tables: list[Table] = field(default_factory=list)

    def table(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)


COUNT_TABLES: dict[str, Callable[[Period], Table]] = {
    "month": by_month,
    "topic": by_topic,
    "region": by_region,
    "county": by_county,
    "language": by_language,
    "organisation": by_organisation,
}
RESPONSE_TABLES: dict[str, Callable[[Sequence[Response]], Table]] = {
    "response": response_overall,
    "response_county": response_by_county,
    "response_language": response_by_language,
}
TABLE_NAMES: tuple[str, ...] = (*COUNT_TABLES, *RESPONSE_TABLES, "open_load")


def build_table(name: str, period: Period, now: datetime) -> Table:
    """One table by its name in TABLE_NAMES (a CSV download or a chart); KeyError otherwise."""
    if name in COUNT_TABLES:
        return COUNT_TABLES[name](period)
    if name in RESPONSE_TABLES:
        return RESPONSE_TABLES[name](responses(period))
    if name == "open_load":
        return open_load(now)
    raise KeyError(name)


def build_report(period: Period, now: datetime) -> Report:
    """Every table of the page; the responded inquiries are fetched once for all three timings."""
    tables = [builder(period) for builder in COUNT_TABLES.values()]
    measured = responses(period)
    tables += [builder(measured) for builder in RESPONSE_TABLES.values()]
    tables.append(open_load(now))
    total = sum(count for _label, count in tables[0].rows)
    return Report(
        period=period,
        total=total,
        awaiting=awaiting_response(period),
        overall=ResponseFigures.of(measured),
        tables=tables,
    )
