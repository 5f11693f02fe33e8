"""Forms for the holiday pages: a calendar, and the days it closes."""

from __future__ import annotations

from wtforms import StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from crm.forms import CalendarDateField, CrmForm, DateWithin, NoControlCharacters, RequiredChoice, strip
from crm.organisation_menu import organisation_select

NAME_MAX = 120


def _name_field(label: str, message: str, **kwargs) -> StringField:
    return StringField(
        label,
        filters=[strip],
        validators=[DataRequired(message), Length(max=NAME_MAX), NoControlCharacters()],
        **kwargs,
    )


class NewCalendarForm(CrmForm):
    organisation_id = organisation_select(validators=[RequiredChoice("Choose the organisation the calendar is for.")])
    name = StringField(
        "Name",
        filters=[strip],
        description="Left empty: the organisation's name and “holidays”.",
        validators=[Length(max=NAME_MAX), NoControlCharacters()],
    )


class CalendarForm(CrmForm):
    name = _name_field("Name", "Give the calendar a name.")


class AddHolidaysForm(CrmForm):
    first_day = CalendarDateField("Day, or first day closed", validators=[InputRequired("Enter the day."), DateWithin()])
    last_day = CalendarDateField(
        "Last day closed",
        description="For a closure of several days, such as the week of Christmas; weekends in between are skipped.",
        validators=[Optional(), DateWithin()],
    )
    name = _name_field("Name", "Name the holiday, like “Christmas closure”.")


class HolidayForm(CrmForm):
    day = CalendarDateField("Day", validators=[InputRequired("Enter the day."), DateWithin()])
    name = _name_field("Name", "Name the holiday.")
