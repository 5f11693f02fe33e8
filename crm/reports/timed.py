"""How long the period's inquiries waited, in business hours: until their first response and
until a partner accepted them.

Both waits are stored when the event is logged (``Inquiry.first_response_hours``,
``Inquiry.accepted_after_hours``). An inquiry answered or accepted without them (written by
other means than the app, or accepted before the hours were stored) is measured with the
business clock when it is reported, by today's holiday calendar of the organisation it is
with; partial indexes find those, normally none.

Each wait is summed up overall, per county and per language: how many, the median and the
90th percentile (linear interpolation between closest ranks, PostgreSQL's ``percentile_cont``)
and, for the responses, how many came within their topic's target. PostgreSQL works out both
in one statement that reads the period once: each row carries its hours to response and to
acceptance, NULL where there are none, which ``count(hours)`` and ``percentile_cont`` skip.
SQLite, which serves local work only, reads the same rows and measures them with
crm.reports.stats.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Row,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)

from crm.business_hours import DEFAULT_TARGET_HOURS, business_hours_between
from crm.extensions import db
from crm.holidays import calendars
from crm.models import County, Inquiry, Topic
from crm.reports.common import (
    NO_COUNTY,
    Breakdown,
    Period,
    allow_sort_memory,
    bound_values,
    bound_values_parameters,
    breakdown_in_python,
    in_period,
    language_label,
    on_postgresql,
    period_parameters,
)
from crm.reports.stats import percentile

# --- the figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseFigures:
    """First responses of a period: how many, how fast, and how many within target.

    ``missed`` counts the period's inquiries still open and unanswered past their deadline: each
    is a miss of the target, so the share within target is taken over the answered and the
    missed together (an inquiry nobody answers must not make the share look better)."""

    count: int
    median: float | None
    p90: float | None
    within_target: int = 0
    missed: int = 0

    @property
    def within_target_share(self) -> float | None:
        judged = self.count + self.missed
        return self.within_target / judged if judged else None

    def with_missed(self, missed: int) -> ResponseFigures:
        return replace(self, missed=missed)


NO_RESPONSE = ResponseFigures(0, None, None)

# First-response figures for the whole period, per county (by name) and per language (by name).
ResponseBreakdown = Breakdown[ResponseFigures]


@dataclass(frozen=True)
class AcceptanceFigures:
    accepted: int
    median: float | None
    p90: float | None


NO_ACCEPTANCE = AcceptanceFigures(0, None, None)


@dataclass(frozen=True)
class Waits:
    """Both waits of a period; the responses' missed deadlines are counted by crm.reports.services."""

    responses: ResponseBreakdown
    acceptances: Breakdown[AcceptanceFigures]


# --- the rows ------------------------------------------------------------------------------


def _target_hours() -> ColumnElement[float]:
    """An inquiry's response target: its topic's, or the default without one (joined to Topic)."""
    return func.coalesce(Topic.response_target_hours, DEFAULT_TARGET_HOURS)


@cache
def stored_waits() -> Select:
    """The period's inquiries answered or accepted with their hours stored: county_fips,
    language, target, response_hours, acceptance_hours (NULL where that wait is not stored).
    Its parameters are the period's (period_parameters); built once per process
    (crm.reports.common)."""
    answered = Inquiry.first_response_at.is_not(None) & Inquiry.first_response_hours.is_not(None)
    accepted = Inquiry.accepted_at.is_not(None) & Inquiry.accepted_after_hours.is_not(None)
    return (
        select(
            Inquiry.county_fips,
            Inquiry.language,
            _target_hours().label("target"),
            case((answered, Inquiry.first_response_hours)).label("response_hours"),
            case((accepted, Inquiry.accepted_after_hours)).label("acceptance_hours"),
        )
        .select_from(Inquiry)
        .outerjoin(Topic, Topic.id == Inquiry.topic_id)
        .where(*in_period(), or_(answered, accepted))
    )


def _unmeasured(wait: str, ended_at: ColumnElement[Any], hours: ColumnElement[Any]) -> Select:
    """The period's inquiries whose ``wait`` ended (``ended_at``) without its ``hours`` stored:
    wait, county_fips, language, target, received_at, ended_at, organisation_id. Each wait has
    its partial index (ix_inquiries_unmeasured_response, ix_inquiries_unmeasured_acceptance),
    which the predicate must match as written to be used."""
    return (
        select(
            literal(wait).label("wait"),
            Inquiry.county_fips,
            Inquiry.language,
            _target_hours().label("target"),
            Inquiry.received_at,
            ended_at.label("ended_at"),
            Inquiry.organisation_id,
        )
        .select_from(Inquiry)
        .outerjoin(Topic, Topic.id == Inquiry.topic_id)
        .where(*in_period(), ended_at.is_not(None), hours.is_(None))
    )


@cache
def _unmeasured_query() -> Select:
    """Both waits' _unmeasured rows; built once per process (crm.reports.common)."""
    return union_all(
        _unmeasured("response", Inquiry.first_response_at, Inquiry.first_response_hours),
        _unmeasured("acceptance", Inquiry.accepted_at, Inquiry.accepted_after_hours),
    )


def waits_measured_now(period: Period) -> list[tuple[str | None, str, int, float | None, float | None]]:
    """The period's responses and acceptances whose hours were not stored, measured by today's
    holiday calendar of the organisation each inquiry is with, as stored_waits' rows (one row
    per wait: an inquiry missing both has two)."""
    found = db.session.execute(_unmeasured_query(), period_parameters(period)).all()
    if not found:
        return []
    by_organisation = calendars.calendars_for({row.organisation_id for row in found})
    measured: list[tuple[str | None, str, int, float | None, float | None]] = []
    for wait, county, language, target, received, ended, organisation in found:
        hours = business_hours_between(received, ended, by_organisation[organisation])
        if wait == "response":
            measured.append((county, language, target, hours, None))
        else:
            measured.append((county, language, target, None, hours))
    return measured


