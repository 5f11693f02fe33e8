"""The report's response and loop figures measured the plain way, one inquiry at a time: the
definition the report's SQL aggregates (crm.reports.services, crm.reports.loop) are held to.

``responses`` reads every responded inquiry of a period and runs the business clock where
hours were not stored when the response was logged; ``misses`` picks, one by one, the
period's inquiries still open and unanswered past their deadline; ``breakdown_of`` measures
them together (a miss counts against the share within target). ``loop_recount`` counts the
closed loop (acceptance, passes, outcomes, the families' answers) from whole inquiries and passes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select

from crm.business_hours import DEFAULT_TARGET_HOURS, BusinessCalendar, business_hours_between
from crm.extensions import db
from crm.holidays.calendars import calendar_for
from crm.languages import LANGUAGES
from crm.models import County, Inquiry, InquiryOutcome, InquiryPass, PassReason, Topic
from crm.models.inquiry_status import InquiryStatus
from crm.reports.loop import AcceptanceFigures, Breakdown, LoopCounts, LoopFigures
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


Item = TypeVar("Item")


def grouped(items: Iterable[Item], key: Callable[[Item], str]) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


# --- the closed loop -----------------------------------------------------------------------------


def loop_recount(period: Period, now: datetime) -> LoopFigures:
    """The loop's figures (crm.reports.loop) counted one inquiry and one pass at a time.

    Every inquiry of the period is read whole, with its county's name, and every pass of
    every inquiry; the rules are written out plainly here: accepted when it has an
    accepted_at, measured from receipt by its stored hours or, without them, the business
    clock of the calendar of its organisation; not accepted when open, with a contact, neither
    accepted nor answered, and its window has passed or was stopped; an outcome counts when
    the inquiry is closed now."""
    inquiries = [
        (inquiry, county)
        for inquiry, county in db.session.execute(
            select(Inquiry, County.name).outerjoin(County, County.fips == Inquiry.county_fips)
        ).all()
        if period.starts_at <= inquiry.received_at < period.ends_before and inquiry.status is not InquiryStatus.SPAM
    ]
    passes_of: dict[int, list[InquiryPass]] = {}
    for row in db.session.scalars(select(InquiryPass)):
        passes_of.setdefault(row.inquiry_id, []).append(row)
    clocks: dict[int | None, BusinessCalendar] = {}

    def hours_to_acceptance(inquiry: Inquiry) -> float:
        if inquiry.accepted_after_hours is not None:
            return inquiry.accepted_after_hours
        if inquiry.organisation_id not in clocks:
            clocks[inquiry.organisation_id] = calendar_for(inquiry.organisation_id)
        return business_hours_between(inquiry.received_at, inquiry.accepted_at, clocks[inquiry.organisation_id])

    def counts_of(members: list[Inquiry]) -> LoopCounts:
        def count(test: Callable[[Inquiry], bool]) -> int:
            return sum(1 for inquiry in members if test(inquiry))

        def reasons(inquiry: Inquiry) -> list[PassReason]:
            return [row.reason for row in passes_of.get(inquiry.id, [])]

        return LoopCounts(
            inquiries=len(members),
            accepted=count(lambda inquiry: inquiry.accepted_at is not None),
            not_accepted=count(
                lambda inquiry: (
                    inquiry.status.is_open
                    and inquiry.assigned_contact_id is not None
                    and inquiry.accepted_at is None
                    and inquiry.first_response_at is None
                    and (inquiry.acceptance_due_at is None or inquiry.acceptance_due_at < now)
                )
            ),
            passed=count(lambda inquiry: bool(reasons(inquiry))),
            passes={reason: sum(reasons(inquiry).count(reason) for inquiry in members) for reason in PassReason},
            passed_for={
                reason: count(lambda inquiry, reason=reason: reason in reasons(inquiry)) for reason in PassReason
            },
            outcomes={
                outcome: count(
                    lambda inquiry, outcome=outcome: (
                        inquiry.status is InquiryStatus.CLOSED and inquiry.outcome is outcome
                    )
                )
                for outcome in InquiryOutcome
            },
            asked=count(lambda inquiry: inquiry.follow_up_sent_at is not None),
            answered=count(lambda inquiry: inquiry.family_answered_at is not None),
            confirmed=count(lambda inquiry: inquiry.family_confirmed is True),
            confirmed_closed=count(
                lambda inquiry: inquiry.family_confirmed is True and inquiry.status is InquiryStatus.CLOSED
            ),
        )

    def times_of(members: list[Inquiry]) -> AcceptanceFigures:
        hours = sorted(hours_to_acceptance(inquiry) for inquiry in members if inquiry.accepted_at is not None)
        if not hours:
            return AcceptanceFigures(0, None, None)
        return AcceptanceFigures(len(hours), percentile(hours, 50), percentile(hours, 90))

    everyone = [inquiry for inquiry, _county in inquiries]
    by_county = grouped(inquiries, lambda pair: pair[1] if pair[0].county_fips is not None else NO_COUNTY)
    by_language = grouped(inquiries, lambda pair: LANGUAGES.get(pair[0].language, pair[0].language))
    for name in LANGUAGES.values():  # every language has its row, inquiries or none
        by_language.setdefault(name, [])
    county_members = {label: [inquiry for inquiry, _county in pairs] for label, pairs in by_county.items()}
    language_members = {label: [inquiry for inquiry, _county in pairs] for label, pairs in by_language.items()}
    return LoopFigures(
        counts=Breakdown(
            counts_of(everyone),
            {label: counts_of(members) for label, members in county_members.items()},
            {label: counts_of(members) for label, members in language_members.items()},
        ),
        acceptance=Breakdown(
            times_of(everyone),
            {
                label: times_of(members)
                for label, members in county_members.items()
                if any(m.accepted_at for m in members)
            },
            {
                label: times_of(members)
                for label, members in language_members.items()
                if any(m.accepted_at for m in members)
            },
        ),
    )
