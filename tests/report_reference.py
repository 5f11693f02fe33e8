"""The report's response figures measured the plain way, one inquiry at a time: the
definition the report's SQL aggregates (crm.reports.services) are held to.

``responses`` reads every responded inquiry of a period and runs the business clock where
hours were not stored when the response was logged; ``misses`` picks, one by one, the
period's inquiries still open and unanswered past their deadline; ``breakdown_of`` measures
them together (a miss counts against the share within target).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select

from crm.business_hours import DEFAULT_TARGET_HOURS, BusinessCalendar
from crm.extensions import db
from crm.holidays.calendars import calendar_for
from crm.languages import LANGUAGES
from crm.models import County, Inquiry, Topic
from crm.models.inquiry_status import InquiryStatus
from crm.reports.services import NO_COUNTY, Period, ResponseBreakdown, ResponseFigures
from crm.reports.stats import percentile


def in_period(period: Period) -> list[ColumnElement[bool]]:
    """Received in the period, and not spam."""
    return [
        Inquiry.received_at >= period.starts_at,
        Inquiry.received_at < period.ends_before,
        Inquiry.status != InquiryStatus.SPAM,
    ]


class BusinessClock:
    """Business hours between many pairs of instants.

    Gives what ``crm.business_hours.business_hours_between`` gives, but lays the calendar's
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
class Miss:
    """One inquiry still open and unanswered past its deadline."""

    county: str
    language: str


def misses(period: Period, now: datetime) -> list[Miss]:
    """Every inquiry of the period read, and kept here when it is open, has no first response
    and its deadline has passed."""
    rows = db.session.execute(
        select(Inquiry.status, Inquiry.first_response_at, Inquiry.due_at, County.name, Inquiry.language)
        .select_from(Inquiry)
        .outerjoin(County, County.fips == Inquiry.county_fips)
        .where(*in_period(period))
    ).all()
    return [
        Miss(county=county if county is not None else NO_COUNTY, language=LANGUAGES.get(language, language))
        for status, responded, due, county, language in rows
        if InquiryStatus(status).is_open and responded is None and due is not None and due < now
    ]


def figures_of(responses: Sequence[Response], missed: Sequence[Miss] = ()) -> ResponseFigures:
    if not responses:
        return ResponseFigures(0, None, None, 0, len(missed))
    hours = sorted(response.hours for response in responses)
    within = sum(1 for response in responses if response.within_target)
    return ResponseFigures(len(responses), percentile(hours, 50), percentile(hours, 90), within, len(missed))


def responses(period: Period, calendar: BusinessCalendar | None = None) -> list[Response]:
    """Every inquiry received in the period that has a first response, with its business hours.

    Only five columns come back, and the clock needs no query of its own.
    """
    calendar = calendar or calendar_for(None)
    target = func.coalesce(Topic.response_target_hours, DEFAULT_TARGET_HOURS)
    rows = db.session.execute(
        select(
            Inquiry.received_at,
            Inquiry.first_response_at,
            target,
            County.name,
            Inquiry.language,
            Inquiry.first_response_hours,
        )
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
            hours=stored if stored is not None else clock.hours_between(received, responded),
            target_hours=float(target_hours),
            county=county if county is not None else NO_COUNTY,
            language=LANGUAGES.get(language, language),
        )
        for received, responded, target_hours, county, language, stored in rows
    ]


def breakdown_of(measured: Sequence[Response], missed: Sequence[Miss] = ()) -> ResponseBreakdown:
    def by(key: Callable[[Any], str]) -> dict[str, ResponseFigures]:
        answered, unanswered = grouped(measured, key), grouped(missed, key)
        return {label: figures_of(answered.get(label, []), unanswered.get(label, [])) for label in answered.keys() | unanswered.keys()}

    return ResponseBreakdown(
        overall=figures_of(measured, missed),
        by_county=by(lambda item: item.county),
        by_language=by(lambda item: item.language),
    )


Item = TypeVar("Item", Response, Miss)


def grouped(items: Iterable[Item], key: Callable[[Item], str]) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups
