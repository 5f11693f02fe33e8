"""What a close must say, and when an attempt may have happened: plain rules over plain
values, which the close and attempt forms and the services both ask.

Closing records an outcome (``InquiryOutcome``):

=============  ===========================================  ==============================
outcome        detail                                        organisation (one of ours)
=============  ===========================================  ==============================
connected      which program: required unless an             allowed
               organisation is picked
referred       to whom: required unless an organisation      allowed
               is picked
unreachable    optional; at least one attempt must be         not allowed
               logged, so "could not reach" is a record of
               trying, not a guess
not_needed     optional                                      not allowed
out_of_area    optional                                      not allowed
other          what happened: required                       not allowed
=============  ===========================================  ==============================
"""

from __future__ import annotations

from datetime import datetime

from crm.models.inquiry import InquiryOutcome

DETAIL_MAX = 500

# Outcomes that may name one of our organisations, and those that must say something.
WITH_ORGANISATION = frozenset({InquiryOutcome.CONNECTED, InquiryOutcome.REFERRED})
NEEDS_DETAIL_OR_ORGANISATION: dict[InquiryOutcome, str] = {
    InquiryOutcome.CONNECTED: "Say which organisation or program: pick one, or write its name.",
    InquiryOutcome.REFERRED: "Say to whom it was referred: pick an organisation, or write the name.",
}
NEEDS_DETAIL: dict[InquiryOutcome, str] = {
    InquiryOutcome.OTHER: "Say what happened.",
}
NO_ATTEMPTS = "Log at least one attempt to reach them before closing as “could not reach”."
NO_ORGANISATION = "An organisation goes with “connected” or “referred” only: clear it, or choose one of those."


def outcome_problems(
    outcome: InquiryOutcome | None, detail: str, organisation_id: int | None, attempts: int
) -> dict[str, str]:
    """Why this outcome cannot close an inquiry with ``attempts`` logged attempts, by field
    (``outcome``, ``detail``, ``organisation``); empty when it can."""
    if outcome is None:
        return {"outcome": "Choose what came of it."}
    problems: dict[str, str] = {}
    if organisation_id is not None and outcome not in WITH_ORGANISATION:
        problems["organisation"] = NO_ORGANISATION
    if outcome in NEEDS_DETAIL_OR_ORGANISATION and not detail and organisation_id is None:
        problems["detail"] = NEEDS_DETAIL_OR_ORGANISATION[outcome]
    if outcome in NEEDS_DETAIL and not detail:
        problems["detail"] = NEEDS_DETAIL[outcome]
    if outcome is InquiryOutcome.UNREACHABLE and attempts < 1:
        problems["outcome"] = NO_ATTEMPTS
    if len(detail) > DETAIL_MAX:
        problems["detail"] = f"Keep this to {DETAIL_MAX} characters or fewer."
    return problems


def describe_outcome(outcome: InquiryOutcome, detail: str, organisation_name: str | None) -> str:
    """One line for the timeline and the page: "Connected to a service: North Families (doulas)"."""
    said = ", ".join(part for part in (organisation_name or "", detail) if part)
    return f"{outcome.label}: {said}" if said else outcome.label


def attempt_time_problem(attempted_at: datetime, received_at: datetime, now: datetime) -> str | None:
    """Why an attempt cannot have happened at ``attempted_at``, or None.

    The form gives minutes, so the minute the inquiry arrived in counts as after it, and the
    current minute as not in the future."""
    if attempted_at > now:
        return "That time is in the future: log an attempt once it has happened."
    if attempted_at < received_at.replace(second=0, microsecond=0):
        return "That is before the inquiry arrived."
    return None

