"""The response clock, as lists and the inquiry page show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.business_hours import is_overdue, sla_state
from crm.models import Inquiry
from crm.models.inquiry_status import InquiryStatus


@dataclass(frozen=True)
class DueLabel:
    text: str
    overdue: bool = False


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


def due_label(inquiry: Inquiry, now: datetime) -> DueLabel:
    """How the response clock stands, as lists show it: "due in 3 h", "overdue by 2 h",
    "answered on time"; empty when no clock runs (spam, or never routed)."""
    if inquiry.due_at is None or inquiry.status is InquiryStatus.SPAM:
        return DueLabel("")
    try:
        state = sla_state(inquiry.received_at, inquiry.due_at, inquiry.first_response_at, now)
    except ValueError:
        return DueLabel("")
    if state == "met":
        return DueLabel("answered on time")
    if state == "missed":
        return DueLabel("answered late")
    if inquiry.status.is_open and is_overdue(inquiry.due_at, inquiry.first_response_at, now):
        return DueLabel(f"overdue by {_span(now - inquiry.due_at)}", overdue=True)
    if state == "overdue":
        return DueLabel("no response recorded")
    return DueLabel(f"due in {_span(inquiry.due_at - now)}")
