from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.forms import (
    PHONE_COLUMN_LENGTH,
    CrmForm,
    EmailAddress,
    MultiCheckboxField,
    NoControlCharacters,
    PhoneNumber,
    SelectField,
    SelectMultipleField,
    WebAddress,
    id_select,
    strip,
)
from crm.models import Organisation, OrganisationKind, RecordStatus
from crm.models.organisation import name_key


class OrganisationForm(CrmForm):
    name = StringField("Name", filters=[strip], validators=[DataRequired("Enter the organisation's name."), Length(max=200), NoControlCharacters()])
    kind = SelectField("Kind", choices=[(kind.value, kind.label) for kind in OrganisationKind], default=OrganisationKind.GRANTEE.value)
    description = TextAreaField("Description", filters=[strip], validators=[Optional(), Length(max=5000), NoControlCharacters()])
    description_es = TextAreaField(
        "Description in Spanish",
        filters=[strip],
        description="Shown on the public pages in Spanish. Left empty, they show the English description.",
        render_kw={"lang": "es"},  # the browser's spelling check and screen readers use Spanish
        validators=[Optional(), Length(max=5000), NoControlCharacters()],
    )
    website = StringField("Website", filters=[strip], validators=[Optional(), Length(max=300), NoControlCharacters(), WebAddress()])
    email = StringField("Email", filters=[strip], validators=[Optional(), Length(max=254), EmailAddress()])
    phone = StringField("Phone", filters=[strip], validators=[Optional(), Length(max=PHONE_COLUMN_LENGTH), PhoneNumber()])
    address_line = StringField("Street address", filters=[strip], validators=[Optional(), Length(max=200), NoControlCharacters()])
    city = StringField("City", filters=[strip], validators=[Optional(), Length(max=100), NoControlCharacters()])
    state = StringField("State", filters=[strip], default="MO", validators=[Optional(), Length(min=2, max=2, message="Use the two-letter state code, e.g. MO."), NoControlCharacters()])
    postal_code = StringField("ZIP code", filters=[strip], validators=[Optional(), Length(max=10)])
    regions = MultiCheckboxField("Regions served", coerce=int)
    counties = SelectMultipleField("Counties served", coerce=str, description="Hold Ctrl (or Cmd) to pick several.")
    backup_contact_id = id_select(
        "Backup contact",
        "Choose one of this organisation's contacts who take inquiries.",
        description=(
            "Takes the inquiries nobody else here can (all away, nobody speaks the language or handles "
            "the topic) before the foundation's fallback. One of this organisation's contacts who take inquiries."
        ),
    )

    def validate_name(self, field):
        # Uniqueness is kept on the case-folded name, which can be longer than the name
        # (ß folds to ss, ﬃ to ffi), and its column holds no more than the name's.
        if field.data and len(name_key(field.data)) > Organisation.__table__.c.name_key.type.length:
            raise ValidationError("Shorten the name: compared with others, letters like ß count as two.")

    def validate_postal_code(self, field):
        from crm.geography.zip_lookup import normalise_zip

        if field.data and normalise_zip(field.data) is None:
            raise ValidationError("Enter a five-digit ZIP code, or ZIP+4 like 63857-1234.")


class OrganisationFilterForm(CrmForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    q = StringField("Search", filters=[strip], validators=[Optional(), Length(max=200), NoControlCharacters()])
    kind = SelectField("Kind", choices=[("", "Any kind")] + [(kind.value, kind.label) for kind in OrganisationKind], default="")
    region = SelectField("Region", coerce=str, default="")
    status = SelectField(
        "Status",
        choices=[("", "Any status")] + [(status.value, status.label) for status in RecordStatus],
        default=RecordStatus.ACTIVE.value,
    )
