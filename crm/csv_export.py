"""CSV export that spreadsheet programs open safely.

Cells are neutralised against formula ("CSV") injection following OWASP: a
text cell whose first character is ``=``, ``+``, ``-``, ``@``, tab or carriage
return gets a leading apostrophe, which Excel and LibreOffice read as "this is
text". NUL is treated the same way (OWASP ASVS 1.2.10). A cell whose first
non-whitespace character is one of ``= + - @`` is neutralised too, because
some importers trim leading spaces before deciding whether a cell is a formula.

Numbers are not neutralised: a negative number is data, not a formula, and an
apostrophe would turn it into text in the spreadsheet.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"

_FORMULA_TRIGGERS: Final = ("=", "+", "-", "@")
_LEADING_TRIGGERS: Final = (*_FORMULA_TRIGGERS, "\t", "\r", "\0")
_UTF8_BOM: Final = "\ufeff".encode()


def neutralise_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return neutralise_cell(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_LEADING_TRIGGERS) or text.lstrip().startswith(_FORMULA_TRIGGERS):
        return "'" + text
    return text


def restored_cell(text: str) -> str:
    """A cell as it was before neutralise_cell, for a file of ours that comes back (the
    import's refused rows, corrected): the apostrophe it added is not part of the value. A value
    that itself began with an apostrophe and then = + - or @ comes back without it: such text is
    rarer than the export's own apostrophe, and the two cannot be told apart."""
    if text.startswith("'") and neutralise_cell(text[1:]) == text:
        return text[1:]
    return text


class _Echo:
    """A file-like sink whose write() hands back what it was given, so csv.writer returns lines."""

    def write(self, line: str) -> str:
        return line


def csv_lines(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header and then each row as one CSV record (ending in CRLF), every cell neutralised."""
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    yield writer.writerow([neutralise_cell(cell) for cell in header])
    for row in rows:
        yield writer.writerow([neutralise_cell(cell) for cell in row])


def csv_response_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """Stream a CSV document as UTF-8 bytes, one chunk per record.

    The first chunk is a UTF-8 byte-order mark: without it Excel assumes the
    legacy ANSI code page and mangles anything outside ASCII. ``rows`` is
    consumed lazily, so a query result can be streamed without loading it all.
    In Flask: ``Response(stream_with_context(csv_response_bytes(h, rows)),
    mimetype=CSV_MEDIA_TYPE)``.
    """
    yield _UTF8_BOM
    for line in csv_lines(header, rows):
        yield line.encode("utf-8")
