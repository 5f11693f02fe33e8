"""The /status form. Every message is a lazy string, so it shows in the page's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired

from crm.forms import EmailAddress, NoControlCharacters, strip
from crm.public.forms import CONTROL_MESSAGE, EMAIL_MAX, MaxLength

REFERENCE_MAX = 20


class StatusForm(FlaskForm):
    reference = StringField(
        _l("Reference number"),
        filters=[strip],
        description=_l("It starts with IM-, like IM-7K3P9Q. It is in the email we sent you."),
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
        validators=[
            DataRequired(_l("Enter your reference number.")),
            MaxLength(max=REFERENCE_MAX, message=_l("A reference number is at most %(max)d characters.")),
            NoControlCharacters(CONTROL_MESSAGE),
        ],
    )
    email = EmailField(
        _l("Email address"),
        filters=[strip],
        description=_l("The address you wrote to us from."),
        validators=[
            DataRequired(_l("Enter your email address.")),
            MaxLength(max=EMAIL_MAX, message=_l("An email address can be at most %(max)d characters.")),
            NoControlCharacters(CONTROL_MESSAGE),
            EmailAddress(_l("Enter an email address like name@example.org.")),
        ],
    )
