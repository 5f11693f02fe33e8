"""Times are stored in UTC and shown in the display timezone (``DISPLAY_TIMEZONE``): the
conversions that pages, exports, emails and date filters share."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app


def display_timezone() -> str:
    return current_app.config["DISPLAY_TIMEZONE"]


def display_zone() -> ZoneInfo:
    return ZoneInfo(display_timezone())


def local_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(display_zone())


def local_midnight(day: date) -> datetime:
    """The instant ``day`` begins in the display timezone."""
    return datetime.combine(day, time(), tzinfo=display_zone())


def format_datetime(value: datetime | None) -> str:
    local = local_time(value)
    return local.strftime("%d %b %Y, %H:%M") if local else ""


def local_to_utc(day: date, at: time) -> datetime:
    """A wall-clock date and time in the display timezone, as an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=display_zone()).astimezone(UTC)


def local_today() -> date:
    return datetime.now(display_zone()).date()


def local_parts(moment: datetime) -> tuple[date, time]:
    """A moment as the date and minute a form's date and time inputs show."""
    local = local_time(moment)
    return local.date(), local.time().replace(second=0, microsecond=0)
