"""Who gets a follow-up, and what /status tells a family: plain rules over plain data, tested
table-first (tests/unit/test_family_rules.py). The follow-up job's SQL (crm.family.services)
narrows the rows with the same conditions; this is the rule it is held to."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.models.inquiry_status import InquiryStatus


class NoFollowUp(enum.StrEnum):
    """Why an inquiry gets no follow-up (yet, or ever)."""

    NOT_CLOSED = "not closed"
    NOT_YET = "closed too recently"
    TOO_LATE = "closed too long ago"
    NO_EMAIL = "no email address"
    SPAM = "spam"
    ANONYMISED = "personal details removed"
    ALREADY_SENT = "a follow-up was sent already"
    OPTED_OUT = "the family opted out"


@dataclass(frozen=True)
class FollowUpFacts:
    status: InquiryStatus
    closed_at: datetime | None
    email: str
    anonymised: bool
    follow_up_sent: bool
    opted_out: bool


def follow_up_refusal(facts: FollowUpFacts, now: datetime, days: int, max_delay_days: int) -> NoFollowUp | None:
    """None when the family should be asked now whether they got help; otherwise why not.

    Due once `days` have passed since the close, and no longer once `max_delay_days` more
    have: a follow-up weeks late would puzzle the family more than it helps."""
    if facts.status is InquiryStatus.SPAM:
        return NoFollowUp.SPAM
    if facts.anonymised:
        return NoFollowUp.ANONYMISED
    if facts.follow_up_sent:
        return NoFollowUp.ALREADY_SENT
    if facts.status is not InquiryStatus.CLOSED or facts.closed_at is None:
        return NoFollowUp.NOT_CLOSED
    if not facts.email.strip():
        return NoFollowUp.NO_EMAIL
    if facts.opted_out:
        return NoFollowUp.OPTED_OUT
    due_from = facts.closed_at + timedelta(days=days)
    if now < due_from:
        return NoFollowUp.NOT_YET
    if now >= due_from + timedelta(days=max_delay_days):
        return NoFollowUp.TOO_LATE
    return None


class Answer(enum.StrEnum):
    YES = "yes"  # the family got the help they needed
    NO = "no"  # they still need help: the inquiry is reopened


class Stage(enum.StrEnum):
    """The steps /status shows, in order."""

    RECEIVED = "received"
    WITH_PARTNER = "with_partner"
    ANSWERED = "answered"
    CLOSED = "closed"


STAGES: tuple[Stage, ...] = tuple(Stage)


@dataclass(frozen=True)
class StatusFacts:
    status: InquiryStatus
    partner: str  # the organisation (or person) it is with; "" while it is with nobody
    answered: bool  # a first response was logged


@dataclass(frozen=True)
class FamilyStatus:
    reached: tuple[Stage, ...]
    partner: str

    @property
    def current(self) -> Stage:
        return self.reached[-1]


def family_status(facts: StatusFacts) -> FamilyStatus:
    """The stages a request has reached, as the family may see them. Spam is shown as received
    and nothing more (the sender is never told it was caught); a reopened request is with its
    partner again, answered or not, and no longer closed."""
    if facts.status is InquiryStatus.SPAM:
        return FamilyStatus(reached=(Stage.RECEIVED,), partner="")
    reached = [Stage.RECEIVED]
    if facts.partner:
        reached.append(Stage.WITH_PARTNER)
    if facts.answered:
        reached.append(Stage.ANSWERED)
    if facts.status is InquiryStatus.CLOSED:
        reached.append(Stage.CLOSED)
    return FamilyStatus(reached=tuple(reached), partner=facts.partner)
