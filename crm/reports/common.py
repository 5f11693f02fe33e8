"""What every table of the report shares: the period it covers, the table itself, the groups
the figures are broken down by (the inquiry's county and language) and a breakdown of
figures into them.

The report's statements are built once per process, or once per shape (the dialect, the
dimensions counted, the number of months): each builder is cached, and what changes from one
request to the next (the period's bounds, ``now``, the months' bounds) is sent as parameters
(PERIOD_STARTS_AT, PERIOD_ENDS_BEFORE and NOW here, their values from period_parameters).
Built afresh at every request, the statements and the working out of their cache keys cost
more than reading their rows. A value that lets PostgreSQL pick a partial index (the open
statuses, crm.models.inquiry.open_clause) stays written into the SQL, as a generic plan of a
prepared statement knows no parameter."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import ColumnElement, Select, TextClause, Values, bindparam, column, select, text, values

from crm.extensions import db
from crm.languages import LANGUAGES
from crm.models import County, Inquiry
from crm.models.inquiry_status import InquiryStatus

DEFAULT_DAYS = 90

NO_COUNTY = "Outside Missouri or unknown"

Kind = Literal["text", "count", "hours", "percent"]

NO_FIGURE = Markup('<span aria-hidden="true">–</span><span class="visually-hidden">no figure</span>')


def format_cell(value: Any, kind: Kind) -> Any:
    """A figure as the page shows it (the report_cell filter): a filter, not a macro, because a
    county table has a thousand cells and a macro call costs many times a function's."""
    if value is None:
        return NO_FIGURE
    if kind == "count":
        return f"{value:,}"
    if kind == "hours":
        return f"{value:.1f}"
    if kind == "percent":
        return f"{value:.1f}%"
    return value  # text, escaped by the template


# --- the period ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Received dates from ``start`` to ``end``, both included, in the display timezone."""

    start: date
    end: date
    timezone: str = "America/Chicago"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def ends_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)

    def months(self) -> list[date]:
        """The first day of every calendar month the period touches."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months

    def month_boundaries(self) -> list[datetime]:
        """The UTC instants at which the second and later months begin."""
        return [datetime.combine(month, time(0), tzinfo=self.zone).astimezone(UTC) for month in self.months()[1:]]

    def month_ranges(self) -> list[tuple[date, datetime, datetime]]:
        """Each month the period touches: its first day, and the UTC instants at which its part
        of the period starts and ends (exclusive)."""
        boundaries = self.month_boundaries()
        return list(zip(self.months(), [self.starts_at, *boundaries], [*boundaries, self.ends_before], strict=True))

    def query_args(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def default_period(today: date, timezone: str) -> Period:
    return Period(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today, timezone=timezone)


# --- tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One report: rows of a text label and numbers, drawn as a chart of one column."""

    name: str
    title: str
    columns: tuple[str, ...]
    kinds: tuple[Kind, ...]
    rows: list[tuple[Any, ...]]
    chart_column: int = 1
    note: str = ""
    # Ranked tables run largest first and chart only their top rows; the month table runs in time order.
    ranked: bool = True
    # How many rows the page shows; the CSV always has them all.
    page_limit: int | None = None
    # How many rows there are in all, when the query stopped at a limit.
    total_rows: int | None = None

    @property
    def row_count(self) -> int:
        return len(self.rows) if self.total_rows is None else self.total_rows

    @property
    def shown_rows(self) -> list[tuple[Any, ...]]:
        """The rows the page shows (page_limit)."""
        return self.rows[: self.page_limit] if self.page_limit else self.rows

    def shown_cells(self) -> Iterator[tuple[Any, list[tuple[Any, bool]]]]:
        """shown_rows as the page draws them: each row's label, and its other cells formatted
        (format_cell), each with whether it is a figure. Worked out here, not in the template:
        the template's loop over a thousand cells, looking up each cell's kind by its index,
        cost more than the formatting."""
        kinds = self.kinds[1:]
        is_figure = [kind != "text" for kind in kinds]
        for label, *cells in self.shown_rows:
            yield label, [(format_cell(value, kind), figure) for value, kind, figure in zip(cells, kinds, is_figure, strict=True)]

    @property
    def chart_unit(self) -> str:
        return {"hours": "business hours", "percent": "%"}.get(self.kinds[self.chart_column], "")

    def chart_points(self, limit: int | None = None) -> list[tuple[str, float]]:
        points = [(str(row[0]), row[self.chart_column]) for row in self.rows if row[self.chart_column] is not None]
        return points[:limit] if limit else points


