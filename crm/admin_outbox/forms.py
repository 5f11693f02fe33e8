from crm.admin_outbox.services import STATUS_FILTERS
from crm.forms import CrmForm, SelectField


class OutboxFilterForm(CrmForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    status = SelectField(
        "Show",
        choices=[(key, label) for key, (label, _statuses) in STATUS_FILTERS.items()],
        default="unsent",
    )
