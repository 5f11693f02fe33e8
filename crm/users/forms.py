from __future__ import annotations

from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from crm.auth.passwords import MIN_PASSWORD_LENGTH
from crm.forms import CrmForm, EmailAddress, NoControlCharacters, SelectField, strip, strip_lower
from crm.models import Role
from crm.organisation_menu import organisation_select


class UserDetailsForm(CrmForm):
    name = StringField(
        "Name", filters=[strip], validators=[DataRequired("Enter the person's name."), Length(max=200), NoControlCharacters()]
    )
    role = SelectField(
        "Role",
        choices=[(role.value, role.label) for role in Role],
        default=Role.STAFF.value,
        invalid_choice_message="Choose a role from the list.",
        description="Admins manage users; managers and staff work with every record; partners see only their organisation.",
    )
    organisation_id = organisation_select(description="Partners only: the organisation whose records they may see.")

    def validate_organisation_id(self, field) -> None:
        if self.role.data == Role.PARTNER.value and field.data is None:
            raise ValidationError("Choose the organisation this partner belongs to.")
        if self.role.data != Role.PARTNER.value and field.data is not None:
            raise ValidationError("Only partner accounts belong to an organisation; leave this blank.")


class NewUserForm(UserDetailsForm):
    email = EmailField(
        "Email",
        filters=[strip_lower],
        validators=[DataRequired("Enter their email address."), Length(max=254), EmailAddress()],
    )
    password = PasswordField(
        "Initial password",
        validators=[
            Optional(strip_whitespace=False),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=1024,
                message=f"Use at least {MIN_PASSWORD_LENGTH} characters (and at most 1024).",
            ),
        ],
        description="Leave blank to generate a temporary password, shown to you once on the next page.",
    )
    confirm = PasswordField(
        "Confirm the password", validators=[EqualTo("password", "The two passwords do not match.")]
    )

    def validate_password(self, field) -> None:
        if field.data and not field.data.strip():
            raise ValidationError("A password cannot be only spaces.")
