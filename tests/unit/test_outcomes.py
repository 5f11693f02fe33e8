"""The rules of a close's outcome and of an attempt's time (crm.inquiries.outcomes), table-first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.inquiries.outcomes import (
    NO_ATTEMPTS,
    NO_ORGANISATION,
    attempt_time_problem,
    describe_outcome,
    outcome_problems,
)
from crm.models.inquiry import InquiryOutcome as O

ORG = 7
# (outcome, detail, organisation id, attempts logged) -> the fields refused
CASES = [
    (None, "", None, 0, {"outcome"}),
    (O.CONNECTED, "", None, 0, {"detail"}),
    (O.CONNECTED, "WIC, Kennett office", None, 0, set()),
    (O.CONNECTED, "", ORG, 0, set()),
    (O.CONNECTED, "Doula program", ORG, 0, set()),
    (O.REFERRED, "", None, 3, {"detail"}),
    (O.REFERRED, "County health department", None, 0, set()),
    (O.REFERRED, "", ORG, 0, set()),
    (O.UNREACHABLE, "", None, 0, {"outcome"}),
    (O.UNREACHABLE, "", None, 1, set()),
    (O.UNREACHABLE, "Number disconnected", None, 4, set()),
    (O.UNREACHABLE, "", ORG, 2, {"organisation"}),
    (O.NOT_NEEDED, "", None, 0, set()),
    (O.NOT_NEEDED, "", ORG, 0, {"organisation"}),
    (O.OUT_OF_AREA, "", None, 0, set()),
    (O.OUT_OF_AREA, "Moved to Arkansas", ORG, 0, {"organisation"}),
    (O.OTHER, "", None, 0, {"detail"}),
    (O.OTHER, "Duplicate of another request", None, 0, set()),
    (O.OTHER, "", ORG, 0, {"detail", "organisation"}),
    (O.OTHER, "x" * 501, None, 0, {"detail"}),
]


@pytest.mark.parametrize(("outcome", "detail", "organisation_id", "attempts", "refused"), CASES)
def test_outcome_rules(outcome, detail, organisation_id, attempts, refused):
    assert set(outcome_problems(outcome, detail, organisation_id, attempts)) == refused


def test_every_outcome_is_in_the_table():
    assert {case[0] for case in CASES} - {None} == set(O)


def test_the_messages_say_what_to_do():
    assert outcome_problems(O.UNREACHABLE, "", None, 0) == {"outcome": NO_ATTEMPTS}
    assert outcome_problems(O.NOT_NEEDED, "", ORG, 0) == {"organisation": NO_ORGANISATION}
    assert "to whom" in outcome_problems(O.REFERRED, "", None, 0)["detail"]


@pytest.mark.parametrize(
    ("outcome", "detail", "organisation", "said"),
    [
        (O.CONNECTED, "doulas", "North Families", "Connected to a service: North Families, doulas"),
        (O.CONNECTED, "", "North Families", "Connected to a service: North Families"),
        (O.REFERRED, "WIC", None, "Referred elsewhere: WIC"),
        (O.NOT_NEEDED, "", None, "No longer needed"),
    ],
)
def test_describe_outcome(outcome, detail, organisation, said):
    assert describe_outcome(outcome, detail, organisation) == said


RECEIVED = datetime(2026, 3, 9, 15, 0, 42, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 9, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempted_at", "problem"),
    [
        (RECEIVED, None),
        (RECEIVED.replace(second=0), None),  # the form gives minutes: the minute it arrived in counts
        (RECEIVED.replace(second=0) - timedelta(minutes=1), "before the inquiry arrived"),
        (RECEIVED - timedelta(days=400), "before the inquiry arrived"),
        (NOW, None),
        (NOW - timedelta(hours=2), None),
        (NOW + timedelta(minutes=1), "in the future"),
        (NOW + timedelta(days=1), "in the future"),
    ],
)
def test_attempt_time(attempted_at, problem):
    found = attempt_time_problem(attempted_at, RECEIVED, NOW)
    assert (found is None) if problem is None else (problem in found)
