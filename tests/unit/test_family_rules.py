"""Who gets a follow-up and what /status shows: crm.family.rules, table-first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crm.family.rules import (
    FamilyStatus,
    FollowUpFacts,
    NoFollowUp,
    Stage,
    StatusFacts,
    family_status,
    follow_up_refusal,
)
from crm.models.inquiry_status import InquiryStatus

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
DAYS, MAX_DELAY = 5, 14
CLOSED_6_DAYS_AGO = FollowUpFacts(
    status=InquiryStatus.CLOSED,
    closed_at=NOW - timedelta(days=6),
    email="family@example.net",
    anonymised=False,
    follow_up_sent=False,
    opted_out=False,
)

FOLLOW_UP_CASES = [
    # (why the row is here, the facts, the answer)
    ("closed six days ago, with an address", {}, None),
    ("closed exactly five days ago", {"closed_at": NOW - timedelta(days=DAYS)}, None),
    ("closed a second short of five days ago", {"closed_at": NOW - timedelta(days=DAYS) + timedelta(seconds=1)}, NoFollowUp.NOT_YET),
    ("closed today", {"closed_at": NOW}, NoFollowUp.NOT_YET),
    ("the last moment of the window", {"closed_at": NOW - timedelta(days=DAYS + MAX_DELAY) + timedelta(seconds=1)}, None),
    ("the window is over", {"closed_at": NOW - timedelta(days=DAYS + MAX_DELAY)}, NoFollowUp.TOO_LATE),
    ("closed a year ago", {"closed_at": NOW - timedelta(days=365)}, NoFollowUp.TOO_LATE),
    ("responded, not closed", {"status": InquiryStatus.RESPONDED}, NoFollowUp.NOT_CLOSED),
    ("reopened by staff", {"status": InquiryStatus.IN_PROGRESS, "closed_at": None}, NoFollowUp.NOT_CLOSED),
    ("closed without a close time", {"closed_at": None}, NoFollowUp.NOT_CLOSED),
    ("spam", {"status": InquiryStatus.SPAM}, NoFollowUp.SPAM),
    ("no email address (a phone-only request)", {"email": ""}, NoFollowUp.NO_EMAIL),
    ("an address of blanks", {"email": "   "}, NoFollowUp.NO_EMAIL),
    ("purged", {"anonymised": True, "email": ""}, NoFollowUp.ANONYMISED),
    ("followed up already", {"follow_up_sent": True}, NoFollowUp.ALREADY_SENT),
    ("the family opted out", {"opted_out": True}, NoFollowUp.OPTED_OUT),
    ("opted out and too recent: opting out is the lasting reason", {"opted_out": True, "closed_at": NOW}, NoFollowUp.OPTED_OUT),
]


@pytest.mark.parametrize(("changes", "expected"), [case[1:] for case in FOLLOW_UP_CASES], ids=[case[0] for case in FOLLOW_UP_CASES])
def test_who_gets_a_follow_up(changes: dict, expected: NoFollowUp | None) -> None:
    assert follow_up_refusal(replace(CLOSED_6_DAYS_AGO, **changes), NOW, DAYS, MAX_DELAY) is expected


def test_the_days_are_configurable() -> None:
    assert follow_up_refusal(CLOSED_6_DAYS_AGO, NOW, 7, MAX_DELAY) is NoFollowUp.NOT_YET
    assert follow_up_refusal(CLOSED_6_DAYS_AGO, NOW, 1, 4) is NoFollowUp.TOO_LATE


R, P, A, C = Stage.RECEIVED, Stage.WITH_PARTNER, Stage.ANSWERED, Stage.CLOSED
STATUS_CASES = [
    # (status, partner, answered, stages reached, partner shown)
    (InquiryStatus.NEW, "", False, (R,), ""),
    (InquiryStatus.ASSIGNED, "North Families", False, (R, P), "North Families"),
    (InquiryStatus.IN_PROGRESS, "North Families", False, (R, P), "North Families"),
    (InquiryStatus.RESPONDED, "North Families", True, (R, P, A), "North Families"),
    (InquiryStatus.CLOSED, "North Families", True, (R, P, A, C), "North Families"),
    # reopened by the family: with the partner again, no longer closed
    (InquiryStatus.IN_PROGRESS, "North Families", True, (R, P, A), "North Families"),
    # spam looks received, and names nobody
    (InquiryStatus.SPAM, "North Families", False, (R,), ""),
]


@pytest.mark.parametrize(("status", "partner", "answered", "reached", "shown"), STATUS_CASES)
def test_what_status_shows(status, partner, answered, reached, shown) -> None:
    result = family_status(StatusFacts(status=status, partner=partner, answered=answered))
    assert result == FamilyStatus(reached=reached, partner=shown)
    assert result.current is reached[-1]
