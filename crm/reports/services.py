"""The managers' review: figures over a period of received dates, each a small table.

Every figure leaves spam out. The counts and the response times are worked out from the
daily roll-ups (``crm.reports.rollup``): one packed record per inquiry, one row per day, so a
90-day report reads 90 rows and counts and sorts the records with numpy, on PostgreSQL and
SQLite alike. Regions are summed from the county counts.

Response times are the business hours between receipt and first response, fixed when the
response is logged (``tests/report_reference.py`` measures them straight from the inquiries,
one row each: the definition the tests hold the roll-ups to).

Cost: with a million inquiries over five years (about 47,000 in a 90-day period) the page
takes well under 100 ms on PostgreSQL (``python -m crm.bench``), most of it the open load
and rendering; it grows with the inquiries in the period, by about a millisecond a thousand.

Open load is a snapshot of now, whatever the period: it counts every open inquiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from crm.business_hours import DEFAULT_TARGET_HOURS
from crm.extensions import db
from crm.languages import LANGUAGES
from crm.models import Contact, County, Inquiry, Organisation, Region, Topic
from crm.models.inquiry import open_clause
from crm.reports import rollup

DEFAULT_DAYS = 90

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
    # How many rows there are in all, when the query stopped at a limit.
    total_rows: int | None = None

    @property
    def row_count(self) -> int:
        return len(self.rows) if self.total_rows is None else self.total_rows

    @property
    def chart_unit(self) -> str:
        return {"hours": "business hours", "percent": "%"}.get(self.kinds[self.chart_column], "")

    def chart_points(self, limit: int | None = None) -> list[tuple[str, float]]:
        points = [(str(row[0]), row[self.chart_column]) for row in self.rows if row[self.chart_column] is not None]
        return points[:limit] if limit else points


def _sorted_counts(rows: Iterable[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """Largest first, then by label, so equal counts always come out in the same order."""
    return sorted(rows, key=lambda row: (-row[1], str(row[0]).casefold()))


@dataclass(frozen=True)
class PeriodCounts:
    """Inquiries in a period counted five ways; ``None`` keys are the inquiries without one."""

    months: dict[int, int]  # index into Period.months()
    topics: dict[str | None, int]  # by topic name
    counties: dict[str | None, int]  # by FIPS code
    county_names: dict[str, str]
    languages: dict[str, int]
    organisations: dict[str | None, int]  # by organisation name

    @property
    def total(self) -> int:
        return sum(self.counties.values())


def period_records(period: Period) -> np.ndarray:
    """The period's inquiries, spam aside, as roll-up records (crm.reports.rollup)."""
    return rollup.records_between(period.starts_at, period.ends_before)


def _tally(values: np.ndarray) -> list[tuple[int, int]]:
    keys, counts = np.unique(values, return_counts=True)
    return list(zip(keys.tolist(), counts.tolist(), strict=True))


def _names(model_id, model_name, ids: Iterable[int]) -> dict[int, str]:
    wanted = [id_ for id_ in ids if id_ != rollup.NO_ID]
    if not wanted:
        return {}
    return dict(db.session.execute(select(model_id, model_name).where(model_id.in_(wanted))).all())


def count_period(period: Period, records: np.ndarray | None = None) -> PeriodCounts:
    """Every count of the page from the period's records.

    Topics and organisations are counted by id and then by name: two records with one name
    would read as one line anyway. An id whose record was deleted counts as none."""
    records = period_records(period) if records is None else records
    boundaries = np.array([moment.timestamp() for moment in period.month_boundaries()])
    months = np.bincount(np.searchsorted(boundaries, records["received"], side="right"), minlength=len(boundaries) + 1)

    def by_name(tally: list[tuple[int, int]], names: dict[int, str]) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for id_, count in tally:
            name = names.get(id_)
            counts[name] = counts.get(name, 0) + count
        return counts

    topics = _tally(records["topic"])
    organisations = _tally(records["organisation"])
    counties = {rollup.code_of(key): count for key, count in _tally(rollup.as_keys(records["county"]))}
    county_names = dict(
        db.session.execute(select(County.fips, County.name).where(County.fips.in_([k for k in counties if k]))).all()
    )
    return PeriodCounts(
        months={index: int(count) for index, count in enumerate(months) if count},
        topics=by_name(topics, _names(Topic.id, Topic.name_en, (id_ for id_, _ in topics))),
        counties=counties,
        county_names=county_names,
        languages={rollup.code_of(key) or "": count for key, count in _tally(rollup.as_keys(records["language"]))},
        organisations=by_name(
            organisations, _names(Organisation.id, Organisation.name, (id_ for id_, _ in organisations))
        ),
    )


