"""Forms for the routing pages: rules, topics, the fallback contact and the test page."""

from wtforms import BooleanField, IntegerField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from crm.forms import (
    CrmForm,
    MultiCheckboxField,
    NoControlCharacters,
    RequiredChoice,
    SelectField,
    SelectMultipleField,
    optional_id,
    strip,
)
from crm.geography.zip_lookup import lookup_zip, normalise_zip
from crm.languages import LANGUAGES

LANGUAGE_CHOICES = [SelectChoice(code, name) for code, name in LANGUAGES.items()]
ONE_TARGET = "Choose a contact or an organisation, not both."
NO_TARGET = "Choose a contact or an organisation to send these inquiries to."



class RuleForm(CrmForm):
    name = StringField(
        "Name",
        filters=[strip],
        validators=[DataRequired("Give the rule a name."), Length(max=120), NoControlCharacters()],
    )
    priority = IntegerField(
        "Priority",
        default=100,
        description="Rules are tried from the lowest number up; the first that matches and has someone available wins.",
        validators=[InputRequired("Enter a priority."), NumberRange(0, 10000, "Use a whole number from 0 to 10000.")],
    )
    active = BooleanField("Active", default=True)
    topics = MultiCheckboxField("Topics", coerce=int, description="None ticked: any topic.")
    regions = MultiCheckboxField("Regions", coerce=int, description="None ticked: any region.")
    counties = SelectMultipleField(
        "Counties", coerce=str, description="None chosen: any county. Hold Ctrl (or Cmd) to pick several."
    )
    languages = MultiCheckboxField(
        "Languages",
        choices=LANGUAGE_CHOICES,
        description="None ticked: any language.",
        invalid_choice_message="Choose from the languages listed.",
    )
    target_contact_id = SelectField(
        "Send to this contact",
        coerce=optional_id,
        invalid_value_message="Choose a contact from the list.",
        invalid_choice_message="Choose a contact from the list.",
    )
    target_organisation_id = SelectField(
        "Or to this organisation",
        coerce=optional_id,
        description="The organisation's available contacts take turns, preferring those who speak the inquirer's language.",
        invalid_value_message="Choose an organisation from the list.",
        invalid_choice_message="Choose an organisation from the list.",
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.target_contact_id.errors or self.target_organisation_id.errors:
            return False
        has_contact = self.target_contact_id.data is not None
        has_organisation = self.target_organisation_id.data is not None
        if has_contact and has_organisation:
            self.target_contact_id.errors.append(ONE_TARGET)
            return False
        if not has_contact and not has_organisation:
            self.target_contact_id.errors.append(NO_TARGET)
            return False
        return valid


class TopicForm(CrmForm):
    name_en = StringField(
        "Name in English",
        filters=[strip],
        validators=[DataRequired("Enter the English name."), Length(max=120), NoControlCharacters()],
    )
    name_es = StringField(
        "Name in Spanish",
        filters=[strip],
        validators=[DataRequired("Enter the Spanish name."), Length(max=120), NoControlCharacters()],
    )
    active = BooleanField("Shown on the public form", default=True)
    sort_order = IntegerField(
        "Order on the form",
        default=0,
        description="Lower numbers come first.",
        validators=[InputRequired("Enter a number."), NumberRange(0, 10000, "Use a whole number from 0 to 10000.")],
    )
    response_target_hours = IntegerField(
        "First-response target (business hours)",
        default=16,
        description="16 is two working days of eight hours.",
        validators=[
            InputRequired("Enter a number of hours."),
            NumberRange(1, 400, "Use a whole number from 1 to 400."),
        ],
    )
    acceptance_hours = IntegerField(
        "Acceptance window (business hours)",
        default=4,
        description="How long the contact it is routed to has to accept it before it moves on to the next one.",
        validators=[
            InputRequired("Enter a number of hours."),
            NumberRange(1, 80, "Use a whole number from 1 to 80."),
        ],
    )


class FallbackForm(CrmForm):
    contact_id = SelectField(
        "Fallback contact",
        coerce=optional_id,
        description="Takes every inquiry no rule can place.",
        validators=[RequiredChoice("Choose the fallback contact.")],
        invalid_value_message="Choose an active contact from the list.",
        invalid_choice_message="Choose an active contact from the list.",
    )


class RoutingTestForm(CrmForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    zip = StringField("ZIP code", filters=[strip], validators=[DataRequired("Enter a ZIP code."), Length(max=10)])
    topic = SelectField(
        "Topic",
        coerce=optional_id,
        invalid_value_message="Choose a topic from the list.",
        invalid_choice_message="Choose a topic from the list.",
    )
    language = SelectField("Language", choices=LANGUAGE_CHOICES, default="en")

    def validate_zip(self, field) -> None:
        zip5 = normalise_zip(field.data or "")
        if zip5 is None:
            raise ValidationError("Enter a five-digit ZIP code, or ZIP+4 like 63857-1234.")
        if lookup_zip(zip5) is None:
            raise ValidationError(f"{zip5} is not a ZIP code we know. Check it and try again.")
