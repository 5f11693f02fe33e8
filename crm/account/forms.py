from __future__ import annotations

from wtforms import PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError

from crm.auth.passwords import MIN_PASSWORD_LENGTH
from crm.forms import CrmForm, NoControlCharacters, strip
from crm.models import TokenScope


class PasswordChangeForm(CrmForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password."), Length(max=1024)]
    )
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired("Enter a new password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=1024,
                message=f"Use at least {MIN_PASSWORD_LENGTH} characters (and at most 1024).",
            ),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters. A few unrelated words make a good one.",
    )
    confirm = PasswordField(
        "Confirm the new password",
        validators=[DataRequired("Type the new password again."), EqualTo("new_password", "The two new passwords do not match.")],
    )

    def validate_new_password(self, field) -> None:
        if field.data and field.data == self.current_password.data:
            raise ValidationError("Choose a password different from your current one.")


class ApiTokenForm(CrmForm):
    name = StringField(
        "Name",
        filters=[strip],
        description="What the token is for, e.g. \"Website inquiry sync\", so you know which to revoke.",
        validators=[DataRequired("Give the token a name."), Length(max=100), NoControlCharacters()],
    )
    scope = RadioField(
        "What it may do",
        choices=[
            SelectChoice(TokenScope.READ.value, "Read only: list and read records"),
            SelectChoice(TokenScope.WRITE.value, "Read and write: also create and change records, where your role may"),
        ],
        default=TokenScope.READ.value,
        invalid_choice_message="Choose read only, or read and write.",
        validators=[InputRequired("Choose what the token may do.")],
    )
