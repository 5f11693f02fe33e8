"""Managers' review: the report page, a CSV per table and an SVG chart per table."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, render_template, request
from wtforms.validators import Optional

from crm.auth.permissions import Access, requires
from crm.csv_export import CSV_MEDIA_TYPE, csv_response_bytes
from crm.database import utcnow
from crm.forms import EARLIEST_DATE, CalendarDateField, CrmForm, DateWithin
from crm.reports import services
from crm.reports.charts import bar_chart
from crm.reports.common import format_cell
from crm.timezones import display_timezone, local_time

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.add_app_template_filter(format_cell, "report_cell")

SVG_MEDIA_TYPE = "image/svg+xml"
CHART_ROWS = 25  # a ranked chart draws the largest rows; the table beside it lists them all
MONTH_CHART_ROWS = 240  # twenty years of months


_FROM = CalendarDateField("From", validators=[Optional(), DateWithin()])


class PeriodForm(CrmForm):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD; either left out takes its default (the last 90 days)."""

    class Meta:
        csrf = False  # a GET form that changes nothing

    to = CalendarDateField("To", validators=[Optional(), DateWithin()])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        start, end = self["from"].data, self.to.data
        if start is not None and end is not None and end < start:
            self.to.errors.append("The end date must be on or after the start date.")
            return False
        return True


# "from" is a Python keyword, so the field is attached by name; _FROM was made first, so it
# still renders and reports its errors before "to".
setattr(PeriodForm, "from", _FROM)  # noqa: B010


def _read_period() -> tuple[PeriodForm, services.Period | None]:
    """The form for the query string and the period it names, or None when it has errors."""
    form = PeriodForm(request.args)
    if not form.validate():
        return form, None
    timezone = display_timezone()
    today: date = local_time(utcnow()).date()
    default = services.default_period(today, timezone)
    start, end = form["from"].data, form.to.data
    if start is None and end is None:
        period = default
    elif start is None:
        # Ninety days back may fall before the dates the form takes, and the page's own links
        # to its charts and CSVs, which carry the period, would then be refused.
        period = services.Period(max(services.default_period(end, timezone).start, EARLIEST_DATE), end, timezone)
    elif end is None:
        period = services.Period(start, max(start, today), timezone)
    else:
        period = services.Period(start, end, timezone)
    form["from"].data, form.to.data = period.start, period.end
    return form, period


def _period_or_400() -> services.Period:
    form, period = _read_period()
    if period is None:
        messages = [error for field in form for error in field.errors]
        abort(400, description=" ".join(messages))
    return period


def _table_or_404(name: str, period: services.Period, limit: int | None = None) -> services.Table:
    if name not in services.TABLE_NAMES:
        abort(404)
    return services.build_table(name, period, utcnow(), limit)


@bp.route("/")
@requires(Access.MANAGER)
def index():
    form, period = _read_period()
    if period is None:
        return render_template("reports/index.html", form=form, report=None), 422
    report = services.build_report(period, utcnow())
    return render_template(
        "reports/index.html", form=form, report=report, args=period.query_args(), timezone=period.timezone
    )


@bp.route("/export/<name>.csv")
@requires(Access.MANAGER)
def export(name: str):
    period = _period_or_400()
    table = _table_or_404(name, period)
    filename = f"{table.name.replace('_', '-')}-{period.start.isoformat()}-to-{period.end.isoformat()}.csv"
    return Response(
        b"".join(csv_response_bytes(table.columns, table.rows)),
        content_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/chart/<name>.svg")
@requires(Access.MANAGER)
def chart(name: str):
    period = _period_or_400()
    table = _table_or_404(name, period, limit=CHART_ROWS)
    limit = CHART_ROWS if table.ranked else MONTH_CHART_ROWS
    title = table.title
    if table.row_count > limit:
        title += f" (largest {limit})" if table.ranked else f" (first {limit} months)"
    svg = bar_chart(
        title,
        table.chart_points(limit),
        unit=table.chart_unit,
        empty="No inquiries in this period",
    )
    return Response(svg, mimetype=SVG_MEDIA_TYPE)
