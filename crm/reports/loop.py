"""The closed loop in the managers' review: whether partners took the period's inquiries, why
they passed them on, what came of them and whether the families say they got help.

Every figure is broken down by county and by language, as the first-response figures are, and
covers the inquiries received in the period, spam left out (crm.reports.common.in_period):

- Time to acceptance: business hours from receipt to acceptance (passes on the way included),
  by the calendar of the organisation that accepted it, stored when it is accepted
  (``Inquiry.accepted_after_hours``) as first-response hours are; an inquiry accepted without
  them is measured when it is reported. Median and 90th percentile as the response figures
  have them, read with them (crm.reports.timed). An inquiry still open, with a contact, neither accepted nor answered, and past
  its acceptance window (or left with a contact after everyone passed) is counted as not
  accepted: a miss, never left out.
- Passes by reason (``inquiry_passes``), and how many inquiries were passed on at least once.
- Outcomes by category of the inquiries closed now.
- Families asked "Did you get the help you needed?", how many answered and how many said yes.

The counts are two statements, each a row per county and language: the inquiries' counts (the
closed ones per outcome too) and the period's passes per reason (and the inquiries passed on at
least once). Their few rows are summed here into counties, languages and the whole: an
inquiry has one county and one language, so nothing is counted twice. Every language the app
takes and every county with an inquiry in the period gets a row, zeros included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    or_,
    select,
)

from crm.extensions import db
from crm.languages import LANGUAGES
from crm.models import County, Inquiry, InquiryOutcome, InquiryPass, PassReason
from crm.models.inquiry import open_clause
from crm.models.inquiry_status import InquiryStatus
from crm.reports.common import (
    NOW,
    PERIOD_STARTS_AT,
    Breakdown,
    Kind,
    Period,
    Table,
    county_label,
    in_period,
    language_label,
    period_parameters,
)
from crm.reports.timed import NO_ACCEPTANCE, AcceptanceFigures, Waits, period_waits

ALL = "All"
REASONS: tuple[PassReason, ...] = tuple(PassReason)
OUTCOMES: tuple[InquiryOutcome, ...] = tuple(InquiryOutcome)


# --- the counts ------------------------------------------------------------------------------


def _zeros(keys: Iterable[Any]) -> dict[Any, int]:
    return dict.fromkeys(keys, 0)


@dataclass(frozen=True)
class LoopCounts:
    """The loop's counts for one group of inquiries: a county, a language or all of them."""

    inquiries: int = 0
    accepted: int = 0
    # Open, with a contact, neither accepted nor answered, past the acceptance window.
    not_accepted: int = 0
    passed: int = 0  # inquiries passed on at least once
    passes: dict[PassReason, int] = field(default_factory=lambda: _zeros(REASONS))
    passed_for: dict[PassReason, int] = field(default_factory=lambda: _zeros(REASONS))  # inquiries, per reason
    outcomes: dict[InquiryOutcome, int] = field(default_factory=lambda: _zeros(OUTCOMES))  # closed ones
    asked: int = 0
    answered: int = 0
    confirmed: int = 0
    confirmed_closed: int = 0  # of the closed ones: the share the issue asks for is of these

    @property
    def closed(self) -> int:
        return sum(self.outcomes.values())

    @classmethod
    def total(cls, many: Iterable[LoopCounts]) -> LoopCounts:
        """The sum of ``many``, field by field in one pass: a county's or a language's counts
        from its rows, without a new set of dictionaries for every row added."""
        sums = dict.fromkeys(_NUMBERS, 0)
        passes, passed_for, outcomes = _zeros(REASONS), _zeros(REASONS), _zeros(OUTCOMES)
        for counts in many:
            for name in _NUMBERS:
                sums[name] += getattr(counts, name)
            for reason in REASONS:
                passes[reason] += counts.passes[reason]
                passed_for[reason] += counts.passed_for[reason]
            for outcome in OUTCOMES:
                outcomes[outcome] += counts.outcomes[outcome]
        return cls(**sums, passes=passes, passed_for=passed_for, outcomes=outcomes)


# LoopCounts' plain numbers (the rest are counts per reason and per outcome).
_NUMBERS = ("inquiries", "accepted", "not_accepted", "passed", "asked", "answered", "confirmed", "confirmed_closed")


