"""Messages a person understands: WTForms' stock wording never reaches a staff page, and a date
from <input type=date> is judged without describing a format the browser does not show."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date

import pytest
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

import crm
from crm.forms import CalendarDateField, CrmForm, DateWithin, optional_id

# The family's public forms (the inquiry form, the status look-up) speak Spanish too and word
# every message themselves.
OWN_BASE = {"crm.public.forms", "crm.family.forms"}


def _all_form_classes() -> list[type]:
    for module in pkgutil.walk_packages(crm.__path__, "crm."):
        importlib.import_module(module.name)
    found, todo = [], [FlaskForm]
    while todo:
        for subclass in todo.pop().__subclasses__():
            todo.append(subclass)
            if subclass.__module__.startswith("crm.") and subclass is not CrmForm:
                found.append(subclass)
    return found


def test_every_staff_form_uses_the_plain_messages():
    outside = [
        f"{form.__module__}.{form.__name__}"
        for form in _all_form_classes()
        if form.__module__ not in OWN_BASE and not issubclass(form, CrmForm)
    ]
    assert outside == []


class Sample(CrmForm):
    class Meta:
        csrf = False

    summary = StringField("Summary", validators=[Length(max=10000)])
    code = StringField("Code", validators=[Optional(), Length(min=3)])
    topic = SelectField("Topic", coerce=optional_id, choices=[("", "None"), (1, "Media")])
    kind = SelectField("Kind", choices=[("a", "A")])
    priority = IntegerField("Priority", validators=[Optional(), NumberRange(0, 10000)])
    day = CalendarDateField("Day", validators=[Optional(), DateWithin()])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("summary", "x" * 10001, "Keep this to 10,000 characters or fewer."),
        ("code", "ab", "Write at least 3 characters."),
        ("topic", "media", "Choose from the list."),
        ("topic", "7", "Choose from the list."),
        ("kind", "b", "Choose from the list."),
        ("priority", "soon", "Enter a whole number."),
        ("priority", "10001", "Enter a number from 0 to 10000."),
        ("day", "2026-02-31", "That date does not exist."),
        ("day", "31/03/2026", "Enter a real date."),
        ("day", "0001-01-01", "Enter a date between 2000 and 2099."),
        ("day", "9999-12-31", "Enter a date between 2000 and 2099."),
    ],
)
def test_messages_are_plain(app_context, field, value, message):
    form = Sample(MultiDict({"kind": "a", field: value}))
    assert not form.validate()
    assert form.errors[field][0] == message


def test_a_date_from_the_picker_is_read(app_context):
    form = Sample(MultiDict({"kind": "a", "day": "2026-03-31"}))
    assert form.validate(), form.errors
    assert form.day.data == date(2026, 3, 31)
