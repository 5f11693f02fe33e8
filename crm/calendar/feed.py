"""A calendar feed as iCalendar text, from plain entries: the rule of what goes in, kept apart
from where the entries come from (crm.calendar.services)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

PRODUCT_ID = "-//Backbone CRM//Calendar feed//EN"
# Calendar apps poll a subscribed feed on their own schedule; this asks for hourly at most.
REFRESH = timedelta(hours=1)


@dataclass(frozen=True)
class Entry:
    """One all-day event. ``uid`` must stay the same for the same thing across fetches, so a
    calendar app moves the event when its date changes instead of showing it twice."""

    uid: str
    day: date
    summary: str
    url: str
    description: str = ""


def calendar_bytes(name: str, uid: str, entries: Iterable[Entry], stamp: datetime) -> bytes:
    """The feed: a VCALENDAR of all-day VEVENTs (a date, no time: DTEND is the next day, as
    RFC 5545 says for one-day events), free time, so they never block a day in a scheduler."""
    from icalendar import Calendar, Event, vDuration, vText  # only feeds need it: kept out of other requests

    # icalendar writes a plain str given as NAME (and X-WR-CALNAME) as it is; both are TEXT
    # (RFC 7986 5.1), so a comma or semicolon in a user's name must go in escaped, as vText does.
    calendar = Calendar.new(prodid=PRODUCT_ID, uid=uid, name=vText(name))
    # RFC 7986 5.7 requires the VALUE=DURATION parameter, which icalendar's refresh_interval leaves out.
    calendar.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))  # Outlook's name for the refresh interval
    for entry in entries:
        event = Event.new(
            uid=entry.uid,
            start=entry.day,
            end=entry.day + timedelta(days=1),
            stamp=stamp,
            summary=entry.summary,
            description=entry.description or None,
            url=entry.url,
        )
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()