def not_accepted_clause(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Still open with a contact who has neither accepted it nor answered the family, and past
    the acceptance window; no window at all means everyone routing could offer it to passed."""
    return and_(
        open_clause(),
        Inquiry.assigned_contact_id.is_not(None),
        Inquiry.accepted_at.is_(None),
        Inquiry.first_response_at.is_(None),
        or_(Inquiry.acceptance_due_at.is_(None), Inquiry.acceptance_due_at < now),
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet the condition (count() skips the NULL of a false one)."""
    return func.count(case((condition, 1)))


@cache
def counts_query() -> Select:
    """The loop's counts per county and language, with the county's name: county_fips,
    language, county_name, inquiries, accepted, not_accepted, asked, answered, confirmed,
    confirmed_closed, and the closed inquiries per outcome (``closed_<outcome>``). Its
    parameters are the period's and NOW (period_parameters); built once per process
    (crm.reports.common)."""
    closed = Inquiry.status == InquiryStatus.CLOSED
    grouped = (
        select(
            Inquiry.county_fips,
            Inquiry.language,
            func.count().label("inquiries"),
            func.count(Inquiry.accepted_at).label("accepted"),
            _count_if(not_accepted_clause(NOW)).label("not_accepted"),
            func.count(Inquiry.follow_up_sent_at).label("asked"),
            func.count(Inquiry.family_answered_at).label("answered"),
            _count_if(Inquiry.family_confirmed.is_(True)).label("confirmed"),
            _count_if(closed & Inquiry.family_confirmed.is_(True)).label("confirmed_closed"),
            *(_count_if(closed & (Inquiry.outcome == outcome)).label(f"closed_{outcome.value}") for outcome in OUTCOMES),
        )
        .where(*in_period())
        .group_by(Inquiry.county_fips, Inquiry.language)
        .subquery("grouped")
    )
    return select(grouped, County.name.label("county_name")).outerjoin(County, County.fips == grouped.c.county_fips)


@cache
def passes_query() -> Select:
    """The passes of the period's inquiries per county and language: county_fips, language,
    and per reason the passes (``passes_<reason>``) and the inquiries passed on for it
    (``passed_<reason>``), then the inquiries passed on for any reason (``passed``): an inquiry
    passed for two reasons is one inquiry passed on. Its parameters are the period's
    (period_parameters); built once per process (crm.reports.common).

    A pass comes after its inquiry was received, so only the passes made since the period
    began can be of its inquiries: the older ones are left out before the join."""
    inquiries = InquiryPass.inquiry_id.distinct()
    by_reason = []
    for reason in REASONS:
        this_reason = InquiryPass.reason == reason
        by_reason += [
            func.count().filter(this_reason).label(f"passes_{reason.value}"),
            func.count(inquiries).filter(this_reason).label(f"passed_{reason.value}"),
        ]
    return (
        select(Inquiry.county_fips, Inquiry.language, *by_reason, func.count(inquiries).label("passed"))
        .select_from(InquiryPass)
        .join(Inquiry, Inquiry.id == InquiryPass.inquiry_id)
        .where(InquiryPass.passed_at >= PERIOD_STARTS_AT, *in_period())
        .group_by(Inquiry.county_fips, Inquiry.language)
    )


@dataclass(frozen=True)
class GroupCounts:
    """The loop's counts per county (FIPS, None for none) and language (code), as the two
    statements give them, with the names of the counties."""

    groups: dict[tuple[str | None, str], LoopCounts]
    county_names: dict[str, str]

    def inquiries(self) -> dict[tuple[str | None, str], int]:
        """The period's inquiries per county and language: the report's counts by county and by
        language are these, summed (crm.reports.services)."""
        return {key: counts.inquiries for key, counts in self.groups.items() if counts.inquiries}

    def breakdown(self) -> Breakdown[LoopCounts]:
        """Overall, per county and per language; every language the app takes has a row, as has
        every county with an inquiry in the period."""
        counties: dict[str, list[LoopCounts]] = {}
        languages: dict[str, list[LoopCounts]] = {language_label(code): [] for code in LANGUAGES}
        for (county_fips, language), counts in self.groups.items():
            counties.setdefault(county_label(county_fips, self.county_names), []).append(counts)
            languages.setdefault(language_label(language), []).append(counts)
        return Breakdown(
            LoopCounts.total(self.groups.values()),
            {county: LoopCounts.total(members) for county, members in counties.items()},
            {language: LoopCounts.total(members) for language, members in languages.items()},
        )


def group_counts(period: Period, now: datetime) -> GroupCounts:
    """The loop's counts per county and language. Two queries: the inquiries' counts and the
    passes', each a row per county and language."""
    groups: dict[tuple[str | None, str], LoopCounts] = {}
    names: dict[str, str] = {}
    for row in db.session.execute(counts_query(), period_parameters(period, now)).mappings():
        groups[(row["county_fips"], row["language"])] = LoopCounts(
            inquiries=row["inquiries"],
            accepted=row["accepted"],
            not_accepted=row["not_accepted"],
            outcomes={outcome: row[f"closed_{outcome.value}"] for outcome in OUTCOMES},
            asked=row["asked"],
            answered=row["answered"],
            confirmed=row["confirmed"],
            confirmed_closed=row["confirmed_closed"],
        )
        if row["county_fips"] and row["county_name"]:
            names[row["county_fips"]] = row["county_name"]
    for row in db.session.execute(passes_query(), period_parameters(period)).mappings():
        key = (row["county_fips"], row["language"])
        counted = groups.get(key)
        # The first statement counted none of these, so they replace its zeros.
        groups[key] = replace(
            LoopCounts() if counted is None else counted,
            passed=row["passed"],
            passes={reason: row[f"passes_{reason.value}"] for reason in REASONS},
            passed_for={reason: row[f"passed_{reason.value}"] for reason in REASONS},
        )
    return GroupCounts(groups, names)


def loop_counts(period: Period, now: datetime) -> Breakdown[LoopCounts]:
    """The loop's counts overall, per county and per language (group_counts, summed)."""
    return group_counts(period, now).breakdown()


# --- the figures and their tables ------------------------------------------------------------


@dataclass(frozen=True)
class LoopFigures:
    counts: Breakdown[LoopCounts]
    acceptance: Breakdown[AcceptanceFigures]


def loop_figures(
    period: Period, now: datetime, waits: Waits | None = None, groups: GroupCounts | None = None
) -> LoopFigures:
    """Every loop figure of the period; ``now`` decides which inquiries are past their window.
    The times to acceptance are crm.reports.timed's (``waits`` when already read), the counts
    group_counts' (``groups`` when already read)."""
    counts = (groups or group_counts(period, now)).breakdown()
    return LoopFigures(counts, (waits or period_waits(period)).acceptances)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole * 100, 1) if whole else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _groups(figures: LoopFigures, by: str) -> list[tuple[str, LoopCounts, AcceptanceFigures]]:
    """A breakdown's groups, most inquiries first, each with its counts and acceptance times."""
    counts: dict[str, LoopCounts] = getattr(figures.counts, by)
    times: dict[str, AcceptanceFigures] = getattr(figures.acceptance, by)
    labels = counts.keys() | times.keys()
    none = LoopCounts()  # one for every group without counts: each new one is three dictionaries
    ordered = sorted(labels, key=lambda label: (-counts.get(label, none).inquiries, label.casefold()))
    return [(label, counts.get(label, none), times.get(label, NO_ACCEPTANCE)) for label in ordered]


