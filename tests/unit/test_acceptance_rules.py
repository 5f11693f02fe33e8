"""Accept or pass: who may, when, and what a pass must say (crm.inquiries.acceptance)."""

from datetime import UTC, datetime

import pytest

from crm.inquiries.acceptance import accept_refusal, link_refusal, may_decide, pass_problem, pass_refusal
from crm.models.user import Role

NOW = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
OURS, THEIRS = 1, 2
NORA, NED = 10, 11


@pytest.mark.parametrize(
    ("role", "user_organisation", "inquiry_organisation", "allowed"),
    [
        (Role.ADMIN, None, OURS, True),
        (Role.MANAGER, None, OURS, True),
        (Role.STAFF, None, OURS, True),
        (Role.STAFF, None, None, True),
        # A partner user (the assigned contact's own, or a colleague): their organisation only.
        (Role.PARTNER, OURS, OURS, True),
        (Role.PARTNER, OURS, THEIRS, False),
        (Role.PARTNER, OURS, None, False),
        (Role.PARTNER, None, None, False),
        (None, None, OURS, False),
    ],
)
def test_who_may_accept_or_pass(role, user_organisation, inquiry_organisation, allowed) -> None:
    assert may_decide(role, user_organisation, inquiry_organisation) is allowed


@pytest.mark.parametrize(
    ("is_open", "assigned", "accepted_at", "refusal"),
    [
        (True, NORA, None, None),
        (True, NORA, NOW, "already been accepted"),
        (True, None, None, "not with anyone yet"),
        (False, NORA, None, "not open"),
    ],
)
def test_when_an_inquiry_can_be_accepted(is_open, assigned, accepted_at, refusal) -> None:
    found = accept_refusal(is_open=is_open, assigned_contact_id=assigned, accepted_at=accepted_at)
    assert (found is None) if refusal is None else (refusal in found)


@pytest.mark.parametrize(
    ("is_open", "assigned", "left_after_passing", "refusal"),
    [
        (True, NORA, False, None),
        (True, None, False, "nobody to pass it on from"),
        (False, NORA, False, "reopen it"),
        (True, NORA, True, "assign it by hand"),
    ],
)
def test_when_an_inquiry_can_be_passed(is_open, assigned, left_after_passing, refusal) -> None:
    found = pass_refusal(is_open=is_open, assigned_contact_id=assigned, left_after_passing=left_after_passing)
    assert (found is None) if refusal is None else (refusal in found)


@pytest.mark.parametrize(
    ("reason", "note", "problem"),
    [
        ("not_our_area", "", None),
        ("not_a_service", "", None),
        ("no_capacity", "", None),
        ("language", "We have no Spanish speaker this month.", None),
        ("other", "Conflict of interest: a relative.", None),
        ("other", "", "required with “Other”"),
        ("other", "   ", "required with “Other”"),
        # The job's reason is not for people to choose.
        ("not_accepted_in_time", "", "Choose a reason"),
        ("", "", "Choose a reason"),
        (None, "", "Choose a reason"),
        ("busy", "", "Choose a reason"),
        ("no_capacity", "x" * 1001, "1000 characters"),
    ],
)
def test_what_a_pass_must_say(reason, note, problem) -> None:
    found = pass_problem(reason, note)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(
    ("link_contact", "assigned", "accepted_at", "is_open", "refusal"),
    [
        (NORA, NORA, None, True, None),
        # Used: accepted (by the link or the button).
        (NORA, NORA, NOW, True, "already been accepted"),
        # Passed on, moved on by the timer or reassigned: the link was for someone else's turn.
        (NORA, NED, None, True, "moved on to someone else"),
        (NORA, NED, NOW, True, "moved on to someone else"),
        (NORA, None, None, True, "moved on to someone else"),
        (NORA, NORA, None, False, "not open"),
    ],
)
def test_when_a_notice_link_still_works(link_contact, assigned, accepted_at, is_open, refusal) -> None:
    found = link_refusal(link_contact_id=link_contact, assigned_contact_id=assigned, accepted_at=accepted_at, is_open=is_open)
    assert (found is None) if refusal is None else (refusal in found)
