"""The managers' review: figures over a period of received dates, each a small table.

Every figure leaves spam out and is an aggregate the database works out from the inquiries
themselves, read from the ``ix_inquiries_report`` covering index (crm.models.inquiry):

- Counts by month, topic, county, language and organisation: one GROUP BY. The period's
  calendar months, in the display timezone, are sent as a small table of UTC ranges that the
  inquiries are joined to. PostgreSQL counts all five in one read, with GROUPING SETS;
  SQLite, which has none, groups by the five together and the sums are taken here. Regions
  are summed from the county counts. The page leaves counties and languages out of that
  statement: the loop's counts (crm.reports.loop) come a row per county and language, each
  with its number of inquiries, and those rows summed are the same counts, one hash table
  fewer over the period's rows.
- First-response figures overall, per county and per language: the number answered, the
  median and the 90th percentile and the share answered within target (crm.reports.timed,
  which reads the period once for these and for the times to acceptance), where an inquiry
  still unanswered past its deadline counts as a miss (counted here, from the open-work
  indexes).

The counts and the timed figures are two queries, not one: ``percentile_cont`` cannot be
hashed, so in one statement every count would be sorted for as well.

Open load is a snapshot of now, whatever the period: it counts every open inquiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    CTE,
    Date,
    Integer,
    Select,
    and_,
    case,
    func,
    literal,
    select,
)

from crm.business_hours import DEFAULT_TARGET_HOURS
from crm.database import UTCDateTime
from crm.extensions import db
from crm.models import Contact, County, Inquiry, Organisation, Region, Topic
from crm.models.geography import region_counties
from crm.models.inquiry import open_clause, overdue_clause
from crm.reports.common import (
    DEFAULT_DAYS,  # noqa: F401  (read from here by the routes and the tests, as before crm.reports.common)
    NO_COUNTY,
    NOW,
    Kind,
    Period,
    Table,
    bound_values,
    bound_values_parameters,
    county_label,
    county_names,
    default_period,  # noqa: F401
    in_period,
    language_label,
    on_postgresql,
    period_parameters,
)
from crm.reports.loop import LOOP_TABLES, GroupCounts, LoopFigures, group_counts, loop_figures
from crm.reports.timed import (
    ResponseBreakdown,
    ResponseFigures,
    Waits,
    period_waits,
)

# Long tables (organisations, contacts) show this many rows on the page; the CSV has all.
PAGE_LIMIT = 25

NO_TOPIC = "No topic"
NO_REGION = "No region"
NO_ORGANISATION = "No organisation"
UNASSIGNED = "Not assigned"

# --- counts --------------------------------------------------------------------------------


def _sorted_counts(rows: Iterable[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """Largest first, then by label, so equal counts always come out in the same order."""
    return sorted(rows, key=lambda row: (-row[1], str(row[0]).casefold()))


@dataclass(frozen=True)
class PeriodCounts:
    """Inquiries in a period counted five ways; ``None`` keys are the inquiries without one."""

    months: dict[date, int]  # by the month's first day
    topics: dict[str | None, int]  # by topic name
    counties: dict[str | None, int]  # by FIPS code
    county_names: dict[str, str]
    languages: dict[str, int]
    organisations: dict[str | None, int]  # by organisation name

    @property
    def total(self) -> int:
        return sum(self.counties.values())


# The columns of _months_table, as bound_values takes them.
MONTH_COLUMNS = (("month", Date()), ("starts_at", UTCDateTime()), ("ends_before", UTCDateTime()))


def _months_table(months: int) -> CTE:
    """A period's ``months`` months as a table of UTC ranges: (month, starts_at, ends_before),
    each value a parameter (_month_parameters gives them), so that one statement serves every
    period of as many months.

    Joining the inquiries to it puts each in its month in the display timezone; PostgreSQL
    reads one index range per month and knows there are only a few months to count."""
    return bound_values("months", MONTH_COLUMNS, months).cte("months")


def _month_parameters(period: Period) -> dict[str, Any]:
    """The values of _months_table's parameters for the period's months."""
    return bound_values_parameters("months", MONTH_COLUMNS, period.month_ranges())


# The dimensions of the counts, in the order of the query's columns and of grouping()'s bits.
DIMENSIONS = ("month", "topic", "county", "language", "organisation")
# What the report page counts here: its counts by county and by language are the loop's, which
# counts the period per county and language anyway (crm.reports.loop.GroupCounts).
PAGE_DIMENSIONS = ("month", "topic", "organisation")


# A statement per number of months (a period of twenty years has 240), dimensions and dialect:
# the most recently used are kept.
@lru_cache(maxsize=64)
def count_query(months: int, dimensions: tuple[str, ...] = DIMENSIONS, *, postgresql: bool = True) -> Select:
    """Inquiries per month, topic, county, language and organisation (or the ``dimensions``
    named, in DIMENSIONS' order), with the names of the topics, counties and organisations
    (joined to the few counted rows, not to every inquiry), for a period of ``months`` months;
    its parameters are count_parameters'. Built once per shape (crm.reports.common).

    Each row has a ``grouping_set``: as PostgreSQL's grouping(), one bit per dimension counted,
    most significant first, set for a dimension the row does not count by (always 0 on SQLite,
    ``postgresql`` false, which has no GROUPING SETS)."""
    months = _months_table(months)
    columns = {
        "month": months.c.month,
        "topic": Inquiry.topic_id,
        "county": Inquiry.county_fips,
        "language": Inquiry.language,
        "organisation": Inquiry.organisation_id,
    }
    keys = [columns[dimension] for dimension in DIMENSIONS if dimension in dimensions]
    counted = (
        select(*keys, func.count().label("inquiries"))
        .select_from(months)
        .join(Inquiry, and_(Inquiry.received_at >= months.c.starts_at, Inquiry.received_at < months.c.ends_before))
        .where(*in_period())
    )
    if postgresql:
        counted = counted.add_columns(func.grouping(*keys).label("grouping_set")).group_by(func.grouping_sets(*keys))
    else:  # no GROUPING SETS: every combination of the dimensions, summed per dimension by count_period
        counted = counted.add_columns(literal(0, Integer).label("grouping_set")).group_by(*keys)
    counted = counted.subquery("counted")
    names = []
    query = select(counted)
    if "topic" in dimensions:
        query = query.outerjoin(Topic, Topic.id == counted.c.topic_id)
        names.append(Topic.name_en.label("topic_name"))
    if "county" in dimensions:
        query = query.outerjoin(County, County.fips == counted.c.county_fips)
        names.append(County.name.label("county_name"))
    if "organisation" in dimensions:
        query = query.outerjoin(Organisation, Organisation.id == counted.c.organisation_id)
        names.append(Organisation.name.label("organisation_name"))
    return query.add_columns(*names)


def count_parameters(period: Period) -> dict[str, Any]:
    """The values of count_query's parameters for ``period``."""
    return {**period_parameters(period), **_month_parameters(period)}


def count_period(period: Period, groups: GroupCounts | None = None) -> PeriodCounts:
    """Every count of the page, from count_query; by county and by language from ``groups``
    when given (the loop's counts, which the page reads anyway), so the query leaves those two
    dimensions out.

    Topics and organisations are counted by id and then summed by name: two records with one
    name would read as one line anyway."""
    dimensions = PAGE_DIMENSIONS if groups is not None else DIMENSIONS
    found: dict[str, dict[Any, int]] = {dimension: {} for dimension in DIMENSIONS}
    county_names: dict[str, str] = {}
    statement = count_query(len(period.months()), dimensions, postgresql=on_postgresql())
    for row in db.session.execute(statement, count_parameters(period)):
        mapping = row._mapping
        keys = {
            "month": mapping.get("month"),
            "topic": mapping.get("topic_name"),
            "county": mapping.get("county_fips"),
            "language": mapping.get("language"),
            "organisation": mapping.get("organisation_name"),
        }
        for position, dimension in enumerate(dimensions):
            if row.grouping_set & (1 << (len(dimensions) - 1 - position)):
                continue  # not a count by this dimension
            counts = found[dimension]
            counts[keys[dimension]] = counts.get(keys[dimension], 0) + row.inquiries
        if mapping.get("county_fips") and mapping.get("county_name"):
            county_names[mapping["county_fips"]] = mapping["county_name"]
    if groups is not None:
        for (county, language), inquiries in groups.inquiries().items():
            found["county"][county] = found["county"].get(county, 0) + inquiries
            found["language"][language] = found["language"].get(language, 0) + inquiries
        county_names = groups.county_names
    return PeriodCounts(
        months=found["month"],
        topics=found["topic"],
        counties=found["county"],
        county_names=county_names,
        languages=found["language"],
        organisations=found["organisation"],
    )


def _labelled(counts: dict[str | None, int], missing: str) -> list[tuple[str, int]]:
    return _sorted_counts((missing if key is None else key, count) for key, count in counts.items())


def by_month(period: Period, counts: PeriodCounts | None = None) -> Table:
    counts = counts or count_period(period)
    rows = [(month.strftime("%B %Y"), counts.months.get(month, 0)) for month in period.months()]
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


@cache
def _region_counties_statement() -> Select:
    """Every region's counties: region name, county FIPS. Built once per process (crm.reports.common)."""
    return select(Region.name, region_counties.c.county_fips).join(
        region_counties, region_counties.c.region_id == Region.id
    )


def by_region(period: Period, counts: PeriodCounts | None = None) -> Table:
    """Summed from the county counts: a region is the counties it is made of."""
    counts = counts or count_period(period)
    members: dict[str, set[str]] = {}
    for region, fips in db.session.execute(_region_counties_statement()):
        members.setdefault(region, set()).add(fips)
    in_a_region: set[str] = set()
    rows = []
    for region, fips in members.items():
        in_a_region |= fips
        total = sum(counts.counties.get(code, 0) for code in fips)
        if total:
            rows.append((region, total))
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
    rows = _sorted_counts((language_label(code), count) for code, count in counts.languages.items())
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


@cache
def open_load_query(limit: int | None) -> Select:
    """open_load's statement: contact_id, contact name, organisation name, open, overdue and how
    many contacts there are in all, NOW its parameter. Built once per ``limit`` (crm.reports.common);
    open_clause writes the open statuses into it, for the partial indexes."""
    overdue = case((Inquiry.first_response_at.is_(None) & (Inquiry.due_at < NOW), 1), else_=0)
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
    return (
        select(top.c.contact_id, Contact.name, Organisation.name, top.c.open, top.c.overdue, top.c.contacts)
        .select_from(top)
        .outerjoin(Contact, Contact.id == top.c.contact_id)
        .outerjoin(Organisation, Organisation.id == Contact.organisation_id)
    )


def open_load(now: datetime, limit: int | None = None) -> Table:
    """Open inquiries per assigned contact right now, and how many of them are overdue.

    Counted per contact first; with a ``limit`` (the page) the largest are picked before any
    name is joined, so only those rows touch the contacts table. None keeps them all (CSV).
    Equal counts are listed by name; at the cut-off the lower contact id wins the place.
    """
    found = db.session.execute(open_load_query(limit), {NOW.key: now}).all()
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


@cache
def missed_deadlines() -> Select:
    """The period's inquiries still open and unanswered past their deadline (NOW), counted per
    county and language: county_fips, language, missed. The open-work indexes find them (the
    open statuses are written in, open_clause). Built once per process (crm.reports.common)."""
    return (
        select(Inquiry.county_fips, Inquiry.language, func.count().label("missed"))
        .where(*in_period(), overdue_clause(NOW))
        .group_by(Inquiry.county_fips, Inquiry.language)
    )


def _with_missed(breakdown: ResponseBreakdown, period: Period, now: datetime) -> ResponseBreakdown:
    """The breakdown with each group's missed deadlines counted in (a group may have only misses)."""
    rows = db.session.execute(missed_deadlines(), period_parameters(period, now)).all()
    if not rows:
        return breakdown
    names = county_names()
    by_county: dict[str, int] = {}
    by_language: dict[str, int] = {}
    for county, language, missed in rows:
        county_group, language_group = county_label(county, names), language_label(language)
        by_county[county_group] = by_county.get(county_group, 0) + missed
        by_language[language_group] = by_language.get(language_group, 0) + missed

    def fold(figures: dict[str, ResponseFigures], missed: dict[str, int]) -> dict[str, ResponseFigures]:
        empty = ResponseFigures(0, None, None)
        return {label: figures.get(label, empty).with_missed(missed.get(label, 0)) for label in figures.keys() | missed.keys()}

    return ResponseBreakdown(
        overall=breakdown.overall.with_missed(sum(missed for _c, _l, missed in rows)),
        by_county=fold(breakdown.by_county, by_county),
        by_language=fold(breakdown.by_language, by_language),
    )


def response_breakdown(period: Period, now: datetime, waits: Waits | None = None) -> ResponseBreakdown:
    """Median, 90th percentile and share within target of the period's first responses,
    overall, per county and per language (crm.reports.timed; ``waits`` when already read);
    ``now`` decides which unanswered inquiries are already past their deadline."""
    return _with_missed((waits or period_waits(period)).responses, period, now)


def _figures_row(label: str, figures: ResponseFigures) -> tuple[Any, ...]:
    share = None if figures.within_target_share is None else round(figures.within_target_share * 100, 1)
    return (
        label,
        figures.count,
        figures.missed,
        None if figures.median is None else round(figures.median, 1),
        None if figures.p90 is None else round(figures.p90, 1),
        share,
    )


RESPONSE_COLUMNS = (
    "",
    "Responded",
    "Unanswered past target",
    "Median (business hours)",
    "90th percentile (business hours)",
    "Within target (%)",
)
RESPONSE_KINDS: tuple[Kind, ...] = ("text", "count", "count", "hours", "hours", "percent")


def _response_table(name: str, title: str, heading: str, figures: dict[str, ResponseFigures], note: str = "") -> Table:
    ordered = sorted(figures.items(), key=lambda item: (-item[1].count, item[0].casefold()))
    rows = [_figures_row(label, value) for label, value in ordered]
    return Table(name, title, (heading, *RESPONSE_COLUMNS[1:]), RESPONSE_KINDS, rows, chart_column=3, note=note)


def response_overall(breakdown: ResponseBreakdown) -> Table:
    return _response_table(
        "response",
        "First-response time",
        "Inquiries",
        {"All": breakdown.overall},
        note="Business hours from receipt to first response; the target is each inquiry's topic target "
        f"({DEFAULT_TARGET_HOURS} hours without a topic). An inquiry still unanswered past its deadline "
        "counts as a miss in the share within target.",
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
    loop: LoopFigures
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
TABLE_NAMES: tuple[str, ...] = (*COUNT_TABLES, *RESPONSE_TABLES, *LOOP_TABLES, "open_load")


def build_table(name: str, period: Period, now: datetime, limit: int | None = None) -> Table:
    """One table by its name in TABLE_NAMES (a CSV download or a chart); KeyError otherwise.

    ``limit`` may stop a long ranked table early (open load); None gives every row."""
    if name in COUNT_TABLES:
        return COUNT_TABLES[name](period, None)
    if name in RESPONSE_TABLES:
        return RESPONSE_TABLES[name](response_breakdown(period, now))
    if name in LOOP_TABLES:
        return LOOP_TABLES[name](loop_figures(period, now))
    if name == "open_load":
        return open_load(now, limit)
    raise KeyError(name)


def build_report(period: Period, now: datetime) -> Report:
    """Every table of the page: the response figures and the times to acceptance (one query,
    and one for those measured now), the loop's counts (crm.reports.loop: two queries), the
    counts (one query; by county and by language from the loop's), the regions' counties and
    the open load."""
    waits = period_waits(period)
    breakdown = response_breakdown(period, now, waits)
    groups = group_counts(period, now)
    loop = loop_figures(period, now, waits, groups)
    counts = count_period(period, groups)
    tables = [
        *(builder(period, counts) for builder in COUNT_TABLES.values()),
        *(builder(breakdown) for builder in RESPONSE_TABLES.values()),
        *(builder(loop) for builder in LOOP_TABLES.values()),
        open_load(now, limit=PAGE_LIMIT),
    ]
    return Report(
        period=period,
        total=counts.total,
        awaiting=counts.total - breakdown.overall.count,
        overall=breakdown.overall,
        loop=loop,
        tables=tables,
    )
