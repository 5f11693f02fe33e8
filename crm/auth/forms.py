from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from crm.forms import CrmForm, NoControlCharacters, strip


class LoginForm(CrmForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), NoControlCharacters()])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class CodeForm(CrmForm):
    """A six-digit code from the authenticator app, or (where accepted) a recovery code."""

    code = StringField(
        "Code",
        validators=[DataRequired("Enter the code."), Length(max=64, message="That is too long for a code."), NoControlCharacters()],
        filters=[strip],
        render_kw={"autocapitalize": "off", "spellcheck": "false", "size": 12},
    )
