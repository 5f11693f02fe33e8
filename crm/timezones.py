"""Times are stored in UTC and shown in the display timezone (``DISPLAY_TIMEZONE``): the
conversions that pages, exports, emails and date filters share."""

from __future__ import annotations

from datetime import date, datetime, time
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
