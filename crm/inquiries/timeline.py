"""How the inquiry page tells an inquiry's past: the timeline, with a person's views folded
into one line, and how the inquiry came to be with whoever has it now.

Plain functions over the loaded events (oldest first); the page loads them once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crm.models import InquiryEvent, InquiryEventKind

# Views by one person within this long of the view that opened the line are one line.
VIEW_WINDOW = timedelta(hours=1)


@dataclass
class TimelineEntry:
    event: InquiryEvent
    views: int = 1  # for a line of views: how many it stands for
    last_viewed_at: datetime | None = None


def timeline(events: Sequence[InquiryEvent], *, with_views: bool) -> list[TimelineEntry]:
    """The timeline's lines. Every page load is a view, the redirect after each action too, so
    one line per view would bury the work; the access log still lists every one."""
    entries: list[TimelineEntry] = []
    open_lines: dict[int | None, TimelineEntry] = {}  # each viewer's latest line of views
    for event in events:
        if event.kind is InquiryEventKind.VIEWED:
            if not with_views:
                continue
            line = open_lines.get(event.actor_id)
            if line is not None and event.occurred_at - line.event.occurred_at < VIEW_WINDOW:
                line.views += 1
                line.last_viewed_at = event.occurred_at
                continue
            line = open_lines[event.actor_id] = TimelineEntry(event)
            entries.append(line)
        else:
            entries.append(TimelineEntry(event))
    return entries


@dataclass(frozen=True)
class Handover:
    """An assignment by hand after the routing: to whom, by whom and when."""

    contact_id: int | None
    by: str
    at: datetime
    reassigned: bool


@dataclass(frozen=True)
class RoutingStory:
    routed_to_id: int | None  # None when it was never routed to anyone
    routed_at: datetime | None
    reason: str
    handovers: list[Handover] = field(default_factory=list)

    def contact_ids(self) -> set[int]:
        ids = {handover.contact_id for handover in self.handovers} | {self.routed_to_id}
        return {contact_id for contact_id in ids if contact_id is not None}


def routing_story(events: Sequence[InquiryEvent]) -> RoutingStory:
    """Why it went where it went (the latest routing: recovered spam is routed again) and every
    assignment since, so the original reason reads as history once someone else has it."""
    story = RoutingStory(routed_to_id=None, routed_at=None, reason="")
    for event in events:
        if event.kind is InquiryEventKind.ROUTED:
            story = RoutingStory(
                routed_to_id=event.data.get("contact_id"), routed_at=event.occurred_at, reason=event.detail
            )
        elif event.kind is InquiryEventKind.ASSIGNED:
            story.handovers.append(
                Handover(
                    contact_id=event.data.get("to_contact_id"),
                    by=event.actor.name if event.actor else "someone no longer on record",
                    at=event.occurred_at,
                    reassigned=event.data.get("from_contact_id") is not None,
                )
            )
    return story
