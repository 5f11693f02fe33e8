"""Form pieces every feature shares: cleaning filters, validators and fields."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date

import phonenumbers
import wtforms
from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import DateField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation, ValidationError

# Control characters have no place in a name or a note; tabs and newlines are fine in text areas.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip(value):
    return value.strip() if isinstance(value, str) else value


def strip_lower(value):
    return value.strip().lower() if isinstance(value, str) else value


class NoControlCharacters:
    def __init__(self, message: str = "Remove the invisible control characters from this field.") -> None:
        self.message = message

    def __call__(self, _form, field) -> None:
        data = field.data
        if isinstance(data, str) and (_CONTROL.search(data) or _has_unpaired_surrogate(data)):
            raise ValidationError(self.message)


def _has_unpaired_surrogate(text: str) -> bool:
    return any(unicodedata.category(char) == "Cs" for char in text)


class VisibleText:
    """Text someone can read: not only spaces and invisible format characters (a zero-width
    space, a direction mark), which str.strip leaves and DataRequired takes for text. Empty
    text is DataRequired's to refuse."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, _form, field) -> None:
        data = field.data
        if isinstance(data, str) and data and not any(_visible(char) for char in data):
            raise ValidationError(self.message)


def _visible(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) != "Cf"


class EmailAddress:
    """An email address with a real-looking domain; DNS is not asked, so it works offline."""

    def __init__(self, message: str = "Enter an email address like name@example.org.") -> None:
        self.message = message

    def __call__(self, _form, field) -> None:
        if not field.data:
            return
        try:
            field.data = validate_email(field.data, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValidationError(self.message) from None


# Every phone column's length. Formatting can lengthen what was typed (a long extension becomes
# " ext. ..."), so the formatted number is held to it, not only the typed one.
PHONE_COLUMN_LENGTH = 40


class PhoneNumber:
    """A phone number that libphonenumber accepts, stored in a readable national/international form."""

    def __init__(self, region: str = "US", message: str = "Enter a phone number like (573) 555-0142.") -> None:
        self.region = region
        self.message = message

    def __call__(self, _form, field) -> None:
        if not field.data:
            return
        try:
            number = phonenumbers.parse(field.data, self.region)
        except phonenumbers.NumberParseException:
            raise ValidationError(self.message) from None
        if not phonenumbers.is_valid_number(number):
            raise ValidationError(self.message)
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if phonenumbers.region_code_for_number(number) == self.region
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        formatted = phonenumbers.format_number(number, style)
        if len(formatted) > PHONE_COLUMN_LENGTH:
            raise ValidationError(self.message)
        field.data = formatted


class WebAddress:
    """An http(s) address; a bare domain gets https:// in front."""

    _pattern = re.compile(r"^https?://[^\s/$.?#][^\s]*\.[^\s]{2,}$", re.IGNORECASE)

    def __init__(self, message: str = "Enter a web address like https://example.org.") -> None:
        self.message = message

    def __call__(self, _form, field) -> None:
        if not field.data:
            return
        value = field.data
        if "://" not in value:
            value = "https://" + value
        if not self._pattern.match(value) or len(value) > 300:
            raise ValidationError(self.message)
        field.data = value


class RequiredChoice:
    """For select fields whose empty choice means 'nothing picked'."""

    def __init__(self, message: str = "Choose one.") -> None:
        self.message = message
        self.field_flags = {"required": True}

    def __call__(self, _form, field) -> None:
        if field.data in (None, "", "__None"):
            raise StopValidation(self.message)


class Select(widgets.Select):
    """WTForms' select widget, writing its options in one pass.

    The assign and filter menus hold hundreds of contacts, and WTForms builds every option
    through html_params and Markup.format, which adds up on an inbox page. This
    writes the same HTML (tests/unit/test_select_widget.py compares the two) with one escape
    per value and label. An option with attributes of its own (render_kw, such as disabled)
    is rare and goes through WTForms' render_option unchanged.
    """

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        if self.multiple:
            kwargs["multiple"] = True
        flags = getattr(field, "flags", {})
        for flag in dir(flags):
            if flag in self.validation_attrs and flag not in kwargs:
                kwargs[flag] = getattr(flags, flag)
        html = [f"<select {widgets.html_params(name=field.name, **kwargs)}>"]
        if field.has_groups():
            for group, choices in field.iter_groups():
                if group is not None:
                    html.append(f"<optgroup {widgets.html_params(label=group)}>")
                self._options(html, choices)
                if group is not None:
                    html.append("</optgroup>")
        else:
            self._options(html, field.iter_choices())
        html.append("</select>")
        return Markup("".join(html))  # noqa: S704  (every value and label above is escaped)

    @classmethod
    def _options(cls, html: list[str], choices) -> None:
        for choice in choices:
            if choice.render_kw:
                html.append(cls.render_option(choice))
                continue
            value = str(choice.value) if isinstance(choice.value, bool) else choice.value
            html.append('<option selected value="' if choice.selected else '<option value="')
            # As html_params: escape() writes a quote as &#34;, and a quote already inside
            # Markup becomes &quot;.
            html.append(str(escape(value)).replace('"', "&quot;"))
            html.append('">')
            html.append(escape(choice.label or choice.value))
            html.append("</option>")


class SelectField(wtforms.SelectField):  # noqa: TID251  (the one subclass)
    """The app's select field: WTForms' SelectField with the faster Select widget."""

    widget = Select()


class SelectMultipleField(wtforms.SelectMultipleField):  # noqa: TID251  (the one subclass)
    widget = Select(multiple=True)


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def optional_id(value):
    """An id from a select: None for the empty choice; anything but a plain number is refused,
    which WTForms reports at the field."""
    if value in (None, "", "__None"):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    raise ValueError(value)


def with_empty_choice(label: str, choices: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """A menu's choices from (value, label) pairs, after an empty one that means none, or in a
    filter any. A filter's values need not be strings: its select coerces them to compare."""
    return [SelectChoice("", label), *(SelectChoice(value, text) for value, text in choices)]


def id_select(label: str, message: str, **kwargs) -> SelectField:
    """A menu of records by id (see optional_id). A value that is no id and an id not on the
    menu get the same message: to the person both are simply not one of the choices."""
    return SelectField(label, coerce=optional_id, invalid_value_message=message, invalid_choice_message=message, **kwargs)


def coerce_optional_int(value):
    """Lenient twin of optional_id for public forms: garbage counts as nothing picked, so the
    person sees the translated "choose one" message rather than a coercion error."""
    if value in (None, "", "__None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- dates -------------------------------------------------------------------------------

# Dates typed into filters fall in these years, the reports page's rule: nobody looks further
# back or ahead, and datetime arithmetic near year 1 or 9999 overflows.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class CalendarDateField(DateField):
    """A date from <input type=date>. The browser shows the date in its own format (mm/dd/yyyy
    in the US) and sends YYYY-MM-DD, so messages never describe a format the person cannot
    see: a well-formed date that is not on the calendar "does not exist", anything else is
    "not a real date"."""

    def process_formdata(self, valuelist):
        self.data = None
        text = valuelist[0].strip() if valuelist and isinstance(valuelist[0], str) else ""
        if not text:
            return
        if not _ISO_DATE.fullmatch(text):
            raise ValueError("Enter a real date.")
        try:
            self.data = date.fromisoformat(text)
        except ValueError:
            raise ValueError("That date does not exist.") from None


class DateWithin:
    """A date between two others, both included; by default the years filters accept."""

    def __init__(self, earliest: date = EARLIEST_DATE, latest: date = LATEST_DATE, message: str | None = None) -> None:
        self.earliest = earliest
        self.latest = latest
        self.message = message or f"Enter a date between {earliest.year} and {latest.year}."

    def __call__(self, _form, field) -> None:
        if field.data is not None and not self.earliest <= field.data <= self.latest:
            raise ValidationError(self.message)


# --- WTForms' own messages, in plain words ------------------------------------------------

# Every staff form inherits CrmForm, so a validator or field left on WTForms' default message
# ("Invalid Choice: could not coerce.", "Field cannot be longer than 10000 characters.") says
# it the way our own messages do. Placeholders WTForms fills in afterwards stay as they are.
PLAIN_MESSAGES = {
    "Invalid Choice: could not coerce.": "Choose from the list.",
    "Not a valid choice.": "Choose from the list.",
    "Invalid choice(s): one or more data inputs could not be coerced.": "Choose from the list.",
    "'%(value)s' is not a valid choice for this field.": "Choose from the list.",
    "'%(value)s' are not valid choices for this field.": "Choose from the list.",
    "Not a valid date value.": "Enter a real date.",
    "Not a valid datetime value.": "Enter a real date and time.",
    "Not a valid time value.": "Enter a real time, like 14:30.",
    "Not a valid integer value.": "Enter a whole number.",
    "Not a valid decimal value.": "Enter a number.",
    "Not a valid float value.": "Enter a number.",
    "Number must be between %(min)s and %(max)s.": "Enter a number from %(min)s to %(max)s.",
    "Number must be at least %(min)s.": "Enter %(min)s or more.",
    "Number must be at most %(max)s.": "Enter %(max)s or less.",
    "Field must be between %(min)d and %(max)d characters long.": "Write from %(min)d to %(max)d characters.",
    "Invalid email address.": "Enter an email address like name@example.org.",
    "Invalid URL.": "Enter a web address like https://example.org.",
}
# Messages with a count: the count is written with thousands separators.
PLAIN_COUNTED_MESSAGES = {
    "Field cannot be longer than %(max)d characters.": "Keep this to {count:,} characters or fewer.",
    "Field must be at least %(min)d characters long.": "Write at least {count:,} characters.",
    "Field must be exactly %(max)d characters long.": "Enter exactly {count:,} characters.",
}


class PlainMessages:
    """WTForms translations that turn its stock English messages into ours."""

    def gettext(self, string: str) -> str:
        return PLAIN_MESSAGES.get(string, string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        if plural in PLAIN_COUNTED_MESSAGES:
            return PLAIN_COUNTED_MESSAGES[plural].format(count=n)
        return self.gettext(singular if n == 1 else plural)


class CrmForm(FlaskForm):
    """The base of every staff form (the public form keeps Flask-WTF's, which speaks Spanish)."""

    class Meta:
        def get_translations(self, form):
            return PlainMessages()
