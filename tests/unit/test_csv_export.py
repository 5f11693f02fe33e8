import codecs
import csv
import enum
import io
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from crm.csv_export import csv_lines, csv_response_bytes, neutralise_cell, restored_cell
from crm.models.inquiry_status import InquiryStatus
from tests.naughty import naughty_strings

FORMULA_TRIGGERS = ("=", "+", "-", "@")
LEADING_TRIGGERS = (*FORMULA_TRIGGERS, "\t", "\r", "\0")


NAUGHTY = list(naughty_strings())

# Line breaks, quotes and delimiters cannot be written on one line of the list.
STRUCTURAL = [
    "first line\nsecond line",
    "windows\r\nline end",
    "old mac\rline end",
    "\n",
    "\r\n",
    'say "hello"',
    '"',
    '""',
    '","',
    "a,b,c",
    ",leading comma",
    "trailing comma,",
    'multi\nline, "quoted", and\r\nmixed',
    "line\n=1+1",
    "cell\n@SUM(1+1)",
    "\n=1+1",
    "\r\n+1",
    "\t\n-1",
    "   ",
    "\ufeffbom inside",
]


def read_back(document: bytes) -> list[list[str]]:
    assert document.startswith(codecs.BOM_UTF8)
    text = document[len(codecs.BOM_UTF8) :].decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def export(header, rows) -> bytes:
    return b"".join(csv_response_bytes(header, rows))


def assert_safe(cell: str) -> None:
    assert not cell.startswith(LEADING_TRIGGERS)
    if not cell.startswith("'"):
        assert not cell.lstrip().startswith(FORMULA_TRIGGERS)


class Colour(enum.Enum):
    RED = "=red"


class Shouty:
    def __str__(self) -> str:
        return '=HYPERLINK("http://example.invalid")'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("hello", "hello"),
        ("a=b", "a=b"),
        ("Acme, Inc.", "Acme, Inc."),
        ("'=1+1", "'=1+1"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\tindented", "'\tindented"),
        ("\rcarriage", "'\rcarriage"),
        ("\0null", "'\0null"),
        (" =1+1", "' =1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("\u3000+1", "'\u3000+1"),
        ("  plain", "  plain"),
        ("\nplain", "\nplain"),
        (-5, "-5"),
        (3, "3"),
        (-1.5, "-1.5"),
        (Decimal("-12.50"), "-12.50"),
        (True, "True"),
        (datetime(2026, 1, 12, 9, 30, tzinfo=UTC), "2026-01-12T09:30:00+00:00"),
        (datetime(2026, 1, 12, 9, 30), "2026-01-12T09:30:00"),  # noqa: DTZ001 - naive is written as is
        (date(2026, 12, 25), "2026-12-25"),
        (time(17), "17:00:00"),
        (InquiryStatus.IN_PROGRESS, "in_progress"),
        (Colour.RED, "'=red"),
        (Shouty(), '\'=HYPERLINK("http://example.invalid")'),
    ],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def test_bytes_start_with_a_single_bom_then_crlf_records():
    chunks = list(csv_response_bytes(["name", "note"], [["Ann", "hi"], ["Bob", None]]))
    assert chunks == [codecs.BOM_UTF8, b"name,note\r\n", b"Ann,hi\r\n", b"Bob,\r\n"]


def test_quotes_only_when_needed():
    document = export(["a", "b", "c"], [["x,y", 'say "hi"', "plain"], ["two\nlines", "", 7]])
    assert document == (codecs.BOM_UTF8 + b'a,b,c\r\n"x,y","say ""hi""",plain\r\n"two\nlines",,7\r\n')


def test_non_ascii_is_utf8():
    document = export(["name"], [["Zoë Ångström"], ["田中さん"]])
    assert "Zoë Ångström".encode() in document
    assert read_back(document) == [["name"], ["Zoë Ångström"], ["田中さん"]]


def test_header_is_neutralised():
    assert read_back(export(["=name", "email"], []))[0] == ["'=name", "email"]


def test_rows_are_consumed_lazily():
    consumed = []

    def rows():
        for number in range(3):
            consumed.append(number)
            yield [number]
        raise AssertionError("read past the rows the test asked for")

    stream = csv_response_bytes(["n"], rows())
    assert next(stream) == codecs.BOM_UTF8
    assert next(stream) == b"n\r\n"
    assert consumed == []
    assert next(stream) == b"0\r\n"
    assert consumed == [0]


def test_csv_lines_are_text_records():
    assert list(csv_lines(["a"], [["=1"]])) == ["a\r\n", "'=1\r\n"]


def test_naughty_list_loads():
    assert len(NAUGHTY) > 400
    assert not any(line.startswith("#") for line in NAUGHTY)
    assert "=cmd|' /C calc'!A0" in NAUGHTY
    assert "@SUM(1+1)" in NAUGHTY
    # Whitespace-only and control-character lines are test strings, not blank lines.
    assert " " in NAUGHTY
    assert any(line.startswith("\t\x0b\x0c") for line in NAUGHTY)


@pytest.mark.parametrize("value", [pytest.param(value, id=f"naughty-{index}") for index, value in enumerate(NAUGHTY)])
def test_naughty_string_round_trips(value):
    rows = read_back(export(["before", "value", "after"], [["x", value, "y"]]))
    assert rows[0] == ["before", "value", "after"]
    assert len(rows) == 2
    before, cell, after = rows[1]
    assert (before, after) == ("x", "y")
    assert cell in (value, "'" + value)
    assert cell == neutralise_cell(value)
    assert_safe(cell)
    if not value.startswith("'"):  # "'=1+1" exports as itself and reads back as =1+1 (restored_cell)
        assert restored_cell(cell) == value, "an import of the file reads back what was exported"


@pytest.mark.parametrize("value", STRUCTURAL)
def test_line_breaks_quotes_and_commas_round_trip(value):
    rows = read_back(export(["value", "after"], [[value, "end"]]))
    assert rows[1] == [neutralise_cell(value), "end"]
    assert rows[1][0] in (value, "'" + value)
    assert_safe(rows[1][0])


def test_whole_naughty_list_in_one_document():
    values = NAUGHTY + STRUCTURAL
    rows = read_back(export(["id", "value"], ([index, value] for index, value in enumerate(values))))
    assert len(rows) == len(values) + 1
    for expected_index, ((index, cell), value) in enumerate(zip(rows[1:], values, strict=True)):
        assert index == str(expected_index)
        assert cell in (value, "'" + value)
        assert_safe(cell)
