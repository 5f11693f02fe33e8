"""Workflow statuses of an inquiry and the moves allowed between them.

The moves::

    new          -> assigned, spam
    assigned     -> in_progress, responded, spam
    in_progress  -> responded, spam
    responded    -> closed, spam
    closed       -> in_progress         (reopen)
    spam         -> new                 (recover a false positive)

An inquiry can be closed only once it has been responded to, so every closed
inquiry has a first response and response-time reports never need to guess
what a response-less close meant. Junk that needs no reply goes to spam instead.

Staying in the same status is not a move: ``can_move(s, s)`` is false, and
callers should not call ``check_move`` when the status does not change.
Reassigning an inquiry changes its status only when it is new (see
``status_after_assignment``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class InquiryStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESPONDED = "responded"
    CLOSED = "closed"
    SPAM = "spam"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


_LABELS: Mapping[InquiryStatus, str] = MappingProxyType(
    {
        InquiryStatus.NEW: "New",
        InquiryStatus.ASSIGNED: "Assigned",
        InquiryStatus.IN_PROGRESS: "In progress",
        InquiryStatus.RESPONDED: "Responded",
        InquiryStatus.CLOSED: "Closed",
        InquiryStatus.SPAM: "Spam",
    }
)

OPEN_STATUSES: frozenset[InquiryStatus] = frozenset(
    {
        InquiryStatus.NEW,
        InquiryStatus.ASSIGNED,
        InquiryStatus.IN_PROGRESS,
        InquiryStatus.RESPONDED,
    }
)
# The same statuses in one fixed order, for SQL: PostgreSQL matches a query's IN list to a
# partial index's condition only when the items come in the same order, and a set's order
# changes from process to process (see crm.models.inquiry.open_clause).
OPEN_STATUS_ORDER: tuple[InquiryStatus, ...] = tuple(sorted(OPEN_STATUSES))

ALLOWED: Mapping[InquiryStatus, frozenset[InquiryStatus]] = MappingProxyType(
    {
        InquiryStatus.NEW: frozenset({InquiryStatus.ASSIGNED, InquiryStatus.SPAM}),
        InquiryStatus.ASSIGNED: frozenset({InquiryStatus.IN_PROGRESS, InquiryStatus.RESPONDED, InquiryStatus.SPAM}),
        InquiryStatus.IN_PROGRESS: frozenset({InquiryStatus.RESPONDED, InquiryStatus.SPAM}),
        InquiryStatus.RESPONDED: frozenset({InquiryStatus.CLOSED, InquiryStatus.SPAM}),
        InquiryStatus.CLOSED: frozenset({InquiryStatus.IN_PROGRESS}),
        InquiryStatus.SPAM: frozenset({InquiryStatus.NEW}),
    }
)


class IllegalTransition(ValueError):
    """Raised when an inquiry is asked to make a move that ``ALLOWED`` does not list."""

    def __init__(self, current: InquiryStatus, target: InquiryStatus) -> None:
        self.current = current
        self.target = target
        super().__init__(f"cannot move an inquiry from {current.label} to {target.label}")


def can_move(current: InquiryStatus, target: InquiryStatus) -> bool:
    return InquiryStatus(target) in ALLOWED[InquiryStatus(current)]


def allowed_moves(current: InquiryStatus) -> list[InquiryStatus]:
    """The statuses reachable from ``current``, in declaration order (stable for menus)."""
    reachable = ALLOWED[InquiryStatus(current)]
    return [status for status in InquiryStatus if status in reachable]


def check_move(current: InquiryStatus, target: InquiryStatus) -> None:
    current, target = InquiryStatus(current), InquiryStatus(target)
    if not can_move(current, target):
        raise IllegalTransition(current, target)


def status_after_assignment(current: InquiryStatus) -> InquiryStatus:
    """Assigning or reassigning moves a new inquiry to assigned and leaves any other as it is."""
    current = InquiryStatus(current)
    return InquiryStatus.ASSIGNED if current is InquiryStatus.NEW else current
