"""Summary figures over plain numbers. Empty input gives None, never an error."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResponseSummary:
    count: int
    median: float | None
    p90: float | None
    within_target_share: float | None


def _sorted_finite(values: Iterable[float]) -> list[float]:
    ordered = sorted(float(value) for value in values)
    # NaN compares false with everything, so a sort containing one is meaningless.
    if any(math.isnan(value) for value in ordered):
        raise ValueError("values must not contain NaN")
    return ordered


def percentile_of_sorted(ordered: Sequence[float], p: float) -> float:
    # The rank as percentile_cont works it out, the fraction times the count less one: (n - 1) * p / 100
    # can be a hair off it, enough to round a figure on the page the other way than PostgreSQL does.
    position = p / 100 * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def percentile(values: Iterable[float], p: float) -> float | None:
    """The ``p``-th percentile (0-100), interpolating linearly between closest ranks.

    This is PostgreSQL's ``percentile_cont``, which the report uses there, and numpy's default
    ``method="linear"`` (Hyndman & Fan type 7).
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {p!r}")
    ordered = _sorted_finite(values)
    if not ordered:
        return None
    return percentile_of_sorted(ordered, p)


def median(values: Iterable[float]) -> float | None:
    return percentile(values, 50)


def share_within(values: Iterable[float], target: float) -> float | None:
    """The fraction of values that are at most ``target``."""
    ordered = _sorted_finite(values)
    if not ordered:
        return None
    return sum(1 for value in ordered if value <= target) / len(ordered)


def summarise_response_times(hours: Sequence[float], target_hours: float) -> ResponseSummary:
    ordered = _sorted_finite(hours)
    if not ordered:
        return ResponseSummary(count=0, median=None, p90=None, within_target_share=None)
    return ResponseSummary(
        count=len(ordered),
        median=percentile_of_sorted(ordered, 50),
        p90=percentile_of_sorted(ordered, 90),
        within_target_share=share_within(ordered, target_hours),
    )
