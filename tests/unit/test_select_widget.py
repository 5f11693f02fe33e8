"""crm.forms.Select writes exactly the HTML of WTForms' own Select widget, only faster."""

from __future__ import annotations

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import Form, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from crm.forms import Select, SelectField, SelectMultipleField, optional_id
from tests.unit.test_csv_export import NAUGHTY

TRICKY = '<b>"Tom" & \'Jerry\'</b>'

CHOICE_SETS = {
    "ids with an empty choice": [SelectChoice("", "Anyone"), SelectChoice(1, "Ann"), SelectChoice(22, "Bo")],
    "strings": [SelectChoice("open", "Open"), SelectChoice("closed", "Closed")],
    "escaping": [SelectChoice(TRICKY, TRICKY), SelectChoice("a&b", "<i>x</i>"), SelectChoice("'", '"')],
    "markup": [SelectChoice(Markup('say "hi"'), Markup("<em>safe</em>")), SelectChoice(Markup("&amp;"), "&amp;")],
    "empty and missing labels": [SelectChoice(0, ""), SelectChoice("x"), SelectChoice(7, None)],
    "booleans": [SelectChoice(True, "Yes"), SelectChoice(False, "No")],
    "render_kw": [SelectChoice("", "Choose", render_kw={"disabled": True}), SelectChoice(3, "Three", render_kw={"data_x": 'a"b'})],
    "optgroups": [
        SelectChoice(1, "Ann", optgroup="Staff"),
        SelectChoice(2, "Bo", optgroup="Staff"),
        SelectChoice(3, "Cy", optgroup='<Partners & "co">'),
    ],
    "naughty strings": [SelectChoice(text, text) for text in NAUGHTY],
}


def _field(field_class, choices, data, coerce, **field_kwargs):
    class ThisForm(Form):
        field = field_class("Field", coerce=coerce, **field_kwargs)

    form = ThisForm(formdata=MultiDict(data)) if isinstance(data, list) else ThisForm(field=data)
    form.field.choices = choices
    return form.field


def _both(field_class, wtforms_widget, choices, data, coerce=str, **field_kwargs) -> tuple[str, str]:
    ours = _field(field_class, choices, data, coerce, **field_kwargs)
    theirs = _field(field_class, choices, data, coerce, widget=wtforms_widget, **field_kwargs)
    assert type(ours.widget) is Select
    return str(ours(class_="menu", aria_describedby="hint")), str(theirs(class_="menu", aria_describedby="hint"))


@pytest.mark.parametrize("shape", CHOICE_SETS)
@pytest.mark.parametrize("selected", ["none", "first", "last"])
def test_select_renders_as_wtforms_does(shape: str, selected: str) -> None:
    choices = CHOICE_SETS[shape]
    data = {"none": None, "first": choices[0].value, "last": choices[-1].value}[selected]

    ours, theirs = _both(SelectField, widgets.Select(), choices, data)

    assert ours == theirs
    assert ours.count("<option") == len(choices)


@pytest.mark.parametrize(("posted", "selected"), [("22", 22), ("", None), ("9", None)])
def test_int_ids_are_selected_after_coercion_as_wtforms_selects_them(posted: str, selected: int | None) -> None:
    choices = CHOICE_SETS["ids with an empty choice"]

    ours, theirs = _both(SelectField, widgets.Select(), choices, [("field", posted)], coerce=optional_id)

    assert ours == theirs
    if selected is not None:
        assert f'<option selected value="{selected}">' in ours


def test_required_flag_and_multiple_selection_render_as_wtforms_does() -> None:
    choices = CHOICE_SETS["ids with an empty choice"][1:]

    ours, theirs = _both(
        SelectMultipleField,
        widgets.Select(multiple=True),
        choices,
        [("field", "1"), ("field", "22")],
        coerce=int,
        validators=[InputRequired()],
    )

    assert ours == theirs
    assert ours.count("<option selected") == 2
    assert " multiple " in ours
    assert " required" in ours
