import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from wtforms import StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from crm.forms import (
    CalendarDateField,
    CrmForm,
    DateWithin,
    NoControlCharacters,
    RequiredChoice,
    SelectField,
    strip,
)
from crm.grants.services import CENT, DUE_SOON_DAYS
from crm.models import GrantStatus
from crm.organisation_menu import organisation_select

MAX_AMOUNT = Decimal(10) ** 12
# Years a grant or report date may fall in; anything outside is a typo, not a grant.
FIRST_YEAR, LAST_YEAR = 1990, 2100
# A final report is often due some months after the grant ends; a year is the outside limit.
REPORT_GRACE = timedelta(days=366)
MAX_REPORTS = 60
DATE_HINT = "YYYY-MM-DD, e.g. 2026-06-30"


class AmountField(StringField):
    """Dollars and cents as typed ("25000", "$25,000.50"); `data` is a Decimal, or None when empty."""

    # A comma only between groups of three digits: "25000,50" (a decimal comma, as a spreadsheet
    # in another locale writes it) is refused, not read as $2,500,050.
    _number = re.compile(r"^-?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?$")

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            return
        cleaned = text.removeprefix("$").strip()
        if len(cleaned) > 40 or not self._number.match(cleaned):
            raise ValueError("Enter the amount in dollars, like 25000 or 25,000.50.")
        try:
            self.data = Decimal(cleaned.replace(",", ""))
        except InvalidOperation:
            raise ValueError("Enter the amount in dollars, like 25000 or 25,000.50.") from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:.2f}" if self.data is not None else ""


def parse_due_dates(text: str) -> dict[date, int]:
    """One date per line, blank lines skipped: each date and the first line it is on, in date order.

    Raises ValueError naming the first bad line."""
    found: dict[date, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        shown = line if len(line) <= 30 else line[:30] + "…"
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", line):
            raise ValueError(f"Line {number} (“{shown}”) is not a date written as {DATE_HINT}.")
        try:
            due = date.fromisoformat(line)
        except ValueError:
            raise ValueError(f"Line {number} (“{shown}”) is not a real date.") from None
        if not FIRST_YEAR <= due.year <= LAST_YEAR:
            raise ValueError(f"Line {number} ({line}) must be a date between {FIRST_YEAR} and {LAST_YEAR}.")
        found.setdefault(due, number)
        if len(found) > MAX_REPORTS:
            raise ValueError(f"Enter at most {MAX_REPORTS} report dates.")
    return dict(sorted(found.items()))


class DueDatesField(TextAreaField):
    """Report due dates typed one per line; `data` is a sorted list of dates, `lines` the line each came from."""

    lines: dict[date, int]

    def process_data(self, value):
        self.data = sorted(value or [])
        self.lines = {}

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data, self.lines = [], {}
        if len(valuelist[0]) > 2000:
            raise ValueError(f"Enter at most {MAX_REPORTS} report dates.")
        self.lines = parse_due_dates(valuelist[0])
        self.data = list(self.lines)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "\n".join(due.isoformat() for due in self.data or [])


SENSIBLE_DATE = DateWithin(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31))


class GrantForm(CrmForm):
    organisation_id = organisation_select(validators=[RequiredChoice("Choose the organisation receiving the grant.")])
    program = StringField("Program", filters=[strip], validators=[InputRequired("Enter the program this grant funds."), Length(max=200), NoControlCharacters()])
    amount = AmountField(
        "Amount",
        validators=[InputRequired("Enter the amount of the grant.")],
        render_kw={"inputmode": "decimal"},
    )
    start_date = CalendarDateField("Start date", validators=[InputRequired("Enter the start date."), SENSIBLE_DATE])
    end_date = CalendarDateField("End date", validators=[InputRequired("Enter the end date."), SENSIBLE_DATE])
    status = SelectField(
        "Status",
        choices=[SelectChoice(status.value, status.label) for status in GrantStatus],
        default=GrantStatus.ACTIVE.value,
        invalid_choice_message="Choose a status from the list.",
    )
    report_dates = DueDatesField(
        "Report due dates",
        description=(
            "One date per line, YYYY-MM-DD. Each must fall on or after the start date and no more "
            "than a year after the end date, so a final report can be due after the grant ends."
        ),
    )
    notes = TextAreaField("Notes", filters=[strip], validators=[Optional(), Length(max=5000), NoControlCharacters()])

    def validate_amount(self, field):
        amount = field.data
        if amount is None:
            return
        if amount <= 0:
            raise ValidationError("The amount must be more than $0.")
        if amount != amount.quantize(CENT):
            raise ValidationError("Use at most two decimal places (whole cents).")
        if amount >= MAX_AMOUNT:
            raise ValidationError("The amount must be less than $1,000,000,000,000.")

    def validate_end_date(self, field):
        start = self.start_date.data
        if start is not None and field.data is not None and field.data < start:
            raise ValidationError("The end date can't be before the start date.")

    def validate_report_dates(self, field):
        start, end = self.start_date.data, self.end_date.data
        if field.errors or start is None:
            return
        # An end date the form refused (9999-12-31 has no year of grace after it) sets no limit.
        latest = end + REPORT_GRACE if end is not None and not self.end_date.errors and end >= start else None
        for due in field.data or []:
            where = f"Line {field.lines[due]} ({due.isoformat()})" if due in field.lines else due.isoformat()
            if due < start:
                raise ValidationError(f"{where} is before the grant starts on {start.isoformat()}.")
            if latest is not None and due > latest:
                raise ValidationError(f"{where} is more than a year after the grant ends on {end.isoformat()}.")


class GrantFilterForm(CrmForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    organisation = SelectField("Organisation", default="")
    status = SelectField(
        "Status",
        choices=[SelectChoice("", "Any status")] + [SelectChoice(status.value, status.label) for status in GrantStatus],
        default="",
    )
    reports = SelectField(
        "Reports",
        choices=[
            SelectChoice("", "Any"),
            SelectChoice("due_soon", f"Due within {DUE_SOON_DAYS} days or overdue"),
            SelectChoice("overdue", "Overdue"),
        ],
        default="",
    )