# The parameters of the report's statements (module docstring); period_parameters gives their values.
PERIOD_STARTS_AT = bindparam("period_starts_at", type_=Inquiry.received_at.type)
PERIOD_ENDS_BEFORE = bindparam("period_ends_before", type_=Inquiry.received_at.type)
NOW = bindparam("now", type_=Inquiry.received_at.type)


def period_parameters(period: Period, now: datetime | None = None) -> dict[str, datetime]:
    """The values of PERIOD_STARTS_AT and PERIOD_ENDS_BEFORE for ``period``, and of NOW when given."""
    parameters = {PERIOD_STARTS_AT.key: period.starts_at, PERIOD_ENDS_BEFORE.key: period.ends_before}
    if now is not None:
        parameters[NOW.key] = now
    return parameters


# A table of rows known only per request (a period's months, the waits measured now), as
# VALUES whose every cell is a parameter, so that one statement serves every request with as
# many rows: its columns as (name, type) pairs.
Columns = tuple[tuple[str, Any], ...]


def bound_values(name: str, columns: Columns, rows: int) -> Values:
    """VALUES of ``rows`` rows of ``columns``, the cell of row n and column c the parameter
    ``<name>_<n>_<c>`` (bound_values_parameters gives them)."""
    cells = [tuple(bindparam(f"{name}_{number}_{key}", type_=type_) for key, type_ in columns) for number in range(rows)]
    return values(*(column(key, type_) for key, type_ in columns), name=name).data(cells)


def bound_values_parameters(name: str, columns: Columns, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The values of bound_values' parameters for these ``rows``, one value per column each."""
    return {
        f"{name}_{number}_{key}": value
        for number, row in enumerate(rows)
        for (key, _type), value in zip(columns, row, strict=True)
    }


def in_period() -> list[ColumnElement[bool]]:
    """Received in the period (PERIOD_STARTS_AT, PERIOD_ENDS_BEFORE), and not spam: every figure
    but the open load."""
    return [
        Inquiry.received_at >= PERIOD_STARTS_AT,
        Inquiry.received_at < PERIOD_ENDS_BEFORE,
        Inquiry.status != InquiryStatus.SPAM,
    ]


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


# What PostgreSQL may sort in memory for the report: the percentile sorts of a year's inquiries
# need about 20 MB, past the default work_mem of 4 MB, and spill to temporary files without it.
SORT_MEMORY = "32MB"


@cache
def _sort_memory_statement() -> TextClause:
    """Built once per process, as the report's other statements are (module docstring)."""
    return text(
        "SELECT set_config('work_mem', :memory, true) "
        "WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes(:memory)"
    )


def allow_sort_memory() -> None:
    """PostgreSQL: let the rest of this transaction (the report's statements) sort in SORT_MEMORY,
    unless work_mem is set higher already; the setting ends with the transaction."""
    db.session.execute(_sort_memory_statement(), {"memory": SORT_MEMORY})


@cache
def _county_names_statement() -> Select:
    """Built once per process, as the report's other statements are (module docstring)."""
    return select(County.fips, County.name)


def county_names() -> dict[str, str]:
    return dict(db.session.execute(_county_names_statement()).all())


def county_label(fips: str | None, names: dict[str, str]) -> str:
    return names.get(fips, fips) if fips else NO_COUNTY


def language_label(code: str) -> str:
    return LANGUAGES.get(code, code)


# --- figures by group --------------------------------------------------------------------------

Figures = TypeVar("Figures")


@dataclass(frozen=True)
class Breakdown(Generic[Figures]):  # noqa: UP046  (Python 3.11 has no class Breakdown[Figures])
    """Figures for the whole period, per county (by name) and per language (by name)."""

    overall: Figures
    by_county: dict[str, Figures]
    by_language: dict[str, Figures]


def breakdown_in_python(
    rows: Sequence[tuple[Any, ...]], figures_of: Callable[[list[tuple[Any, ...]]], Figures]
) -> Breakdown[Figures]:
    """SQLite, which has no percentile_cont: rows of (county_fips, language, *measured) grouped
    here, and each group's measurements handed to ``figures_of`` (which also takes none)."""
    names = county_names() if rows else {}
    counties: dict[str, list[tuple[Any, ...]]] = {}
    languages: dict[str, list[tuple[Any, ...]]] = {}
    for county, language, *measured in rows:
        counties.setdefault(county_label(county, names), []).append(tuple(measured))
        languages.setdefault(language_label(language), []).append(tuple(measured))
    return Breakdown(
        overall=figures_of([tuple(measured) for _county, _language, *measured in rows]),
        by_county={label: figures_of(group) for label, group in counties.items()},
        by_language={label: figures_of(group) for label, group in languages.items()},
    )
