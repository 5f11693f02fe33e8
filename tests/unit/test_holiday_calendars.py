"""The holiday calendar rules, table first: which days close, which years to load."""

from __future__ import annotations

from datetime import date

import pytest

from crm.holidays.calendars import (
    MAX_RANGE_DAYS,
    BadRange,
    closed_days,
    days_to_add,
    days_to_close,
    federal_holidays,
    years_to_load,
)

CHRISTMAS = date(2026, 12, 25)
THANKSGIVING = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("foundation", "own", "closed"),
    [
        ([], [], set()),
        ([THANKSGIVING], [], {THANKSGIVING}),
        ([], [date(2026, 12, 24)], {date(2026, 12, 24)}),
        ([CHRISTMAS], [date(2026, 12, 24), CHRISTMAS], {date(2026, 12, 24), CHRISTMAS}),
    ],
)
def test_an_organisation_is_closed_on_the_foundations_days_and_its_own(foundation, own, closed):
    assert closed_days(foundation, own) == closed


@pytest.mark.parametrize(
    ("first", "last", "days"),
    [
        # One day is closed as given, even a Saturday.
        (CHRISTMAS, None, [CHRISTMAS]),
        (date(2026, 12, 26), None, [date(2026, 12, 26)]),
        (CHRISTMAS, CHRISTMAS, [CHRISTMAS]),
        # The week of Christmas, Thursday to Thursday: the weekend in between is skipped.
        (
            date(2026, 12, 24),
            date(2026, 12, 31),
            [date(2026, 12, 24), CHRISTMAS, date(2026, 12, 28), date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)],
        ),
        # A weekend alone closes nothing the clock counted anyway.
        (date(2026, 12, 26), date(2026, 12, 27), []),
    ],
)
def test_days_to_close(first, last, days):
    assert days_to_close(first, last) == days


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (CHRISTMAS, date(2026, 12, 24), "before the first day"),
        (date(2026, 1, 1), date(2026, 12, 31), f"at most {MAX_RANGE_DAYS} days"),
    ],
)
def test_days_to_close_refuses_a_range_that_is_no_closure(first, last, message):
    with pytest.raises(BadRange, match=message):
        days_to_close(first, last)


def test_the_longest_range_is_accepted():
    first = date(2026, 1, 5)
    assert days_to_close(first, date.fromordinal(first.toordinal() + MAX_RANGE_DAYS - 1))


@pytest.mark.parametrize(
    ("loaded_through", "this_year", "years"),
    [
        (None, 2026, [2026, 2027, 2028, 2029, 2030]),  # first run: this year and the next four
        (2030, 2026, []),  # run again the same year: nothing new
        (2030, 2027, [2031]),  # a year later: one more year
        (2030, 2033, [2033, 2034, 2035, 2036, 2037]),  # years missed are not loaded back
        (2040, 2026, []),
    ],
)
def test_years_to_load(loaded_through, this_year, years):
    assert list(years_to_load(loaded_through, this_year)) == years


@pytest.mark.parametrize(
    ("existing", "candidates", "added"),
    [
        ([], [], []),
        ([], [(CHRISTMAS, "Christmas Day"), (THANKSGIVING, "Thanksgiving Day")],
         [(THANKSGIVING, "Thanksgiving Day"), (CHRISTMAS, "Christmas Day")]),
        ([CHRISTMAS], [(CHRISTMAS, "Christmas Day"), (THANKSGIVING, "Thanksgiving Day")], [(THANKSGIVING, "Thanksgiving Day")]),
        # The same day twice (a federal holiday also in SLA_HOLIDAYS): the first name wins.
        ([], [(CHRISTMAS, "Christmas Day"), (CHRISTMAS, "Closed")], [(CHRISTMAS, "Christmas Day")]),
    ],
)
def test_days_to_add_skips_the_days_already_there(existing, candidates, added):
    assert days_to_add(existing, candidates) == added


def test_federal_holidays_include_thanksgiving_and_observed_days():
    holidays = dict(federal_holidays([2026, 2027]))

    assert holidays[THANKSGIVING] == "Thanksgiving Day"
    assert holidays[date(2027, 11, 25)] == "Thanksgiving Day"
    # Independence Day 2026 is a Saturday: observed on Friday the 3rd.
    assert date(2026, 7, 3) in holidays
    assert all(day.year in (2026, 2027) for day in holidays)
    assert federal_holidays([]) == []
