from flask_wtf.file import FileField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from crm.forms import CrmForm, SelectField
from crm.imports.kinds import KINDS, Kind

NOT_IMPORTED = ""


class UploadForm(CrmForm):
    kind = SelectField(
        "What the file holds",
        choices=[SelectChoice(kind.name, kind.label) for kind in KINDS.values()],
        invalid_choice_message="Choose what the file holds from the list.",
    )
    file = FileField(
        "Spreadsheet",
        description="A CSV file or an Excel workbook (.xlsx); its first sheet is read.",
        render_kw={"accept": ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )

    def validate_file(self, field):
        if not field.data or not getattr(field.data, "filename", None):
            raise ValidationError("Choose the file to import.")


def mapping_form(kind: Kind, headings: list[str], chosen: dict[str, str], formdata=None) -> CrmForm:
    """One menu per column: the field it goes to, or not imported. Fields are named by column
    number (col0, col1...), never by the heading, which can be any text."""
    choices = [SelectChoice(NOT_IMPORTED, "Not imported"), *(SelectChoice(item.name, item.label) for item in kind.fields)]

    class MappingForm(CrmForm):
        pass

    for index, heading in enumerate(headings):
        setattr(
            MappingForm,
            f"col{index}",
            SelectField(heading, choices=choices, default=chosen.get(heading, NOT_IMPORTED), invalid_choice_message="Choose from the list."),
        )
    return MappingForm(formdata=formdata)


def chosen_mapping(form: CrmForm, headings: list[str]) -> dict[str, str]:
    return {heading: form[f"col{index}"].data for index, heading in enumerate(headings) if form[f"col{index}"].data}