def _with_all(figures: LoopFigures, by: str) -> list[tuple[str, LoopCounts, AcceptanceFigures]]:
    if by == "overall":
        return [(ALL, figures.counts.overall, figures.acceptance.overall)]
    return _groups(figures, by)


ACCEPTANCE_COLUMNS = (
    "Inquiries",
    "Accepted",
    "Not accepted past the window",
    "Median to acceptance (business hours)",
    "90th percentile to acceptance (business hours)",
)
ACCEPTANCE_KINDS: tuple[Kind, ...] = ("text", "count", "count", "count", "hours", "hours")


def _acceptance_table(name: str, title: str, heading: str, figures: LoopFigures, by: str, note: str = "") -> Table:
    rows = [
        (label, counts.inquiries, times.accepted, counts.not_accepted, _rounded(times.median), _rounded(times.p90))
        for label, counts, times in _with_all(figures, by)
    ]
    return Table(name, title, (heading, *ACCEPTANCE_COLUMNS), ACCEPTANCE_KINDS, rows, chart_column=4, note=note)


def acceptance_overall(figures: LoopFigures) -> Table:
    return _acceptance_table(
        "acceptance",
        "Time to acceptance",
        "Inquiries",
        figures,
        "overall",
        note="Business hours from receipt until a partner accepted the inquiry, passes on the way included, by the "
        "calendar of the organisation that accepted it. An inquiry still open with a contact who has neither accepted "
        "nor answered it after the acceptance window is counted as not accepted.",
    )


def acceptance_by_county(figures: LoopFigures) -> Table:
    return _acceptance_table("acceptance_county", "Time to acceptance by county", "County", figures, "by_county")


def acceptance_by_language(figures: LoopFigures) -> Table:
    return _acceptance_table(
        "acceptance_language", "Time to acceptance by language", "Language", figures, "by_language"
    )


def passes_by_reason(figures: LoopFigures) -> Table:
    """Every reason, in the order the pass form lists them, then any reason at all."""
    counts = figures.counts.overall
    rows: list[tuple[Any, ...]] = [
        (reason.label, counts.passes[reason], counts.passed_for[reason]) for reason in REASONS
    ]
    rows.append(("Any reason", sum(counts.passes.values()), counts.passed))
    return Table(
        "passes",
        "Passes by reason",
        ("Reason", "Passes", "Inquiries passed on"),
        ("text", "count", "count"),
        rows,
        ranked=False,
        note="An inquiry passed on twice for one reason counts once in the last column; "
        "“Any reason” counts the inquiries passed on at least once.",
    )


