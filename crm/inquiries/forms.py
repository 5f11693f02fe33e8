"""Forms for the inbox filters, the actions on one inquiry and logging an inquiry by hand.

Select choices that come from the database are set by the view before validation, so a
posted id that is not offered to this user (another organisation's contact) is refused.
"""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, RadioField, StringField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from crm.forms import (
    PHONE_COLUMN_LENGTH,
    CalendarDateField,
    CrmForm,
    DateWithin,
    EmailAddress,
    NoControlCharacters,
    PhoneNumber,
    RequiredChoice,
    SelectField,
    id_select,
    strip,
    with_empty_choice,
)
from crm.geography.zip_lookup import normalise_zip
from crm.inquiries import outcomes
from crm.inquiries.acceptance import CHOSEN_REASONS, NOTE_MAX
from crm.inquiries.filters import ANY, OPEN, SORTS
from crm.languages import LANGUAGES
from crm.models import AttemptMethod, ContactPreference, InquiryOutcome, InquirySource, PassReason
from crm.models.contact_preference import missing_detail
from crm.models.inquiry_status import InquiryStatus
from crm.organisation_menu import organisation_select
from crm.records import MAX_ID
from crm.timezones import display_timezone, local_to_utc

NOT_OFFERED = "Choose from the list."
RESPONSE_CHANNELS: dict[str, str] = {"email": "Email", "phone": "Phone", "in_person": "In person"}
# Staff log what came another way; the web form logs itself.
MANUAL_SOURCES = [source for source in InquirySource if source is not InquirySource.WEB]
# The staff form's words for crm.models.contact_preference.missing_detail.
MISSING_DETAIL_MESSAGES = {
    "email": "Give their email address, or choose a phone call or a text message.",
    "phone": "Give their phone number for a call or a text message, or choose email.",
}