def _labelled(counts: dict[str | None, int], missing: str) -> list[tuple[str, int]]:
    return _sorted_counts((missing if key is None else key, count) for key, count in counts.items())


def by_month(period: Period, counts: PeriodCounts | None = None) -> Table:
    counts = counts or count_period(period)
    rows = [(month.strftime("%B %Y"), counts.months.get(index, 0)) for index, month in enumerate(period.months())]
    return Table("month", "Inquiries by month", ("Month", "Inquiries"), ("text", "count"), rows, ranked=False)


def by_topic(period: Period, counts: PeriodCounts | None = None) -> Table:
    counts = counts or count_period(period)
    rows = _labelled(counts.topics, NO_TOPIC)
    return Table("topic", "Inquiries by topic", ("Topic", "Inquiries"), ("text", "count"), rows)


def by_county(period: Period, counts: PeriodCounts | None = None) -> Table:
    counts = counts or count_period(period)
    rows = _sorted_counts(
        (counts.county_names.get(fips, fips) if fips else NO_COUNTY, count) for fips, count in counts.counties.items()
    )
    return Table("county", "Inquiries by county", ("County", "Inquiries"), ("text", "count"), rows)


def by_region(period: Period, counts: PeriodCounts | None = None) -> Table:
    """Summed from the county counts: a region is the counties it is made of."""
    counts = counts or count_period(period)
    regions = db.session.scalars(select(Region).options(selectinload(Region.counties))).all()
    in_a_region: set[str] = set()
    rows = []
    for region in regions:
        fips = {county.fips for county in region.counties}
        in_a_region |= fips
        total = sum(counts.counties.get(code, 0) for code in fips)
        if total:
            rows.append((region.name, total))
    outside = sum(count for code, count in counts.counties.items() if code not in in_a_region)
    if outside:
        rows.append((NO_REGION, outside))
    return Table(
        "region",
        "Inquiries by region",
        ("Region", "Inquiries"),
        ("text", "count"),
        _sorted_counts(rows),
        note="A county in two regions counts in both, so the regions can add up to more than the total.",
    )


def by_language(period: Period, counts: PeriodCounts | None = None) -> Table:
    counts = counts or count_period(period)
    rows = _sorted_counts((LANGUAGES.get(code, code), count) for code, count in counts.languages.items())
    return Table("language", "Inquiries by language", ("Language", "Inquiries"), ("text", "count"), rows)


def by_organisation(period: Period, counts: PeriodCounts | None = None) -> Table:
    counts = counts or count_period(period)
    return Table(
        "organisation",
        "Inquiries by organisation",
        ("Organisation", "Inquiries"),
        ("text", "count"),
        _labelled(counts.organisations, NO_ORGANISATION),
        page_limit=PAGE_LIMIT,
    )


