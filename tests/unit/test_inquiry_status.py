import pytest

from crm.models.inquiry_status import (
    ALLOWED,
    OPEN_STATUSES,
    IllegalTransition,
    InquiryStatus,
    allowed_moves,
    can_move,
    check_move,
    status_after_assignment,
)

S = InquiryStatus

# Rows are the current status, columns the target, in this order:
#                 new  assigned  in_progress  responded  closed  spam
ORDER = [S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.RESPONDED, S.CLOSED, S.SPAM]
EXPECTED = {
    S.NEW: [0, 1, 0, 0, 0, 1],
    S.ASSIGNED: [0, 0, 1, 1, 0, 1],
    S.IN_PROGRESS: [0, 0, 0, 1, 0, 1],
    S.RESPONDED: [0, 0, 0, 0, 1, 1],
    S.CLOSED: [0, 0, 1, 0, 0, 0],
    S.SPAM: [1, 0, 0, 0, 0, 0],
}
PAIRS = [
    (current, target, bool(flag))
    for current, flags in EXPECTED.items()
    for target, flag in zip(ORDER, flags, strict=True)
]


def test_expected_table_covers_every_pair():
    assert set(ORDER) == set(InquiryStatus)
    assert len(PAIRS) == 36


@pytest.mark.parametrize(("current", "target", "allowed"), PAIRS)
def test_transition_table(current, target, allowed):
    assert can_move(current, target) is allowed
    assert (target in ALLOWED[current]) is allowed
    assert (target in allowed_moves(current)) is allowed
    if allowed:
        check_move(current, target)
    else:
        with pytest.raises(IllegalTransition) as excinfo:
            check_move(current, target)
        assert excinfo.value.current is current
        assert excinfo.value.target is target


def test_is_a_string_enum():
    assert isinstance(S.NEW, str)
    assert S.NEW == "new"


def test_values_and_labels():
    assert [status.value for status in InquiryStatus] == [
        "new",
        "assigned",
        "in_progress",
        "responded",
        "closed",
        "spam",
    ]
    assert [status.label for status in InquiryStatus] == [
        "New",
        "Assigned",
        "In progress",
        "Responded",
        "Closed",
        "Spam",
    ]
    assert InquiryStatus("in_progress") is S.IN_PROGRESS
    assert str(S.IN_PROGRESS) == "in_progress"
    assert f"{S.CLOSED}" == "closed"


def test_illegal_transition_message_uses_labels():
    with pytest.raises(IllegalTransition, match=r"^cannot move an inquiry from Closed to Responded$"):
        check_move(S.CLOSED, S.RESPONDED)


def test_illegal_transition_is_a_value_error():
    with pytest.raises(ValueError, match="from In progress to Closed"):
        check_move(S.IN_PROGRESS, S.CLOSED)


def test_string_values_are_accepted():
    assert can_move("new", "assigned")
    assert not can_move("closed", "responded")
    with pytest.raises(IllegalTransition, match="from Spam to Closed"):
        check_move("spam", "closed")


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError, match="'archived' is not a valid InquiryStatus"):
        check_move(S.NEW, "archived")


def test_allowed_moves_are_in_declaration_order():
    assert allowed_moves(S.ASSIGNED) == [S.IN_PROGRESS, S.RESPONDED, S.SPAM]
    assert allowed_moves(S.CLOSED) == [S.IN_PROGRESS]


def test_open_statuses():
    assert set(OPEN_STATUSES) == {S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.RESPONDED}
    assert [status.is_open for status in InquiryStatus] == [True, True, True, True, False, False]


def test_every_open_status_can_be_marked_spam():
    assert all(can_move(status, S.SPAM) for status in OPEN_STATUSES)


def test_closed_is_reached_only_from_responded():
    assert [status for status in InquiryStatus if can_move(status, S.CLOSED)] == [S.RESPONDED]


def test_no_status_moves_to_itself():
    assert not any(can_move(status, status) for status in InquiryStatus)


def test_allowed_is_read_only():
    with pytest.raises(TypeError):
        ALLOWED[S.NEW] = frozenset()  # type: ignore[index]


@pytest.mark.parametrize(
    ("current", "after"),
    [
        (S.NEW, S.ASSIGNED),
        (S.ASSIGNED, S.ASSIGNED),
        (S.IN_PROGRESS, S.IN_PROGRESS),
        (S.RESPONDED, S.RESPONDED),
        (S.CLOSED, S.CLOSED),
        (S.SPAM, S.SPAM),
    ],
)
def test_assignment_changes_status_only_when_new(current, after):
    assert status_after_assignment(current) is after