def _passes_table(name: str, title: str, heading: str, figures: LoopFigures, by: str) -> Table:
    rows = [
        (
            label,
            counts.inquiries,
            counts.passed,
            _share(counts.passed, counts.inquiries),
            *(counts.passes[reason] for reason in REASONS),
        )
        for label, counts, _times in _groups(figures, by)
    ]
    return Table(
        name,
        title,
        (
            heading,
            "Inquiries",
            "Passed on at least once",
            "Passed on (%)",
            *(f"Passes: {reason.label}" for reason in REASONS),
        ),
        ("text", "count", "count", "percent", *(("count",) * len(REASONS))),
        rows,
        chart_column=3,
    )


def passes_by_county(figures: LoopFigures) -> Table:
    return _passes_table("passes_county", "Passes by county", "County", figures, "by_county")


def passes_by_language(figures: LoopFigures) -> Table:
    return _passes_table("passes_language", "Passes by language", "Language", figures, "by_language")


def outcomes_by_category(figures: LoopFigures) -> Table:
    counts = figures.counts.overall
    rows: list[tuple[Any, ...]] = [
        (outcome.label, counts.outcomes[outcome], _share(counts.outcomes[outcome], counts.closed))
        for outcome in OUTCOMES
    ]
    rows.append(("Every outcome", counts.closed, _share(counts.closed, counts.closed)))
    return Table(
        "outcomes",
        "Outcomes of closed inquiries",
        ("Outcome", "Closed inquiries", "Share of closed (%)"),
        ("text", "count", "percent"),
        rows,
        ranked=False,
        note="The inquiries of the period closed now, by what came of them; one reopened is not counted until it "
        "is closed again.",
    )


def _outcomes_table(name: str, title: str, heading: str, figures: LoopFigures, by: str) -> Table:
    rows = [
        (
            label,
            counts.inquiries,
            counts.closed,
            _share(counts.outcomes[InquiryOutcome.CONNECTED], counts.closed),
            *(counts.outcomes[outcome] for outcome in OUTCOMES),
        )
        for label, counts, _times in _groups(figures, by)
    ]
    return Table(
        name,
        title,
        (heading, "Inquiries", "Closed", "Connected to a service (%)", *(outcome.label for outcome in OUTCOMES)),
        ("text", "count", "count", "percent", *(("count",) * len(OUTCOMES))),
        rows,
        chart_column=3,
    )


def outcomes_by_county(figures: LoopFigures) -> Table:
    return _outcomes_table("outcomes_county", "Outcomes by county", "County", figures, "by_county")


def outcomes_by_language(figures: LoopFigures) -> Table:
    return _outcomes_table("outcomes_language", "Outcomes by language", "Language", figures, "by_language")


FAMILY_COLUMNS = (
    "Closed",
    "Families asked",
    "Answered",
    "Got help",
    "Got help (% of closed)",
    "Got help (% of answered)",
)
FAMILY_KINDS: tuple[Kind, ...] = ("text", "count", "count", "count", "count", "percent", "percent")


def _family_table(name: str, title: str, heading: str, figures: LoopFigures, by: str, note: str = "") -> Table:
    rows = [
        (
            label,
            counts.closed,
            counts.asked,
            counts.answered,
            counts.confirmed,
            _share(counts.confirmed_closed, counts.closed),
            _share(counts.confirmed, counts.answered),
        )
        for label, counts, _times in _with_all(figures, by)
    ]
    return Table(name, title, (heading, *FAMILY_COLUMNS), FAMILY_KINDS, rows, chart_column=5, note=note)


def family_overall(figures: LoopFigures) -> Table:
    return _family_table(
        "family",
        "Families who got help",
        "Inquiries",
        figures,
        "overall",
        note="Families asked “Did you get the help you needed?” after a close, how many answered and how many "
        "said yes. The first share is of the closed inquiries whose family confirmed help (a family not asked "
        "or not answering counts as not confirmed); the second is of those who answered, so read it beside "
        "how few that may be.",
    )


def family_by_county(figures: LoopFigures) -> Table:
    return _family_table("family_county", "Families who got help, by county", "County", figures, "by_county")


def family_by_language(figures: LoopFigures) -> Table:
    return _family_table("family_language", "Families who got help, by language", "Language", figures, "by_language")


LOOP_TABLES: dict[str, Callable[[LoopFigures], Table]] = {
    "acceptance": acceptance_overall,
    "acceptance_county": acceptance_by_county,
    "acceptance_language": acceptance_by_language,
    "passes": passes_by_reason,
    "passes_county": passes_by_county,
    "passes_language": passes_by_language,
    "outcomes": outcomes_by_category,
    "outcomes_county": outcomes_by_county,
    "outcomes_language": outcomes_by_language,
    "family": family_overall,
    "family_county": family_by_county,
    "family_language": family_by_language,
}