def open_load(now: datetime, limit: int | None = None) -> Table:
    """Open inquiries per assigned contact right now, and how many of them are overdue.

    Counted per contact first; with a ``limit`` (the page) the largest are picked before any
    name is joined, so only those rows touch the contacts table. None keeps them all (CSV).
    Equal counts are listed by name; at the cut-off the lower contact id wins the place.
    """
    overdue = case((Inquiry.first_response_at.is_(None) & (Inquiry.due_at < now), 1), else_=0)
    per_contact = (
        select(
            Inquiry.assigned_contact_id.label("contact_id"),
            func.count().label("open"),
            func.sum(overdue).label("overdue"),
            func.count().over().label("contacts"),
        )
        .where(open_clause())
        .group_by(Inquiry.assigned_contact_id)
    )
    if limit is not None:
        per_contact = per_contact.order_by(
            func.count().desc(),
            func.sum(overdue).desc(),
            Inquiry.assigned_contact_id.is_(None),  # "Not assigned" last among equals, on every database
            Inquiry.assigned_contact_id,
        ).limit(limit)
    top = per_contact.subquery()
    query = (
        select(top.c.contact_id, Contact.name, Organisation.name, top.c.open, top.c.overdue, top.c.contacts)
        .select_from(top)
        .outerjoin(Contact, Contact.id == top.c.contact_id)
        .outerjoin(Organisation, Organisation.id == Contact.organisation_id)
    )
    found = db.session.execute(query).all()
    found.sort(key=lambda row: (-row[3], -int(row[4] or 0), row[0] is None, (row[1] or "").casefold(), row[0] or 0))
    rows = [
        (name if name is not None else UNASSIGNED, organisation or "", count, int(late or 0))
        for _id, name, organisation, count, late, _contacts in found
    ]
    return Table(
        "open_load",
        "Open inquiries per contact, now",
        ("Contact", "Organisation", "Open inquiries", "Overdue"),
        ("text", "text", "count", "count"),
        rows,
        chart_column=2,
        note="Every inquiry open right now, whenever it was received; the period above does not apply.",
        page_limit=PAGE_LIMIT,
        total_rows=found[0][-1] if found else 0,
    )


# --- response times ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseFigures:
    count: int
    median: float | None
    p90: float | None
    within_target_share: float | None


@dataclass(frozen=True)
class ResponseBreakdown:
    """First-response figures for the whole period, per county (by name) and per language."""

    overall: ResponseFigures
    by_county: dict[str, ResponseFigures]
    by_language: dict[str, ResponseFigures]


def _percentiles_of_runs(hours: np.ndarray, starts: np.ndarray, counts: np.ndarray, p: float) -> np.ndarray:
    """The ``p``-th percentile of each run ``hours[start:start + count]`` (each sorted), by
    linear interpolation between closest ranks, as ``crm.reports.stats.percentile``."""
    position = (counts - 1) * p / 100
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, counts - 1)
    below, above = hours[starts + lower], hours[starts + upper]
    return below + (above - below) * (position - lower)


def _figures_by(keys: np.ndarray, hours: np.ndarray, within: np.ndarray) -> dict[int, ResponseFigures]:
    """ResponseFigures per distinct key, from ``hours`` already sorted: a stable sort by key
    keeps each key's hours in order, so each key is one sorted run, measured all at once."""
    if not len(keys):
        return {}
    order = np.argsort(keys, kind="stable")
    keys, hours, within = keys[order], hours[order], within[order]
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    counts = np.diff(np.append(starts, len(keys)))
    medians = _percentiles_of_runs(hours, starts, counts, 50)
    p90s = _percentiles_of_runs(hours, starts, counts, 90)
    shares = np.add.reduceat(within.astype(np.float64), starts) / counts
    return {
        key: ResponseFigures(count, median, p90, share)
        for key, count, median, p90, share in zip(
            keys[starts].tolist(), counts.tolist(), medians.tolist(), p90s.tolist(), shares.tolist(), strict=True
        )
    }


def _targets_of(topics: np.ndarray) -> np.ndarray:
    """Each record's response target in business hours: its topic's, or the default for none."""
    targets = dict(db.session.execute(select(Topic.id, Topic.response_target_hours)).all())
    # Indexed by topic id; the last slot, where NO_ID (-1) and unknown ids land, is the default.
    by_id = np.full(max(targets, default=0) + 2, float(DEFAULT_TARGET_HOURS))
    for id_, target in targets.items():
        if target is not None:
            by_id[id_] = target
    return by_id[np.where((topics >= 0) & (topics < len(by_id) - 1), topics, -1)]


