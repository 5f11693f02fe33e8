"""The audit page: every recorded change, for managers and admins."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from crm.audit import audited_types
from crm.audit_trail import services
from crm.audit_trail.forms import AuditFilterForm
from crm.auth.permissions import Access, requires
from crm.forms import with_empty_choice
from crm.records import page_args

bp = Blueprint("audit_trail", __name__, url_prefix="/audit")


def _filter_form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    form.person.choices = with_empty_choice("Anyone", services.person_choices())
    form.record_type.choices = with_empty_choice(
        "Any record", ((name, services.type_label(name)) for name in audited_types())
    )
    return form


@bp.route("/")
@requires(Access.MANAGER)
def index():
    form = _filter_form()
    args = page_args(form, leave_out=("after", "before"))
    if not form.validate():
        # Listing every change instead of the ones asked for would mislead: say what is wrong.
        return render_template("audit/index.html", form=form, page=None, args=args), 400
    filters = services.AuditFilters(
        person=form.person.data or "",
        record_type=form.record_type.data or "",
        record_id=form.record_id.data or "",
        action=form.action.data or "",
        occurred_from=form.occurred_from.data,
        occurred_to=form.occurred_to.data,
    )
    try:
        page = services.fetch_page(
            filters,
            current_app.config["PAGE_SIZE"],
            after=request.args.get("after"),
            before=request.args.get("before"),
        )
    except services.BadCursor:
        abort(400, "This page link is not valid (it may have been cut short). Start again from the first page.")
    return render_template(
        "audit/index.html",
        form=form,
        page=page,
        args=args,
        record_url=services.record_url,
        type_label=services.type_label,
    )
