from __future__ import annotations

from wtforms import StringField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from crm.forms import CalendarDateField, CrmForm, DateWithin, NoControlCharacters, SelectField, strip

NOT_OFFERED = "Choose from the list."


class AuditFilterForm(CrmForm):
    """The audit page's filters; the view sets the choices of person and record type."""

    class Meta:
        csrf = False  # a GET filter form changes nothing

    person = SelectField("Person", default="", invalid_choice_message=NOT_OFFERED)
    record_type = SelectField("Record type", default="", invalid_choice_message=NOT_OFFERED)
    record_id = StringField(
        "Record id",
        filters=[strip],
        validators=[
            Optional(),
            NoControlCharacters(),
            Length(max=64),
            Regexp(r"^[0-9A-Za-z,_-]+$", message="Enter the record's id, like 42."),
        ],
    )
    action = StringField(
        "Action",
        filters=[strip],
        description="create, update, delete, export...",
        validators=[
            Optional(),
            Length(max=32),
            Regexp(r"^[a-z_]+$", message="Enter one word in small letters, like export."),
        ],
    )
    occurred_from = CalendarDateField("From", validators=[Optional(), DateWithin()])
    occurred_to = CalendarDateField("To", validators=[Optional(), DateWithin()])

    def validate_occurred_to(self, field) -> None:
        if field.data and self.occurred_from.data and field.data < self.occurred_from.data:
            raise ValidationError("The end date is before the start date.")
