from wtforms import BooleanField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.forms import (
    CrmForm,
    EmailAddress,
    MultiCheckboxField,
    NoControlCharacters,
    PhoneNumber,
    SelectField,
    strip,
)
from crm.languages import LANGUAGES
from crm.models import ContactRole
from crm.organisation_menu import organisation_select


class ContactForm(CrmForm):
    name = StringField("Name", filters=[strip], validators=[DataRequired("Enter the contact's name."), Length(max=200), NoControlCharacters()])
    organisation_id = organisation_select()
    title = StringField("Job title", filters=[strip], validators=[Optional(), Length(max=200), NoControlCharacters()])
    email = StringField("Email", filters=[strip], validators=[Optional(), Length(max=254), EmailAddress()])
    phone = StringField("Phone", filters=[strip], validators=[Optional(), Length(max=40), PhoneNumber()])
    languages = MultiCheckboxField(
        "Preferred languages",
        choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()],
        default=lambda: ["en"],
        invalid_choice_message="Choose from the languages listed.",
    )
    roles = MultiCheckboxField(
        "Roles",
        choices=[SelectChoice(role.value, role.label) for role in ContactRole],
        invalid_choice_message="Choose from the roles listed.",
    )
    show_on_public_page = BooleanField("Show on the public contact page")
    notes = TextAreaField("Notes", filters=[strip], validators=[Optional(), Length(max=5000), NoControlCharacters()])

    def validate_languages(self, field):
        # Not DataRequired: its `required` flag would mark every checkbox as required.
        if not field.data:
            raise ValidationError("Choose at least one language.")


class ContactFilterForm(CrmForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    q = StringField("Search name, email or title", filters=[strip], validators=[Optional(), Length(max=200)])
    organisation = SelectField("Organisation", default="")
    language = SelectField(
        "Language",
        choices=[SelectChoice("", "Any language")] + [SelectChoice(code, name) for code, name in LANGUAGES.items()],
        default="",
    )
    role = SelectField(
        "Role",
        choices=[SelectChoice("", "Any role")] + [SelectChoice(role.value, role.label) for role in ContactRole],
        default="",
    )
    status = SelectField(
        "Status",
        choices=[SelectChoice("active", "Active"), SelectChoice("inactive", "Inactive"), SelectChoice("", "Any status")],
        default="active",
    )
