from __future__ import annotations

from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length

from crm.forms import CrmForm, EmailAddress, NoControlCharacters, strip, strip_lower


class ColleagueInvitationForm(CrmForm):
    name = StringField(
        "Name",
        filters=[strip],
        validators=[DataRequired("Enter your colleague's name."), Length(max=200), NoControlCharacters()],
    )
    email = EmailField(
        "Email",
        filters=[strip_lower],
        validators=[
            DataRequired("Enter their email address."),
            Length(max=254),
            NoControlCharacters(),
            EmailAddress(),
        ],
        description="The invitation is sent here; it is also the address they will sign in with.",
    )
