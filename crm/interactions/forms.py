from __future__ import annotations

from datetime import date, timedelta

from wtforms import TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from crm.database import utcnow
from crm.forms import (
    CalendarDateField,
    CrmForm,
    MultiCheckboxField,
    NoControlCharacters,
    SelectField,
    strip,
)
from crm.interactions import services
from crm.models import Contact, Interaction, InteractionKind
from crm.organisation_menu import organisation_select
from crm.timezones import display_timezone, local_to_utc, local_today

EARLIEST_DATE = date(1900, 1, 1)
LATEST_FOLLOW_UP = date(9000, 1, 1)
FUTURE_ALLOWANCE = timedelta(days=1)
FUTURE_MESSAGE = "That is more than a day in the future; log an interaction once it has happened."


class InteractionForm(CrmForm):
    kind = SelectField(
        "Type",
        choices=[(kind.value, kind.label) for kind in InteractionKind],
        default=InteractionKind.CALL.value,
        invalid_choice_message="Choose a type from the list.",
    )
    occurred_on = CalendarDateField("Date", validators=[InputRequired("Enter the date it happened.")])
    occurred_time = TimeField(
        "Time",
        format=["%H:%M", "%H:%M:%S"],
        validators=[InputRequired("Enter the time it happened.")],
        invalid_value_message="Enter a time like 14:30.",
    )
    summary = TextAreaField(
        "Summary",
        filters=[strip],
        validators=[DataRequired("Write a short summary of what happened."), Length(max=10000), NoControlCharacters()],
    )
    organisation_id = organisation_select()
    contacts = MultiCheckboxField(
        "Contacts involved",
        coerce=int,
        validate_choice=False,  # checked against the organisation in validate_contacts
        invalid_value_message="Choose contacts from the list.",
    )
    follow_up_on = CalendarDateField(
        "Follow up on",
        validators=[Optional()],
        description="Optional. It appears on your dashboard from a week before.",
    )

    def __init__(self, *args, interaction: Interaction | None = None, from_contact: Contact | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        zone = display_timezone().replace("_", " ")
        self.occurred_time.description = f"Local time ({zone})."
        self.interaction = interaction
        self.from_contact = from_contact

    def validate_occurred_on(self, field) -> None:
        if field.data is None:
            return
        if field.data < EARLIEST_DATE:
            raise ValidationError(f"Enter a date after {EARLIEST_DATE.year}.")
        if field.data > local_today() + FUTURE_ALLOWANCE:
            raise ValidationError(FUTURE_MESSAGE)

    def validate_follow_up_on(self, field) -> None:
        if field.data is None:
            return
        if field.data >= LATEST_FOLLOW_UP:
            raise ValidationError("Enter a follow-up date within the next few years.")
        unchanged = self.interaction is not None and self.interaction.follow_up_on == field.data
        if field.data < local_today() and not unchanged:
            raise ValidationError("The follow-up date is in the past; choose today or a later date.")

    def validate_contacts(self, field) -> None:
        kept: set[int] = set()
        if self.interaction is not None and self.interaction.organisation_id == self.organisation_id.data:
            kept = {contact.id for contact in self.interaction.contacts}
        from_contact_id = self.from_contact.id if self.from_contact else None
        problems = services.contact_problems(self.organisation_id.data, field.data or [], from_contact_id, kept)
        if problems:
            raise ValidationError(" ".join(problems))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self._neither_organisation_nor_contact():
            self.organisation_id.errors.append("Choose an organisation or at least one contact.")
            valid = False
        if self._too_far_ahead():
            self.occurred_on.errors.append(FUTURE_MESSAGE)
            valid = False
        return valid

    def _neither_organisation_nor_contact(self) -> bool:
        if self.organisation_id.errors or self.contacts.errors:
            return False
        return self.organisation_id.data is None and not self.contacts.data

    def _too_far_ahead(self) -> bool:
        day, at = self.occurred_on.data, self.occurred_time.data
        if day is None or at is None or self.occurred_on.errors or self.occurred_time.errors:
            return False
        return local_to_utc(day, at) > utcnow() + FUTURE_ALLOWANCE