class InboxFilterForm(CrmForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    # A NUL would reach the database, which refuses it (PostgreSQL) rather than find nothing.
    q = StringField(
        "Search name, email, reference or message",
        filters=[strip],
        validators=[Optional(), Length(max=200), NoControlCharacters()],
    )
    status = SelectField(
        "Status",
        choices=[SelectChoice(OPEN, "Open (not closed or spam)"), SelectChoice(ANY, "Any status")]
        + [SelectChoice(status.value, status.label) for status in InquiryStatus],
        default=OPEN,
        invalid_choice_message=NOT_OFFERED,
    )
    sort = SelectField(
        "Sort", choices=[SelectChoice(key, label) for key, label in SORTS.items()], default="newest"
    )
    assignee = id_select("Assigned to", NOT_OFFERED)
    organisation = id_select("Organisation", NOT_OFFERED)
    topic = id_select("Topic", NOT_OFFERED)
    region = id_select("Region", NOT_OFFERED)
    county = SelectField("County", default="", invalid_choice_message=NOT_OFFERED)
    language = SelectField(
        "Language",
        choices=with_empty_choice("Any language", LANGUAGES.items()),
        default="",
        invalid_choice_message=NOT_OFFERED,
    )
    received_from = CalendarDateField("Received from", validators=[Optional(), DateWithin()])
    received_to = CalendarDateField("Received to", validators=[Optional(), DateWithin()])
    overdue = BooleanField("Overdue only")
    mine = BooleanField("Assigned to me")

    def validate_received_to(self, field) -> None:
        if field.data and self.received_from.data and field.data < self.received_from.data:
            raise ValidationError("The end date is before the start date.")


class AssignForm(CrmForm):
    contact_id = id_select("Assign to", NOT_OFFERED, validators=[RequiredChoice("Choose who should take this inquiry.")])


class StatusForm(CrmForm):
    status = SelectField(
        "New status",
        choices=[SelectChoice(status.value, status.label) for status in InquiryStatus],
        validators=[RequiredChoice()],
        invalid_choice_message="That is not a status.",
    )
    # Where to go afterwards: a path on this site, checked by the view.
    next = HiddenField()


class ResponseForm(CrmForm):
    response = TextAreaField(
        "What was said",
        filters=[strip],
        validators=[DataRequired("Write down the response."), Length(max=10000), NoControlCharacters()],
    )
    channel = RadioField(
        "How",
        choices=[SelectChoice(key, label) for key, label in RESPONSE_CHANNELS.items()],
        default="email",
        validators=[DataRequired("Choose how the response was made.")],
        invalid_choice_message="Choose email, phone or in person.",
    )


class AttemptForm(CrmForm):
    """One try at reaching the family; the view fills in the date and time as now."""

    method = RadioField(
        "How",
        choices=[SelectChoice(method.value, method.label) for method in AttemptMethod],
        validators=[DataRequired("Choose how you tried to reach them.")],
        invalid_choice_message="Choose call, text message, email, voicemail left or no answer.",
    )
    attempted_on = CalendarDateField(
        "Date", validators=[InputRequired("Enter the date of the attempt."), DateWithin()]
    )
    attempted_time = TimeField(
        "Time",
        format=["%H:%M", "%H:%M:%S"],
        validators=[InputRequired("Enter the time of the attempt.")],
        invalid_value_message="Enter a time like 14:30.",
    )
    note = TextAreaField(
        "Note",
        id="attempt-note",  # the note form and the pass form on the same page have a "note" too
        filters=[strip],
        description="Optional. Seen by staff and the partner, never by the requester.",
        validators=[Optional(), Length(max=2000), NoControlCharacters()],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attempted_time.description = f"Local time ({display_timezone().replace('_', ' ')})."

    def attempted_at(self):
        """The date and time given, as an aware UTC datetime (once the form is valid)."""
        return local_to_utc(self.attempted_on.data, self.attempted_time.data)


class CloseForm(CrmForm):
    """Closing says what came of it; the rules are crm.inquiries.outcomes'. The view sets the
    organisation menu and the number of attempts logged before validating."""

    status = HiddenField(default=InquiryStatus.CLOSED.value)
    next = HiddenField()
    outcome = RadioField(
        "What came of it",
        choices=[SelectChoice(outcome.value, outcome.label) for outcome in InquiryOutcome],
        validators=[DataRequired("Choose what came of it.")],
        invalid_choice_message="Choose one of the outcomes listed.",
    )
    organisation = organisation_select(
        "Organisation they were connected or referred to",
        description="For “connected” or “referred”, if it is one of ours.",
    )
    detail = StringField(
        "Program, person or what happened",
        filters=[strip],
        description="Required for “other”, and for “connected” or “referred” without an organisation.",
        validators=[Optional(), Length(max=outcomes.DETAIL_MAX), NoControlCharacters()],
    )

    def __init__(self, *args, attempts: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.attempts = attempts

    def chosen_outcome(self) -> InquiryOutcome | None:
        return InquiryOutcome(self.outcome.data) if self.outcome.data else None

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not valid:
            return False
        problems = outcomes.outcome_problems(
            self.chosen_outcome(), self.detail.data or "", self.organisation.data, self.attempts
        )
        fields = {"outcome": self.outcome, "detail": self.detail, "organisation": self.organisation}
        for name, message in problems.items():
            fields[name].errors.append(message)
        return not problems


class NoteForm(CrmForm):
    note = TextAreaField(
        "Internal note",
        filters=[strip],
        description="Seen by staff and by the partner the inquiry is routed to, never by the requester.",
        validators=[DataRequired("Write the note."), Length(max=10000), NoControlCharacters()],
    )


class ShownContactForm(CrmForm):
    """A decision on whom the page showed the inquiry with: a second click, or a page left open
    while the inquiry moved on, must not accept or pass it for whoever has it now."""

    shown_contact = HiddenField()

    def shown_contact_id(self) -> int | None:
        value = self.shown_contact.data or ""
        return int(value) if value.isascii() and value.isdigit() and len(value) <= len(str(MAX_ID)) else None


class AcceptForm(ShownContactForm):
    """Nothing to fill in: the button accepts."""


class PassForm(ShownContactForm):
    # Named apart from the note form's "note" on the same page: two elements, two ids.
    pass_reason = SelectField(
        "Why you cannot take it",
        choices=with_empty_choice("Choose a reason", [(reason.value, reason.label) for reason in CHOSEN_REASONS]),
        validators=[RequiredChoice("Choose a reason from the list.")],
        invalid_choice_message="Choose a reason from the list.",
    )
    pass_note = TextAreaField(
        "Note",
        filters=[strip],
        description="Required with “Other”. Seen by staff and whoever takes it next, never by the requester.",
        validators=[Length(max=NOTE_MAX), NoControlCharacters()],
    )
    def validate_pass_note(self, field) -> None:
        if self.pass_reason.data == PassReason.OTHER.value and not (field.data or "").strip():
            raise ValidationError("Say why in the note: it is required with “Other”.")


class AcceptLinkForm(CrmForm):
    """The confirm page of the link in a notice: the link's token, checked again on POST."""

    token = HiddenField(validators=[DataRequired("This page is missing its link: open the link from the email again.")])


class LinkContactForm(CrmForm):
    """Nothing to fill in: the requester is matched to a contact by email."""


class ManualInquiryForm(CrmForm):
    source = RadioField(
        "How it came in",
        choices=[SelectChoice(source.value, source.label) for source in MANUAL_SOURCES],
        validators=[DataRequired("Choose how the inquiry came in.")],
        invalid_choice_message="Choose phone, email, letter or in person.",
    )
    name = StringField(
        "Requester's name",
        filters=[strip],
        validators=[DataRequired("Enter the requester's name."), Length(max=200), NoControlCharacters()],
    )
    contact_preference = RadioField(
        "How they want to be reached",
        choices=[SelectChoice(preference.value, preference.label) for preference in ContactPreference],
        default=ContactPreference.EMAIL.value,
        validators=[DataRequired("Choose how they want to be reached.")],
        invalid_choice_message="Choose email, phone call or text message.",
    )
    email = StringField("Email", filters=[strip], validators=[Optional(), Length(max=254), EmailAddress()])
    phone = StringField("Phone", filters=[strip], validators=[Optional(), Length(max=PHONE_COLUMN_LENGTH), PhoneNumber()])
    zip_code = StringField(
        "ZIP code", filters=[strip], description="Routes the inquiry to the right county.", validators=[Optional()]
    )
    topic_id = id_select("Topic", NOT_OFFERED)
    language = SelectField(
        "Language",
        choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()],
        default="en",
        invalid_choice_message=NOT_OFFERED,
    )
    message = TextAreaField(
        "What they asked",
        filters=[strip],
        validators=[DataRequired("Write down what they asked."), Length(max=5000), NoControlCharacters()],
    )
    consent = BooleanField(
        "They agreed that we may keep these details and pass them to a partner",
        description="Without it, the inquiry stays with the foundation: it is not passed to a partner.",
    )
    assign_to = id_select(
        "Who takes it", NOT_OFFERED, description="Leave on the routing rules, or pick a contact to assign it by hand."
    )

    def validate_zip_code(self, field) -> None:
        if field.data and normalise_zip(field.data) is None:
            raise ValidationError("Enter a five-digit ZIP code, or ZIP+4 like 63857-1234.")

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
        return ContactPreference(self.contact_preference.data)
