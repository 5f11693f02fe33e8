from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError

from crm.auth.passwords import MIN_PASSWORD_LENGTH
from crm.forms import CrmForm, EmailAddress, NoControlCharacters, strip, strip_lower


class LoginForm(CrmForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), NoControlCharacters()])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class EmailForm(CrmForm):
    """An address to send a link to ("Forgot your password?")."""

    email = EmailField(
        "Email",
        filters=[strip_lower],
        validators=[DataRequired("Enter your email address."), Length(max=254), NoControlCharacters(), EmailAddress()],
    )


class ChoosePasswordForm(CrmForm):
    """A new password, typed twice: accepting an invitation, resetting a forgotten password."""

    password = PasswordField(
        "New password",
        validators=[
            InputRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=1024,
                message=f"Use at least {MIN_PASSWORD_LENGTH} characters (and at most 1024).",
            ),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters. A few unrelated words make a good one.",
    )
    confirm = PasswordField(
        "Confirm the password",
        validators=[DataRequired("Type the password again."), EqualTo("password", "The two passwords do not match.")],
    )

    def validate_password(self, field) -> None:
        if field.data and not field.data.strip():
            raise ValidationError("A password cannot be only spaces.")


class CodeForm(CrmForm):
    """A six-digit code from the authenticator app, or (where accepted) a recovery code."""

    code = StringField(
        "Code",
        validators=[DataRequired("Enter the code."), Length(max=64, message="That is too long for a code."), NoControlCharacters()],
        filters=[strip],
        render_kw={"autocapitalize": "off", "spellcheck": "false", "size": 12},
    )
