"""Which days an inquiry's response clock skips, and the rules for filling a calendar.

An inquiry's clock runs on the business calendar of the organisation it is with: the working
week and hours of the settings, closed on the foundation calendar's holidays and on those of
the organisation's own calendar, if it keeps one. An inquiry with no organisation (not routed
yet) follows the foundation calendar alone.

The rules are plain functions over plain data (``closed_days``, ``days_to_close``,
``years_to_load``, ``days_to_add``); the database is read only by ``calendar_for``,
``calendars_for`` and ``widest_calendar``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Final

from flask import current_app
from sqlalchemy import select

from crm.business_hours import DEFAULT_TARGET_HOURS, BusinessCalendar, add_business_hours, calendar_from_config
from crm.extensions import db
from crm.models import Holiday, HolidayCalendar, Inquiry
from crm.reference_cache import cached

# A range added in one go ("closed the week of Christmas") spans at most this many days: a
# longer one is more likely a typo in the year than a closure.
MAX_RANGE_DAYS: Final = 62
# The foundation calendar holds the US federal holidays of this year and the next four.
YEARS_AHEAD: Final = 5


class BadRange(ValueError):
    """A first and last day that make no range of days to close."""


# --- rules ---------------------------------------------------------------------------------


def closed_days(foundation: Iterable[date], own: Iterable[date] = ()) -> frozenset[date]:
    """The days an organisation is closed: the foundation's holidays and its own."""
    return frozenset(foundation) | frozenset(own)


def days_to_close(first: date, last: date | None, workdays: Iterable[int] = range(5)) -> list[date]:
    """The days to add for a closure from ``first`` to ``last`` (both included).

    One day is added as given, whatever the weekday. A range skips the days that are not
    working days anyway (weekends), which the clock never counts.
    """
    if last is None or last == first:
        return [first]
    if last < first:
        raise BadRange("The last day is before the first day.")
    length = (last - first).days + 1
    if length > MAX_RANGE_DAYS:
        raise BadRange(f"Close at most {MAX_RANGE_DAYS} days at a time.")
    working = frozenset(workdays)
    days = [first + timedelta(days=offset) for offset in range(length)]
    return [day for day in days if day.weekday() in working]


def years_to_load(loaded_through: int | None, this_year: int, years_ahead: int = YEARS_AHEAD) -> range:
    """The years whose federal holidays still need loading: this year and the next ones up to
    ``years_ahead`` in all, less those loaded already (never a past year)."""
    last = this_year + years_ahead - 1
    first = this_year if loaded_through is None else max(loaded_through + 1, this_year)
    return range(first, last + 1)


def days_to_add(existing: Iterable[date], candidates: Iterable[tuple[date, str]]) -> list[tuple[date, str]]:
    """The candidate (day, name) pairs whose day the calendar does not hold yet, in day order,
    each day once (the first name given for it wins)."""
    taken = set(existing)
    added: list[tuple[date, str]] = []
    for day, name in sorted(candidates, key=lambda pair: pair[0]):
        if day not in taken:
            taken.add(day)
            added.append((day, name))
    return added


def federal_holidays(years: Iterable[int]) -> list[tuple[date, str]]:
    """US federal holidays of ``years`` as (day, name), observed days included (a holiday on a
    Saturday is observed on the Friday before, on a Sunday the Monday after)."""
    import holidays

    years = list(years)
    if not years:
        return []
    return sorted(holidays.country_holidays("US", years=years).items())


# --- the database edge ---------------------------------------------------------------------


def _working_week(days: Iterable[date]) -> BusinessCalendar:
    return calendar_from_config(current_app.config, days)


def calendar_for(organisation_id: int | None) -> BusinessCalendar:
    """The business calendar of an organisation (None: the foundation's alone)."""
    return calendars_for([organisation_id])[organisation_id]


def calendars_for(organisation_ids: Iterable[int | None]) -> dict[int | None, BusinessCalendar]:
    """The business calendars of several organisations."""
    foundation, own = closed_days_by_calendar()
    return {
        organisation_id: _working_week(closed_days(foundation, own.get(organisation_id, ())))
        for organisation_id in set(organisation_ids)
    }


def _load_closed_days() -> tuple[frozenset[date], dict[int, frozenset[date]]]:
    rows = db.session.execute(
        select(Holiday.day, HolidayCalendar.organisation_id, HolidayCalendar.is_foundation).join(
            HolidayCalendar, Holiday.calendar_id == HolidayCalendar.id
        )
    ).all()
    own: dict[int, set[date]] = {}
    for day, organisation_id, is_foundation in rows:
        if not is_foundation and organisation_id is not None:
            own.setdefault(organisation_id, set()).add(day)
    foundation = frozenset(day for day, _organisation_id, is_foundation in rows if is_foundation)
    return foundation, {organisation_id: frozenset(days) for organisation_id, days in own.items()}


def closed_days_by_calendar() -> tuple[frozenset[date], dict[int, frozenset[date]]]:
    """The foundation calendar's days, and each organisation's own calendar's days (kept for
    a while: crm.reference_cache)."""
    return cached("holidays", _load_closed_days)


def widest_calendar() -> BusinessCalendar:
    """Closed on every day of every calendar: its clock runs no faster than any organisation's,
    so a deadline it puts out of reach is out of reach everywhere."""
    return _working_week(db.session.scalars(select(Holiday.day).distinct()))


def target_hours(inquiry: Inquiry) -> int:
    return inquiry.topic.response_target_hours if inquiry.topic else DEFAULT_TARGET_HOURS


def due_at(inquiry: Inquiry, calendar: BusinessCalendar | None = None) -> datetime:
    """When the inquiry's first response is due: its topic's target in business hours from
    receipt, by the calendar of the organisation it is with."""
    if calendar is None:
        calendar = calendar_for(inquiry.organisation_id)
    return add_business_hours(inquiry.received_at, target_hours(inquiry), calendar)
