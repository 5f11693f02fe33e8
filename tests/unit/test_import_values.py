"""Cell values of real spreadsheets, table-first: dates four ways, times, money, headings."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from crm.imports.reading import (
    clean_headings,
    heading_row_index,
    money_text,
    parse_date,
    parse_time,
    sniff_delimiter,
    time_in_date,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-03", date(2026, 3, 3)),
        ("2026-03-03 00:00:00", date(2026, 3, 3)),
        ("3/3/2026", date(2026, 3, 3)),
        ("12/31/2026", date(2026, 12, 31)),
        ("March 3, 2026", date(2026, 3, 3)),
        ("Mar 3 2026", date(2026, 3, 3)),
        ("Sept. 30, 2026", date(2026, 9, 30)),
        ("  march  3,  2026 ", date(2026, 3, 3)),
        (46084, date(2026, 3, 3)),
        (46084.0, date(2026, 3, 3)),
        ("46084", date(2026, 3, 3)),
        (datetime(2026, 3, 3, 14, 0), date(2026, 3, 3)),  # noqa: DTZ001  (a spreadsheet's dates have no zone)
        (date(2026, 3, 3), date(2026, 3, 3)),
    ],
)
def test_dates(value, expected) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30", "not a real date"),
        ("13/1/2026", "not a real date"),
        ("3/3/26", "not a date"),
        ("Smarch 3, 2026", "not a date"),
        ("soon", "not a date"),
        (0, "not a date"),
        ("", "not a date"),
    ],
)
def test_not_dates(value, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_date(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("14:30", time(14, 30)),
        ("2:30 PM", time(14, 30)),
        ("12 am", time(0, 0)),
        ("9:05:59", time(9, 5)),
        (0.5, time(12, 0)),
        (time(8, 15, 30), time(8, 15)),
    ],
)
def test_times(value, expected) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", ["25:00", "13 PM", "noon", "9"])
def test_not_times(value) -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_time(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(25000, "25000"), (25000.5, "25000.5"), (0.1 + 0.2, "0.3"), (" $25,000.50 ", "$25,000.50")],
)
def test_money(value, expected) -> None:
    assert money_text(value) == expected


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [("Name,City", ","), ("Name;City;ZIP", ";"), ("Name\tCity", "\t"), ("Name", ",")],
)
def test_delimiters(first_line, expected) -> None:
    assert sniff_delimiter(first_line + "\n" + first_line.replace("Name", "A") + "\n") == expected


def test_heading_row_below_a_title_and_headings_told_apart() -> None:
    rows = [["Grantees 2026", None, None], [None, None, None], ["Name", "City", "Name"], ["A", "B", "C"]]
    assert heading_row_index(rows) == 2
    assert clean_headings(["Name", None, "name", "  Start   date "]) == ["Name", "Column B", "name (2)", "Start date"]


def test_heading_row_with_a_blank_under_a_merged_heading_is_not_outnumbered_by_the_data() -> None:
    # "Address" is merged across the street and town columns; the rows below fill both.
    rows = [["Name", "Address", None, "Phone"], ["Acme", "1 Main St", "Kennett", "573-555-0142"]]
    assert heading_row_index(rows) == 0
    # A title with a date far to its right is still not the heading row.
    rows = [["Grantees 2026", None, None, "3/1/2026"], ["Name", "City", "ZIP", "Phone"], ["A", "B", "C", "D"]]
    assert heading_row_index(rows) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3/2/2026 2:30 PM", time(14, 30)),
        ("2026-03-02T14:30:05.25", time(14, 30)),
        (datetime(2026, 3, 2, 9, 15), time(9, 15)),  # noqa: DTZ001 (a spreadsheet cell)
        (datetime(2026, 3, 2), None),  # noqa: DTZ001 (a date cell: midnight)
        ("3/2/2026", None),
        ("March 2, 2026", None),
        (46083, None),
    ],
)
def test_time_in_a_date_cell(value, expected) -> None:
    assert time_in_date(value) == expected
