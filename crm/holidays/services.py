"""What managers change in holiday calendars, and the foundation calendar's seeding.

Each change is one unit of work, committed once with its audit trail. A change of closed days
also moves the deadlines of the open inquiries it concerns, in the same commit: the day before
a new holiday an inquiry's "due tomorrow" becomes "due the day after".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm import audit
from crm.extensions import db
from crm.holidays import calendars
from crm.models import Holiday, HolidayCalendar, Inquiry, Organisation, User
from crm.models.inquiry import awaiting_response_clause

FOUNDATION_CALENDAR_NAME = "Foundation holidays"
SETTING_HOLIDAY_NAME = "Closed (SLA_HOLIDAYS setting)"


class CalendarRefused(ValueError):
    """A change the calendars cannot take; the message says why, for the person."""


# --- reading -------------------------------------------------------------------------------


def foundation_calendar() -> HolidayCalendar | None:
    return db.session.scalar(select(HolidayCalendar).where(HolidayCalendar.is_foundation.is_(True)))


def all_calendars() -> list[HolidayCalendar]:
    """The foundation's first, then the organisations' by name."""
    return list(
        db.session.scalars(
            select(HolidayCalendar)
            .outerjoin(Organisation, Organisation.id == HolidayCalendar.organisation_id)
            .options(selectinload(HolidayCalendar.organisation))
            .order_by(HolidayCalendar.is_foundation.desc(), Organisation.name, HolidayCalendar.id)
        )
    )


def organisations_without_calendar() -> list[tuple[int, str]]:
    has_one = select(HolidayCalendar.organisation_id).where(HolidayCalendar.organisation_id.is_not(None))
    return [
        (organisation.id, organisation.name)
        for organisation in db.session.scalars(
            select(Organisation)
            .where(Organisation.id.not_in(has_one), Organisation.merged_into_id.is_(None))
            .order_by(Organisation.name, Organisation.id)
        )
    ]


def calendar_of(organisation_id: int) -> HolidayCalendar | None:
    return db.session.scalar(select(HolidayCalendar).where(HolidayCalendar.organisation_id == organisation_id))


def _calendar_days(calendar: HolidayCalendar) -> set[date]:
    return set(db.session.scalars(select(Holiday.day).where(Holiday.calendar_id == calendar.id)))


# --- deadlines that move with the closed days ----------------------------------------------


def _move_deadlines(calendar: HolidayCalendar, days: Iterable[date]) -> int:
    """Recompute the deadline of every open inquiry awaiting its first response whose clock
    could have run over one of ``days``, by the calendar it follows; returns how many moved."""
    days = set(days)
    if not days:
        return 0
    # A day a few hours either side in UTC: the clock's zone is never a day away from UTC, and
    # looking at a few more inquiries than needed changes nothing (their deadline stays).
    earliest = datetime.combine(min(days) - timedelta(days=1), time(), tzinfo=UTC)
    latest = datetime.combine(max(days) + timedelta(days=2), time(), tzinfo=UTC)
    query = select(Inquiry).where(
        awaiting_response_clause(),
        Inquiry.due_at.is_not(None),
        Inquiry.received_at < latest,
        Inquiry.due_at >= earliest,
    )
    if not calendar.is_foundation:
        query = query.where(Inquiry.organisation_id == calendar.organisation_id)
    inquiries = list(db.session.scalars(query.options(selectinload(Inquiry.topic))))
    by_organisation = calendars.calendars_for({inquiry.organisation_id for inquiry in inquiries})
    moved = 0
    for inquiry in inquiries:
        due = calendars.due_at(inquiry, by_organisation[inquiry.organisation_id])
        if due != inquiry.due_at:
            inquiry.due_at = due
            moved += 1
    return moved


# --- the foundation calendar's seed ---------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    created: bool
    years: range
    added: int


def seed_foundation_calendar(today: date, setting_days: Iterable[date] = ()) -> Seeded:
    """Make sure the foundation calendar exists and holds the US federal holidays of this year
    and the next four; safe to run again.

    The federal holidays of a year are loaded once (``federal_holidays_through``), so a day a
    manager removed stays removed. ``setting_days`` (the SLA_HOLIDAYS setting) are added
    whenever missing: to remove one for good, take it out of the setting too.
    """
    calendar = foundation_calendar()
    created = calendar is None
    if calendar is None:
        calendar = HolidayCalendar(name=FOUNDATION_CALENDAR_NAME, is_foundation=True)
        db.session.add(calendar)
        db.session.flush()
    years = calendars.years_to_load(calendar.federal_holidays_through, today.year)
    candidates = calendars.federal_holidays(years) + [(day, SETTING_HOLIDAY_NAME) for day in setting_days]
    added = calendars.days_to_add(_calendar_days(calendar), candidates)
    db.session.add_all(Holiday(calendar=calendar, day=day, name=name) for day, name in added)
    if years:
        calendar.federal_holidays_through = years[-1]
    db.session.flush()
    _move_deadlines(calendar, [day for day, _name in added])
    audit.commit(actor=None)
    return Seeded(created=created, years=years, added=len(added))


# --- calendars -----------------------------------------------------------------------------


def create_calendar(organisation_id: int, name: str, actor: User) -> HolidayCalendar:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise CalendarRefused("That organisation no longer exists; pick another.")
    if calendar_of(organisation_id) is not None:
        raise CalendarRefused(f"{organisation.name} already has a holiday calendar.")
    calendar = HolidayCalendar(name=name or f"{organisation.name} holidays", organisation=organisation)
    db.session.add(calendar)
    audit.commit(actor)
    return calendar


def rename_calendar(calendar: HolidayCalendar, name: str, actor: User) -> None:
    calendar.name = name
    audit.commit(actor)


def delete_calendar(calendar: HolidayCalendar, actor: User) -> None:
    if calendar.is_foundation:
        raise CalendarRefused("The foundation calendar cannot be deleted; remove its holidays one by one instead.")
    days = [holiday.day for holiday in calendar.holidays]
    db.session.delete(calendar)
    db.session.flush()
    _move_deadlines(calendar, days)
    audit.commit(actor)


# --- holidays ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    added: list[date]
    already_closed: list[date]


def add_holidays(calendar: HolidayCalendar, days: list[date], name: str, actor: User) -> Added:
    """Close ``days`` (see calendars.days_to_close) under one name; days already in the calendar
    keep their own name."""
    existing = _calendar_days(calendar)
    added = [day for day in days if day not in existing]
    db.session.add_all(Holiday(calendar=calendar, day=day, name=name) for day in added)
    db.session.flush()
    _move_deadlines(calendar, added)
    audit.commit(actor)
    return Added(added=added, already_closed=[day for day in days if day in existing])


def update_holiday(holiday: Holiday, day: date, name: str, actor: User) -> None:
    clash = db.session.scalar(
        select(Holiday.id).where(Holiday.calendar_id == holiday.calendar_id, Holiday.day == day, Holiday.id != holiday.id)
    )
    if clash is not None:
        raise CalendarRefused("This calendar already has a holiday on that day.")
    before = holiday.day
    holiday.day = day
    holiday.name = name
    db.session.flush()
    _move_deadlines(holiday.calendar, {before, day})
    audit.commit(actor)


def delete_holiday(holiday: Holiday, actor: User) -> None:
    calendar, day = holiday.calendar, holiday.day
    # Taken out of the calendar's list too (delete-orphan deletes it), so pages and callers
    # holding the calendar see it gone.
    calendar.holidays.remove(holiday)
    db.session.flush()
    _move_deadlines(calendar, [day])
    audit.commit(actor)
