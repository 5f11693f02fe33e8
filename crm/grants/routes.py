from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.permissions import Access, requires
from crm.forms import with_empty_choice
from crm.grants import services
from crm.grants.forms import GrantFilterForm, GrantForm
from crm.models import Grant, GrantStatus
from crm.organisation_menu import organisation_choices
from crm.records import filtered_page, get_or_404, id_from_query, page_args

bp = Blueprint("grants", __name__, url_prefix="/grants")

# A race the form cannot see: two saves of one grant adding the same due date at once.
REPORT_DATES_CHANGED = "Someone else changed these report dates at the same moment. Check them and save again."


def _form_with_choices(include_organisation_id: int | None = None, **kwargs) -> GrantForm:
    form = GrantForm(**kwargs)
    form.organisation_id.choices = with_empty_choice("Choose an organisation", organisation_choices(include_organisation_id))
    return form


def _render_form(form: GrantForm, grant: Grant | None):
    return render_template("grants/form.html", form=form, grant=grant), 422 if form.errors else 200


@bp.route("/")
@requires(Access.STAFF)
def index():
    form = GrantFilterForm(request.args)
    form.organisation.choices = with_empty_choice("Any organisation", organisation_choices(active_only=False))
    filters = services.GrantFilters()
    valid = form.validate()
    if valid:
        filters = services.GrantFilters(
            organisation_id=int(form.organisation.data) if form.organisation.data else None,
            status=form.status.data or "",
            reports=form.reports.data or "",
        )
    today = services.today()
    page, status = filtered_page(services.search(filters, today), valid)
    return render_template(
        "grants/index.html",
        form=form,
        page=page,
        args=page_args(form),
        today=today,
        soon=services.due_soon_by(today),
        next_report=services.next_report,
    ), status


@bp.route("/new", methods=["GET", "POST"])
@requires(Access.STAFF)
def new():
    organisation_id = id_from_query("organisation_id")
    form = _form_with_choices(organisation_id)
    if request.method == "GET" and organisation_id in {choice.value for choice in form.organisation_id.choices}:
        form.organisation_id.data = organisation_id
    if form.validate_on_submit():
        grant = services.save(Grant(), form.data, current_user)
        flash(f"The grant for {grant.program} was added.", "success")
        return redirect(url_for(".detail", grant_id=grant.id))
    return _render_form(form, None)


@bp.route("/<int:grant_id>")
@requires(Access.STAFF)
def detail(grant_id: int):
    grant = get_or_404(Grant, grant_id)
    today = services.today()
    history = services.history(grant)
    return render_template(
        "grants/detail.html",
        grant=grant,
        today=today,
        soon=services.due_soon_by(today),
        history=history,
        history_subjects=services.history_subjects(grant, history),
    )


@bp.route("/<int:grant_id>/edit", methods=["GET", "POST"])
@requires(Access.STAFF)
def edit(grant_id: int):
    grant = get_or_404(Grant, grant_id)
    form = _form_with_choices(grant.organisation_id, obj=grant, report_dates=[report.due_on for report in grant.reports])
    if request.method == "GET":
        form.status.data = grant.status.value
    if form.validate_on_submit():
        try:
            services.save(grant, form.data, current_user)
        except services.ReportDatesChangedMeanwhile:
            form.report_dates.errors.append(REPORT_DATES_CHANGED)
        else:
            flash("Changes saved.", "success")
            return redirect(url_for(".detail", grant_id=grant.id))
    return _render_form(form, grant)


@bp.route("/<int:grant_id>/deactivate", methods=["POST"])
@requires(Access.STAFF)
def deactivate(grant_id: int):
    grant = get_or_404(Grant, grant_id)
    services.set_status(grant, GrantStatus.CLOSED, current_user)
    flash("The grant is closed.", "success")
    return redirect(url_for(".detail", grant_id=grant.id))


@bp.route("/<int:grant_id>/reports/<int:report_id>/received", methods=["POST"])
@requires(Access.STAFF)
def report_received(grant_id: int, report_id: int):
    grant = get_or_404(Grant, grant_id)
    report = services.report_of(grant, report_id)
    if report is None:
        abort(404)
    if services.mark_received(report, services.today(), current_user):
        flash(f"The report due {report.due_on:%d %b %Y} is marked received.", "success")
    else:
        flash(f"The report due {report.due_on:%d %b %Y} was already marked received.", "info")
    return redirect(url_for(".detail", grant_id=grant.id))
