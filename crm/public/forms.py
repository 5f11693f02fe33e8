"""The public inquiry form. Every message is a lazy string, so it shows in the page's language.

Cleaning, documented because tests hold us to it: surrounding whitespace is stripped from
every text field (Python's str.strip); nothing inside a name or a message is changed.
The email address is normalised by email-validator, the phone number is reformatted, and the
ZIP code (12345, 12345-6789, 123456789 or 12345 6789) is stored as 12345 or 12345-6789.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectChoice,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, StopValidation, ValidationError

from crm.forms import (
    PHONE_COLUMN_LENGTH,
    EmailAddress,
    NoControlCharacters,
    PhoneNumber,
    RequiredChoice,
    SelectField,
    VisibleText,
    coerce_optional_int,
    strip,
)
from crm.geography.zip_lookup import lookup_zip, normalise_zip
from crm.languages import NATIVE_NAMES
from crm.models.contact_preference import ContactPreference, missing_detail
from crm.public.i18n import WTFormsMessages

NAME_MAX = 200
EMAIL_MAX = 254
PHONE_MAX = PHONE_COLUMN_LENGTH
ZIP_MAX = 10
MESSAGE_MAX = 5000

CONTROL_MESSAGE = _l("Remove the invisible control characters from this field.")
PREFERENCE_LABELS = {
    ContactPreference.EMAIL: _l("Email"),
    ContactPreference.PHONE: _l("Phone call"),
    ContactPreference.TEXT: _l("Text message"),
}
# What to say when the way chosen needs a detail that was left empty (missing_detail).
MISSING_DETAIL_MESSAGES = {
    "email": _l("Enter your email address, so that we can answer you."),
    "phone": _l("Enter your phone number, so that we can call or text you."),
}


class MaxLength(Length):
    """Length that stops the chain: "too long" is the one thing worth saying about such text."""

    def __init__(self, max: int, message) -> None:
        super().__init__(max=max, message=message)

    def __call__(self, form, field) -> None:
        try:
            super().__call__(form, field)
        except ValidationError as error:
            raise StopValidation(str(error)) from None


class MaxLengthOfText(MaxLength):
    """MaxLength for a text area, counting each line break as the one character the person
    sees: browsers send it as CR LF, two."""

    def __call__(self, form, field) -> None:
        if not isinstance(field.data, str):
            return
        length = len(field.data.replace("\r\n", "\n"))
        if length > self.max:
            raise StopValidation(self.message % {"min": self.min, "max": self.max, "length": length})


class SingleLine:
    """A name fits on one line: no line breaks or tabs."""

    def __init__(self, message) -> None:
        self.message = message

    def __call__(self, _form, field) -> None:
        if isinstance(field.data, str) and any(char in field.data for char in "\r\n\t\v\f\x85\u2028\u2029"):
            raise ValidationError(self.message)


class KnownZipCode:
    """Five digits or ZIP+4, and a ZIP that exists; the field's data becomes 12345 or 12345-6789.

    A ZIP outside Missouri is fine: routing sends it to the fallback contact.
    """

    def __call__(self, _form, field) -> None:
        raw = field.data if isinstance(field.data, str) else ""
        zip5 = normalise_zip(raw)
        if zip5 is None:
            raise ValidationError(_l("Enter a ZIP code of five digits, like 63857 or 63857-1234."))
        if lookup_zip(zip5) is None:
            raise ValidationError(_l("We could not find this ZIP code. Please check it."))
        digits = "".join(char for char in raw if char.isdigit())
        field.data = zip5 if len(digits) == 5 else f"{zip5}-{digits[5:]}"


class InquiryForm(FlaskForm):
    class Meta:
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return WTFormsMessages()

    name = StringField(
        _l("Your name"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your name.")),
            VisibleText(_l("Enter your name.")),
            MaxLength(max=NAME_MAX, message=_l("Your name can be at most %(max)d characters.")),
            NoControlCharacters(CONTROL_MESSAGE),
            SingleLine(_l("Write your name on one line.")),
        ],
    )
    contact_preference = RadioField(
        _l("How would you like us to reach you?"),
        choices=[SelectChoice(preference.value, label) for preference, label in PREFERENCE_LABELS.items()],
        default=ContactPreference.EMAIL.value,
        # Not sent at all (a page opened before the question was asked) means email, as
        # then; sent empty or with another value, it is refused.
        invalid_choice_message=_l("Choose email, a phone call or a text message."),
    )
    # Which of the two is required depends on the way chosen (validate, below).
    email = EmailField(
        _l("Email address"),
        filters=[strip],
        description=_l("Needed for an answer by email. For a call or a text message you may leave it empty."),
        validators=[
            MaxLength(max=EMAIL_MAX, message=_l("An email address can be at most %(max)d characters.")),
            NoControlCharacters(CONTROL_MESSAGE),
            EmailAddress(_l("Enter an email address like name@example.org.")),
        ],
    )
    phone = TelField(
        _l("Phone number"),
        filters=[strip],
        description=_l("Needed for a call or a text message."),
        validators=[
            MaxLength(max=PHONE_MAX, message=_l("A phone number can be at most %(max)d characters.")),
            NoControlCharacters(CONTROL_MESSAGE),
            PhoneNumber(message=_l("Enter a phone number like (573) 555-0142, or leave this empty.")),
        ],
    )
    zip_code = StringField(
        _l("ZIP code"),
        filters=[strip],
        description=_l("Five digits, like 63857. It tells us which partner is nearest to you."),
        render_kw={"inputmode": "numeric"},
        validators=[
            DataRequired(_l("Enter your ZIP code.")),
            MaxLength(max=ZIP_MAX, message=_l("Enter a ZIP code of five digits, like 63857 or 63857-1234.")),
            KnownZipCode(),
        ],
    )
    topic = SelectField(
        _l("What is your message about?"),
        coerce=coerce_optional_int,
        invalid_choice_message=_l("Choose what your message is about."),
        validators=[RequiredChoice(_l("Choose what your message is about."))],
    )
    language = RadioField(
        _l("Which language should we answer in?"),
        choices=[SelectChoice(code, label) for code, label in NATIVE_NAMES.items()],
        default="en",
        invalid_choice_message=_l("Choose English or Spanish."),
        validators=[InputRequired(_l("Choose English or Spanish."))],
    )
    message = TextAreaField(
        _l("Your message"),
        filters=[strip],
        description=_l("Up to 5,000 characters. Please leave out medical details you would not put in an email."),
        render_kw={"rows": 7},
        validators=[
            DataRequired(_l("Write your message.")),
            VisibleText(_l("Write your message.")),
            MaxLengthOfText(max=MESSAGE_MAX, message=_l("Your message can be at most %(max)d characters. Please shorten it.")),
            NoControlCharacters(CONTROL_MESSAGE),
        ],
    )
    consent = BooleanField(
        _l("I agree that the initiative and its partners may contact me about this message."),
        validators=[DataRequired(_l("Tick this box so that we may contact you."))],
    )
    # The honeypot (spam.HONEYPOT_FIELD): never shown to people; the view reads it, no validator does.
    website = StringField(_l("Leave this field empty"))
    rendered = HiddenField()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.contact_preference.errors:
            return valid
        missing = missing_detail(self.preference, self.email.data or "", self.phone.data or "")
        if missing is None or self[missing].errors:
            return valid
        self[missing].errors.append(MISSING_DETAIL_MESSAGES[missing])
        return False

    @property
    def preference(self) -> ContactPreference:
        """The way chosen, once the form is valid."""
        return ContactPreference(self.contact_preference.data)

    def set_topics(self, choices: list[tuple[int, str]], placeholder: str) -> None:
        self.topic.choices = [SelectChoice("", placeholder)] + [SelectChoice(str(value), label) for value, label in choices]