def response_breakdown(period: Period, records: np.ndarray | None = None) -> ResponseBreakdown:
    """Median, 90th percentile and share within target of the period's first responses,
    overall, per county and per language (hours fixed when each response was logged)."""
    records = period_records(period) if records is None else records
    responded = ~np.isnan(records["hours"])
    hours = records["hours"][responded]
    order = np.argsort(hours)
    hours = hours[order]
    within = hours <= _targets_of(records["topic"][responded][order])
    counties = rollup.as_keys(records["county"])[responded][order]
    languages = rollup.as_keys(records["language"])[responded][order]
    overall = _figures_by(np.zeros(len(hours), dtype=np.uint64), hours, within)
    county_names = dict(db.session.execute(select(County.fips, County.name)).all())
    by_county: dict[str, ResponseFigures] = {}
    for key, figures in _figures_by(counties, hours, within).items():
        fips = rollup.code_of(key)
        by_county[county_names.get(fips, fips) if fips else NO_COUNTY] = figures
    by_language: dict[str, ResponseFigures] = {}
    for key, figures in _figures_by(languages, hours, within).items():
        code = rollup.code_of(key) or ""
        by_language[LANGUAGES.get(code, code)] = figures
    return ResponseBreakdown(overall.get(0, ResponseFigures(0, None, None, None)), by_county, by_language)


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


def _response_table(name: str, title: str, heading: str, figures: dict[str, ResponseFigures], note: str = "") -> Table:
    ordered = sorted(figures.items(), key=lambda item: (-item[1].count, item[0].casefold()))
    rows = [_figures_row(label, value) for label, value in ordered]
    return Table(name, title, (heading, *RESPONSE_COLUMNS[1:]), RESPONSE_KINDS, rows, chart_column=2, note=note)


def response_overall(breakdown: ResponseBreakdown) -> Table:
    return _response_table(
        "response",
        "First-response time",
        "Inquiries",
        {"All": breakdown.overall},
        note="Business hours from receipt to first response; the target is each inquiry's topic target "
        f"({DEFAULT_TARGET_HOURS} hours without a topic).",
    )


def response_by_county(breakdown: ResponseBreakdown) -> Table:
    return _response_table("response_county", "First-response time by county", "County", breakdown.by_county)


def response_by_language(breakdown: ResponseBreakdown) -> Table:
    return _response_table("response_language", "First-response time by language", "Language", breakdown.by_language)


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


COUNT_TABLES: dict[str, Callable[[Period, PeriodCounts | None], Table]] = {
    "month": by_month,
    "topic": by_topic,
    "region": by_region,
    "county": by_county,
    "language": by_language,
    "organisation": by_organisation,
}
RESPONSE_TABLES: dict[str, Callable[[ResponseBreakdown], Table]] = {
    "response": response_overall,
    "response_county": response_by_county,
    "response_language": response_by_language,
}
TABLE_NAMES: tuple[str, ...] = (*COUNT_TABLES, *RESPONSE_TABLES, "open_load")


def build_table(name: str, period: Period, now: datetime, limit: int | None = None) -> Table:
    """One table by its name in TABLE_NAMES (a CSV download or a chart); KeyError otherwise.

    ``limit`` may stop a long ranked table early (open load); None gives every row."""
    if name in COUNT_TABLES:
        return COUNT_TABLES[name](period, None)
    if name in RESPONSE_TABLES:
        return RESPONSE_TABLES[name](response_breakdown(period))
    if name == "open_load":
        return open_load(now, limit)
    raise KeyError(name)


def build_report(period: Period, now: datetime) -> Report:
    """Every table of the page from three queries: one scan for all the counts, one for the
    response times, and the open load."""
    records = period_records(period)
    counts = count_period(period, records)
    breakdown = response_breakdown(period, records)
    tables = [
        *(builder(period, counts) for builder in COUNT_TABLES.values()),
        *(builder(breakdown) for builder in RESPONSE_TABLES.values()),
        open_load(now, limit=PAGE_LIMIT),
    ]
    return Report(
        period=period,
        total=counts.total,
        awaiting=counts.total - breakdown.overall.count,
        overall=breakdown.overall,
        tables=tables,
    )