# --- PostgreSQL: one statement -------------------------------------------------------------

# grouping() of waits_query's rows: a bit for each column the row is not grouped by.
OVERALL, BY_COUNTY, BY_LANGUAGE = 3, 1, 2


# The columns of waits_measured_now's rows, as waits_query takes them: name and type.
MEASURED_COLUMNS = (
    ("county_fips", String()),
    ("language", String()),
    ("target", Integer()),
    ("response_hours", Float()),
    ("acceptance_hours", Float()),
)


# A statement per number of waits measured now (normally none): the most recently used are kept.
@lru_cache(maxsize=16)
def waits_query(measured: int) -> Select:
    """PostgreSQL: both waits overall, per county and per language, told apart by
    ``grouping_set`` (OVERALL, BY_COUNTY, BY_LANGUAGE), with the county's name; the stored
    waits and ``measured`` waits measured now, sent as parameters (waits_parameters). Built once
    per shape (crm.reports.common)."""
    waits = stored_waits()
    if measured:
        table = bound_values("measured_now", MEASURED_COLUMNS, measured)
        # A wait not measured is a NULL in the list, which PostgreSQL would read as text.
        hours = [cast(table.c[name], Float) for name in ("response_hours", "acceptance_hours")]
        waits = union_all(waits, select(table.c.county_fips, table.c.language, table.c.target, *hours))
    rows = waits.subquery("waits")
    response, acceptance = rows.c.response_hours, rows.c.acceptance_hours
    figures = (
        select(
            func.grouping(rows.c.county_fips, rows.c.language).label("grouping_set"),
            rows.c.county_fips,
            rows.c.language,
            func.count(response).label("responded"),
            # Two percentiles of one column share one sort of each group's hours.
            func.percentile_cont(0.5).within_group(response).label("response_median"),
            func.percentile_cont(0.9).within_group(response).label("response_p90"),
            func.count().filter(response <= rows.c.target).label("within_target"),
            func.count(acceptance).label("accepted"),
            func.percentile_cont(0.5).within_group(acceptance).label("acceptance_median"),
            func.percentile_cont(0.9).within_group(acceptance).label("acceptance_p90"),
        )
        .group_by(func.grouping_sets(text("()"), rows.c.county_fips, rows.c.language))
        .subquery("figures")
    )
    return select(figures, County.name.label("county_name")).outerjoin(County, County.fips == figures.c.county_fips)


def waits_parameters(period: Period, measured_now: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The values of waits_query's parameters for ``period`` and the waits measured now."""
    return {**period_parameters(period), **bound_values_parameters("measured_now", MEASURED_COLUMNS, measured_now)}


def _group_label(row: Row) -> tuple[str, str]:
    """Which of a Breakdown's dicts a waits_query row goes in, and under which label."""
    if row.grouping_set == BY_COUNTY:
        return "by_county", (row.county_name or row.county_fips) if row.county_fips else NO_COUNTY
    return "by_language", language_label(row.language)


def _waits_on_postgresql(period: Period, measured_now: list[tuple[Any, ...]]) -> Waits:
    """A group shows a wait only if some inquiry of it had that wait; the whole always does."""
    responses = Breakdown(NO_RESPONSE, {}, {})
    acceptances = Breakdown(NO_ACCEPTANCE, {}, {})
    allow_sort_memory()
    statement = waits_query(len(measured_now))
    for row in db.session.execute(statement, waits_parameters(period, measured_now)):
        response = ResponseFigures(row.responded, row.response_median, row.response_p90, row.within_target)
        acceptance = AcceptanceFigures(row.accepted, row.acceptance_median, row.acceptance_p90)
        if row.grouping_set == OVERALL:
            responses, acceptances = replace(responses, overall=response), replace(acceptances, overall=acceptance)
            continue
        group, label = _group_label(row)
        if row.responded:
            getattr(responses, group)[label] = response
        if row.accepted:
            getattr(acceptances, group)[label] = acceptance
    return Waits(responses, acceptances)


# --- SQLite: measured here -----------------------------------------------------------------


def _response_figures(answered: list[tuple[float, float]]) -> ResponseFigures:
    """(target, hours) pairs measured with crm.reports.stats, as PostgreSQL measures them."""
    hours = [measured for _target, measured in answered]
    within = sum(1 for target, measured in answered if measured <= target)
    return ResponseFigures(len(hours), percentile(hours, 50), percentile(hours, 90), within)


def _acceptance_figures(accepted: list[tuple[float]]) -> AcceptanceFigures:
    hours = [measured for (measured,) in accepted]
    return AcceptanceFigures(len(hours), percentile(hours, 50), percentile(hours, 90)) if hours else NO_ACCEPTANCE


def _waits_in_python(period: Period, measured_now: list[tuple[Any, ...]]) -> Waits:
    rows = [*db.session.execute(stored_waits(), period_parameters(period)).all(), *measured_now]
    return Waits(
        responses=breakdown_in_python(
            [(county, language, target, hours) for county, language, target, hours, _ in rows if hours is not None],
            _response_figures,
        ),
        acceptances=breakdown_in_python(
            [(county, language, hours) for county, language, _target, _, hours in rows if hours is not None],
            _acceptance_figures,
        ),
    )


def period_waits(period: Period) -> Waits:
    """Both waits of the period's inquiries, overall, per county and per language."""
    measured_now = waits_measured_now(period)
    if on_postgresql():
        return _waits_on_postgresql(period, measured_now)
    return _waits_in_python(period, measured_now)
