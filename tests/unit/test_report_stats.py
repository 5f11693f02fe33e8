import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.reports.stats import (
    ResponseSummary,
    median,
    percentile,
    share_within,
    summarise_response_times,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=60)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([5], 5.0),
        ([3, 1], 2.0),
        ([3, 1, 2], 2.0),
        ([4, 1, 3, 2], 2.5),
        ([0.5, 0.25, 10], 0.5),
        ((hours for hours in [1.0, 9.0, 2.0]), 2.0),
    ],
)
def test_median(values, expected):
    assert median(values) == expected


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        # Worked by hand: position = (n - 1) * p / 100, interpolate between its neighbours.
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 25, 1.75),
        ([1, 2, 3, 4], 90, 3.7),
        ([10, 20, 30, 40, 50], 90, 46.0),
        ([10, 20, 30, 40, 50], 10, 14.0),
        ([15, 20, 35, 40, 50], 40, 29.0),
        ([40, 15, 50, 35, 20], 40, 29.0),
        ([7], 90, 7.0),
        ([2, 2, 2], 37.5, 2.0),
        ([0, 1], 33.3, 0.333),
        ([], 90, None),
    ],
)
def test_percentile_by_hand(values, p, expected):
    if expected is None:
        assert percentile(values, p) is None
    else:
        assert percentile(values, p) == pytest.approx(expected)


@pytest.mark.parametrize("p", [-0.1, 100.1, float("nan")])
def test_percentile_rejects_out_of_range(p):
    with pytest.raises(ValueError, match="percentile must be between 0 and 100"):
        percentile([1, 2, 3], p)


def test_nan_values_are_rejected():
    with pytest.raises(ValueError, match="must not contain NaN"):
        median([1.0, math.nan])


@given(values=st.lists(finite, min_size=2, max_size=60), p=st.integers(min_value=1, max_value=99))
def test_percentile_matches_statistics_inclusive_quantiles(values, p):
    # statistics.quantiles(method="inclusive") is the same linear rule (Hyndman & Fan type 7).
    expected = statistics.quantiles(values, n=100, method="inclusive")[p - 1]
    assert percentile(values, p) == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(values=samples, p=st.floats(min_value=0, max_value=100))
def test_percentile_lies_within_the_data(values, p):
    assert min(values) <= percentile(values, p) <= max(values)


@given(values=samples)
def test_median_matches_statistics(values):
    assert median(values) == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize(
    ("values", "target", "expected"),
    [
        ([], 16, None),
        ([1, 2, 3, 4], 2, 0.5),
        ([1, 2, 3, 4], 0.5, 0.0),
        ([1, 2, 3, 4], 4, 1.0),
        ([16, 16.0001], 16, 0.5),
    ],
)
def test_share_within(values, target, expected):
    assert share_within(values, target) == expected


def test_summarise_response_times():
    hours = [0.5, 2, 3, 4, 8, 12, 15.5, 16, 20, 40]
    summary = summarise_response_times(hours, target_hours=16)
    assert summary.count == 10
    assert summary.median == pytest.approx(10.0)
    # position 8.1: 20 + 0.1 * (40 - 20)
    assert summary.p90 == pytest.approx(22.0)
    assert summary.within_target_share == pytest.approx(0.8)


def test_summarise_single_value():
    assert summarise_response_times([3.0], 16) == ResponseSummary(count=1, median=3.0, p90=3.0, within_target_share=1.0)


def test_summarise_empty_gives_none_figures():
    assert summarise_response_times([], 16) == ResponseSummary(count=0, median=None, p90=None, within_target_share=None)


def test_summary_is_immutable():
    summary = summarise_response_times([1.0], 16)
    with pytest.raises(AttributeError):
        summary.count = 2  # type: ignore[misc]
