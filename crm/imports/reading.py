"""Reading an uploaded spreadsheet into a heading row and data rows, and the cell values that
real spreadsheets hold (dates four ways, money with $ and commas) into what the forms expect.

Plain functions over bytes and values: no database, no request. Every problem a person can
fix is an ImportFileError whose message says what to do.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from crm.csv_export import restored_cell

# Rows after the heading row. More than this is refused with a message rather than read.
DEFAULT_MAX_ROWS = 5000
MAX_COLUMNS = 100
# A title, a date or a note often sits above the heading row; it is looked for this far down.
HEADER_SEARCH_ROWS = 20
# A sheet "used" to a million empty rows (formatting) is not read to its end.
EMPTY_ROWS_BEFORE_STOP = 1000

_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc: the old Office format
_BINARY_STARTS = (b"MZ", b"\x7fELF", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")

NOT_A_SPREADSHEET = "This file is not a CSV or Excel (.xlsx) file. Save the spreadsheet as .xlsx or CSV and upload that."


class ImportFileError(ValueError):
    """A file that cannot be imported as it is; the message tells the person what to do."""


@dataclass
class Sheet:
    headings: list[str]
    rows: list[tuple[int, list[Any]]]  # (row number in the file, the cells under the headings)
    notices: list[str] = field(default_factory=list)


def read_file(content: bytes, max_rows: int = DEFAULT_MAX_ROWS) -> Sheet:
    """The heading row and data rows of an uploaded file, told apart by its bytes, never by
    its name: a renamed program is refused, whatever it is called."""
    if not content or not content.strip():
        raise ImportFileError("The file is empty.")
    if content.startswith(_XLSX_MAGIC):
        return _read_xlsx(content, max_rows)
    if content.startswith(_OLE_MAGIC):
        raise ImportFileError("This is an old-style Excel (.xls) file. Save it as .xlsx or CSV and upload that.")
    if content.startswith(_BINARY_STARTS):
        raise ImportFileError(NOT_A_SPREADSHEET)
    return _read_csv(content, max_rows)


# --- CSV -----------------------------------------------------------------------------------


def decode(content: bytes) -> tuple[str, list[str]]:
    """The text of a CSV file, and a notice when it was not UTF-8.

    UTF-8 (with or without the BOM Excel writes) first; UTF-16 when it starts with its BOM
    (Excel's "Unicode text"); then Windows-1252, what Excel on Windows saves as plain "CSV".
    """
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16"), []
        except UnicodeDecodeError:
            raise ImportFileError(NOT_A_SPREADSHEET) from None
    if b"\x00" in content:
        raise ImportFileError(NOT_A_SPREADSHEET)
    try:
        return content.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    try:
        text = content.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportFileError(
            "The file's characters could not be read: it is neither UTF-8 nor Windows-1252 text. "
            'In Excel, save it as "CSV UTF-8 (Comma delimited)" and upload that.'
        ) from None
    return text, ["The file was not UTF-8; it was read as Windows-1252 (Excel's usual CSV). Check accented letters in the preview."]


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (Excel where the decimal mark is a comma) or tab, by the first lines."""
    sample = "\n".join(text.splitlines()[:HEADER_SEARCH_ROWS])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        counts = {delimiter: sample.count(delimiter) for delimiter in ",;\t"}
        best = max(counts, key=lambda delimiter: counts[delimiter])
        return best if counts[best] else ","


def _read_csv(content: bytes, max_rows: int) -> Sheet:
    text, notices = decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    try:
        # Refused rows are downloaded to be corrected and sent again, with the apostrophe our
        # CSV export puts before a leading = + - or @: it goes, or it would be saved as text.
        rows = ((number, [restored_cell(cell) for cell in row]) for number, row in enumerate(reader, start=1))
        sheet = _sheet(rows, max_rows)
    except csv.Error as error:
        # The csv module's only limit; a quote never closed runs into it too, taking the rest
        # of the file for one cell, so the message names both.
        if "field larger than field limit" in str(error):
            raise ImportFileError(
                f"A cell of the CSV file is longer than {csv.field_size_limit():,} characters, or a quote"
                " in it is never closed; nothing was read."
            ) from None
        raise ImportFileError("The CSV file is damaged (a quote is never closed, or similar); nothing was read.") from None
    sheet.notices[:0] = notices
    return sheet


# --- xlsx ----------------------------------------------------------------------------------


def _read_xlsx(content: bytes, max_rows: int) -> Sheet:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if "[Content_Types].xml" not in archive.namelist():
                raise ImportFileError(NOT_A_SPREADSHEET)
    except zipfile.BadZipFile:
        raise ImportFileError("The Excel file is damaged and could not be opened.") from None
    from openpyxl import load_workbook

    try:
        # read_only streams the rows; data_only gives what formulas last showed in Excel,
        # never evaluating them (a file saved by a program that computes nothing has None).
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except ImportFileError:
        raise
    except Exception:  # openpyxl raises many kinds (KeyError, XML errors) for a broken file
        raise ImportFileError("The Excel file could not be read: it may be damaged, or not an .xlsx workbook.") from None
    try:
        if not workbook.worksheets:
            raise ImportFileError("The workbook has no sheets.")
        sheet = workbook.worksheets[0]
        # In read-only mode openpyxl reads only the "used range" the file states, and some
        # programs state it wrong (A1 for the whole sheet): every cell there is read instead.
        sheet.reset_dimensions()
        try:
            rows = ((number, list(row)) for number, row in enumerate(sheet.iter_rows(values_only=True), start=1))
            result = _sheet(rows, max_rows)
        except ImportFileError:
            raise
        except Exception:
            raise ImportFileError("The Excel file could not be read: it may be damaged.") from None
        if len(workbook.worksheets) > 1:
            result.notices.append(f"Only the first sheet (“{sheet.title}”) was read.")
        return result
    finally:
        workbook.close()


# --- both ----------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def heading_row_index(rows: list[list[Any]]) -> int | None:
    """Which of the first rows holds the headings: the one with the most text cells, the first
    of equals. A title above it ("Grantees 2026", merged across the columns) has one cell.

    In a row mostly of text, a blank cell between two text cells counts too: a heading merged
    across two columns, or a column nobody named, leaves a blank in the heading row that the
    rows below fill, and the first of them would otherwise outnumber the headings and be
    taken for them. A title with a date far to its right is not mostly text, and gains nothing."""
    best, best_count = None, 0
    for index, row in enumerate(rows):
        texts = [position for position, value in enumerate(row) if isinstance(value, str) and value.strip()]
        gaps = sum(1 for value in row[texts[0] : texts[-1]] if _blank(value)) if texts else 0
        count = len(texts) + (gaps if len(texts) > gaps else 0)
        if count > best_count:
            best, best_count = index, count
    return best


def clean_headings(row: list[Any]) -> list[str]:
    """Headings as text, spacing tidied; an empty one (under a merged cell) named by its column,
    and a repeated one numbered, so every column can be told apart when mapping."""
    headings: list[str] = []
    for index, value in enumerate(row):
        text = " ".join(str(value).split()) if not _blank(value) else ""
        text = text[:100] or f"Column {column_letter(index)}"
        candidate, copy = text, 2
        while candidate.casefold() in (heading.casefold() for heading in headings):
            candidate, copy = f"{text} ({copy})", copy + 1
        headings.append(candidate)
    return headings


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _sheet(numbered_rows, max_rows: int) -> Sheet:
    top: list[tuple[int, list[Any]]] = []
    for number, row in numbered_rows:
        if any(not _blank(value) for value in row):
            top.append((number, row))
        if len(top) == HEADER_SEARCH_ROWS:
            break
    if not top:
        raise ImportFileError("The file is empty.")
    index = heading_row_index([row for _, row in top])
    if index is None:
        raise ImportFileError("No row of column headings was found at the top of the file.")
    heading_cells = top[index][1]
    # Trailing empty heading cells are not columns.
    while heading_cells and _blank(heading_cells[-1]):
        heading_cells = heading_cells[:-1]
    if len(heading_cells) > MAX_COLUMNS:
        raise ImportFileError(f"The file has more than {MAX_COLUMNS} columns; keep only those to import.")
    headings = clean_headings(heading_cells)
    width = len(headings)
    rows: list[tuple[int, list[Any]]] = []
    empty_run = 0

    def take(number: int, row: list[Any]) -> None:
        nonlocal empty_run
        cells = [_cell(value) for value in row[:width]] + [None] * (width - len(row))
        if all(_blank(value) for value in cells):
            empty_run += 1
            return
        empty_run = 0
        rows.append((number, cells))
        if len(rows) > max_rows:
            raise ImportFileError(
                f"The file has more than {max_rows:,} rows. Split it into files of at most {max_rows:,} rows each."
            )

    for number, row in top[index + 1 :]:
        take(number, row)
    for number, row in numbered_rows:
        take(number, row)
        if empty_run >= EMPTY_ROWS_BEFORE_STOP:
            break
    if not rows:
        raise ImportFileError("The file has column headings but no rows under them.")
    return Sheet(headings=headings, rows=rows)


# --- cell values ---------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?)?")
_WORDS = re.compile(r"([A-Za-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})")
_SERIAL = re.compile(r"\d{1,6}(?:\.0+)?")
# Excel's day 0 (its serial numbers count from 1900-01-00 and take 1900 for a leap year).
_EXCEL_EPOCH = date(1899, 12, 30)
DATE_FORMATS_HINT = "2026-03-31, 3/31/2026 or March 31, 2026"


def excel_serial_date(serial: float) -> date:
    if not 1 <= serial < 2958466:  # 9999-12-31
        raise ValueError(f"{serial:g} is not a date; use {DATE_FORMATS_HINT}.")
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def parse_date(value: Any) -> date:
    """A date from a cell: a spreadsheet date, an Excel serial number, or text written
    2026-03-31 (ISO), 3/31/2026 (US month first) or March 31, 2026 (also Mar 31 2026)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return excel_serial_date(float(value))
    text = " ".join(str(value).split())
    shown = text if len(text) <= 40 else text[:40] + "…"
    try:
        if match := _ISO.fullmatch(text):
            year, month, day = (int(part) for part in match.groups())
            return date(year, month, day)
        if match := _US.fullmatch(text):
            month, day, year = (int(part) for part in match.groups())
            return date(year, month, day)
        if (match := _WORDS.fullmatch(text)) and match[1].casefold() in _MONTHS:
            return date(int(match[3]), _MONTHS[match[1].casefold()], int(match[2]))
        if _SERIAL.fullmatch(text):
            return excel_serial_date(float(text))
    except ValueError:
        raise ValueError(f"“{shown}” is not a real date.") from None
    raise ValueError(f"“{shown}” is not a date; write it like {DATE_FORMATS_HINT}.")


_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::\d{2})? ?([AaPp]\.?[Mm]\.?)?")


def parse_time(value: Any) -> time:
    """A time of day: a spreadsheet time, a fraction of a day (Excel), or 14:30 / 2:30 PM."""
    if isinstance(value, datetime):
        return value.time().replace(second=0, microsecond=0)
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, float) and 0 <= value < 1:
        minutes = round(value * 24 * 60)
        return time(minutes // 60 % 24, minutes % 60)
    text = str(value).strip()
    match = _TIME.fullmatch(text)
    if match and (match[2] or match[3]):
        hour, minute = int(match[1]), int(match[2] or 0)
        if match[3]:
            if not 1 <= hour <= 12:
                raise ValueError(f"“{text[:20]}” is not a time; write it like 14:30 or 2:30 PM.")
            hour = hour % 12 + (12 if match[3][0] in "Pp" else 0)
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise ValueError(f"“{text[:20]}” is not a time; write it like 14:30 or 2:30 PM.")


def time_in_date(value: Any) -> time | None:
    """The time of day a date cell also gives: a spreadsheet date-time, or text such as
    2026-03-31 14:30 or 3/31/2026 2:30 PM (which parse_date reads the date of). None when the
    cell gives a date alone, or midnight, which is how a spreadsheet stores a date alone."""
    if isinstance(value, datetime):
        at = value.time().replace(second=0, microsecond=0)
        return at if at != time() else None
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not (_ISO.fullmatch(text) or _US.fullmatch(text)):
        return None
    _day, _sep, rest = text.replace("T", " ", 1).partition(" ")
    if not rest:
        return None
    at = parse_time(re.sub(r"(:\d{2}:\d{2})\.\d+", r"\1", rest))
    return at if at != time() else None


def money_text(value: Any) -> str:
    """An amount as the grant form's amount field reads it ("25000.50"); text such as
    "$25,000.50" is passed on as written, since that field reads dollars and commas itself."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        # A float from a spreadsheet cell: 0.1 + 0.2 shows as 0.3 in Excel, and is meant so.
        try:
            return str(Decimal(repr(value)).quantize(Decimal("0.000001")).normalize())
        except InvalidOperation:
            return repr(value)
    return str(value).strip()


def text_value(value: Any) -> str:
    """A cell as text: 5735550142.0 from a number cell is 5735550142, a date is 2026-03-31."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()
