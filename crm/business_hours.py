"""Business-hours clock for inquiry response targets.

Business time is the union of the half-open intervals [day_start, day_end) on
each working day of a calendar, read as wall-clock times in the calendar's
timezone. Durations are real elapsed time: on a day whose business hours
contain a DST change, the day has an hour more (clocks go back) or less
(clocks go forward) than its wall-clock length. Results are returned in UTC.

The clock is pure; ``calendar_from_config`` builds the calendar from the settings
(``SLA_TIMEZONE``, ``SLA_DAY_START_HOUR``, ``SLA_DAY_END_HOUR``) and the closed days it is
given. Which days those are for an inquiry (its organisation's holiday calendar and the
foundation's) is decided in crm.holidays.calendars, for intake, the inquiry actions, the
response-time jobs and the reports alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Two business days of eight hours.
DEFAULT_TARGET_HOURS: Final = 16

SlaState = Literal["met", "missed", "due", "overdue"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "America/Chicago"
    day_start: time = time(9)
    day_end: time = time(17)
    # Weekday numbers as in date.weekday(): Monday is 0.
    workdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Callers often pass plain sets; keep the calendar hashable and immutable anyway.
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        if self.day_start.tzinfo is not None or self.day_end.tzinfo is not None:
            raise ValueError("day_start and day_end are wall-clock times and must be naive")
        if self.day_start >= self.day_end:
            raise ValueError("day_start must be earlier than day_end")
        # Without a working weekday the clock would never advance.
        if not self.workdays or not self.workdays <= frozenset(range(7)):
            raise ValueError("workdays must be a non-empty set of weekday numbers 0-6")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays

    def opening_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC opening and closing instants of ``day``, or None when closed all day."""
        if not self.is_business_day(day):
            return None
        zone = self.zone
        opens = datetime.combine(day, self.day_start, tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, self.day_end, tzinfo=zone).astimezone(UTC)
        return opens, closes


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _days_from(day: date) -> Iterator[date]:
    while True:
        yield day
        day += timedelta(days=1)


def add_business_hours(start: datetime, hours: float, cal: BusinessCalendar | None = None) -> datetime:
    """The UTC instant ``hours`` business hours after ``start``.

    A start outside business hours (including exactly at closing time) counts
    from the next opening, so adding zero hours there gives that opening. A
    result can fall exactly on a closing time: Monday 09:00 + 8h is Monday 17:00.
    """
    cal = cal or BusinessCalendar()
    _require_aware("start", start)
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"hours must be a finite number >= 0, got {hours!r}")

    remaining = timedelta(hours=hours)
    start_utc = start.astimezone(UTC)
    for day in _days_from(start.astimezone(cal.zone).date()):
        hours_of_day = cal.opening_hours(day)
        if hours_of_day is None:
            continue
        opens, closes = hours_of_day
        begin = max(start_utc, opens)
        if begin >= closes:
            continue
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise AssertionError("unreachable: the day iterator is endless")


def business_hours_between(start: datetime, end: datetime, cal: BusinessCalendar | None = None) -> float:
    """Business hours elapsed from ``start`` to ``end``; 0.0 when ``end <= start``."""
    cal = cal or BusinessCalendar()
    _require_aware("start", start)
    _require_aware("end", end)
    if end <= start:
        return 0.0

    zone = cal.zone
    last_day = end.astimezone(zone).date()
    # Subtracting two datetimes that share a tzinfo gives wall-clock, not elapsed, time.
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta()
    for day in _days_from(start.astimezone(zone).date()):
        if day > last_day:
            break
        hours_of_day = cal.opening_hours(day)
        if hours_of_day is None:
            continue
        opens, closes = hours_of_day
        overlap = min(end_utc, closes) - max(start_utc, opens)
        if overlap > timedelta():
            total += overlap
    return total / timedelta(hours=1)


def sla_state(
    received_at: datetime,
    due_at: datetime,
    first_response_at: datetime | None,
    now: datetime,
) -> SlaState:
    """Where an inquiry stands against its response target.

    ``met``/``missed`` once it has a first response (on or before ``due_at`` is
    met); otherwise ``due`` until ``due_at`` has passed, then ``overdue``.
    """
    for name, value in (("received_at", received_at), ("due_at", due_at), ("now", now)):
        _require_aware(name, value)
    if due_at < received_at:
        raise ValueError("due_at is earlier than received_at")
    if first_response_at is not None:
        _require_aware("first_response_at", first_response_at)
        return "met" if first_response_at <= due_at else "missed"
    return "overdue" if now > due_at else "due"


def is_overdue(due_at: datetime, first_response_at: datetime | None, now: datetime) -> bool:
    """True while an inquiry still awaits its first response after ``due_at``.

    An inquiry answered late is ``missed``, not overdue: there is nothing left to chase.
    """
    _require_aware("due_at", due_at)
    _require_aware("now", now)
    return first_response_at is None and now > due_at


def parse_holidays(text: str) -> frozenset[date]:
    """Parse a config value such as ``"2026-12-25,2027-01-01"``.

    Dates are YYYY-MM-DD, separated by commas and/or whitespace; an empty value
    means no holidays.
    """
    holidays: set[date] = set()
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        if not _ISO_DATE.fullmatch(item):
            raise ValueError(f"invalid holiday date {item!r}: expected YYYY-MM-DD")
        try:
            holidays.add(date.fromisoformat(item))
        except ValueError as exc:
            raise ValueError(f"invalid holiday date {item!r}: {exc}") from exc
    return frozenset(holidays)


def calendar_from_config(config: Mapping[str, Any], holidays: Iterable[date] = ()) -> BusinessCalendar:
    """The working week and hours of the settings, closed on ``holidays``."""
    return BusinessCalendar(
        timezone=config["SLA_TIMEZONE"],
        day_start=time(config["SLA_DAY_START_HOUR"]),
        day_end=time(config["SLA_DAY_END_HOUR"]),
        holidays=frozenset(holidays),
    )
