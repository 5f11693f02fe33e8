from wtforms import BooleanField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.forms import (
    PHONE_COLUMN_LENGTH,
    CalendarDateField,
    CrmForm,
    DateWithin,
    EmailAddress,
    MultiCheckboxField,
    NoControlCharacters,
    PhoneNumber,
    SelectField,
    id_select,
    strip,
)
from crm.languages import LANGUAGES
from crm.models import ContactRole
from crm.organisation_menu import organisation_select


class AvailabilityForm(CrmForm):
    """When and for what a contact takes inquiries: what routing reads about them."""

    accepts_inquiries = BooleanField("Takes inquiries")
    languages = MultiCheckboxField(
        "Languages answered in",
        choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()],
        default=lambda: ["en"],
        invalid_choice_message="Choose from the languages listed.",
    )
    away_from = CalendarDateField("Away from", validators=[Optional(), DateWithin()], description="The first day away.")
    away_until = CalendarDateField(
        "Away until",
        validators=[Optional(), DateWithin()],
        description="The last day away: inquiries come again the next morning. Empty: until further notice.",
    )
    away_note = StringField(
        "Note about the absence",
        filters=[strip],
        description='Seen by colleagues, e.g. "maternity leave". No health details, please.',
        validators=[Optional(), Length(max=200), NoControlCharacters()],
    )
    topics = MultiCheckboxField(
        "Topics handled",
        coerce=int,
        description="Only when the organisation splits topics between its people. None ticked: every topic.",
        invalid_choice_message="Choose from the topics listed.",
    )

    def validate_languages(self, field):
        # Not DataRequired: its `required` flag would mark every checkbox as required.
        if not field.data:
            raise ValidationError("Choose at least one language.")

    def validate_away_until(self, field):
        if field.data and self.away_from.data and field.data < self.away_from.data:
            raise ValidationError("The last day away cannot be before the first.")

    def validate_away_note(self, field):
        if field.data and not (self.away_from.data or self.away_until.data):
            raise ValidationError("Give the days away too, or leave the note empty.")


class HandoverForm(CrmForm):
    contact_id = id_select("Hand to", "Choose a colleague from the list.", validators=[])
    note = TextAreaField(
        "Note for them",
        filters=[strip],
        description="On the inquiry's timeline, e.g. what was said so far.",
        validators=[Optional(), Length(max=2000), NoControlCharacters()],
    )

    def validate_contact_id(self, field):
        if field.data is None:
            raise ValidationError("Choose a colleague to hand it to.")


class ContactForm(AvailabilityForm):
    name = StringField("Name", filters=[strip], validators=[DataRequired("Enter the contact's name."), Length(max=200), NoControlCharacters()])
    organisation_id = organisation_select()
    title = StringField("Job title", filters=[strip], validators=[Optional(), Length(max=200), NoControlCharacters()])
    email = StringField("Email", filters=[strip], validators=[Optional(), Length(max=254), EmailAddress()])
    phone = StringField("Phone", filters=[strip], validators=[Optional(), Length(max=PHONE_COLUMN_LENGTH), PhoneNumber()])
    roles = MultiCheckboxField(
        "Roles",
        choices=[SelectChoice(role.value, role.label) for role in ContactRole],
        invalid_choice_message="Choose from the roles listed.",
    )
    show_on_public_page = BooleanField("Show on the public contact page")
    notes = TextAreaField("Notes", filters=[strip], validators=[Optional(), Length(max=5000), NoControlCharacters()])


class ContactFilterForm(CrmForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    q = StringField("Search name, email or title", filters=[strip], validators=[Optional(), Length(max=200), NoControlCharacters()])
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
