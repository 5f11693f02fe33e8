from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm import audit
from crm.auth.permissions import Access, is_staff, requires
from crm.database import utcnow
from crm.forms import with_empty_choice
from crm.inquiries.overdue import overdue_inquiries
from crm.models import Organisation, RecordStatus
from crm.organisations import services
from crm.organisations.forms import OrganisationFilterForm, OrganisationForm
from crm.records import filtered_page, get_or_404, get_unmerged_or_404, page_args

bp = Blueprint("organisations", __name__, url_prefix="/organisations")


BACKUP_NOT_ALLOWED = "The backup must be one of this organisation's active contacts who take inquiries."


def _form_with_choices(organisation: Organisation | None = None, **kwargs) -> OrganisationForm:
    form = OrganisationForm(**kwargs)
    form.regions.choices = services.region_choices()
    form.counties.choices = services.county_choices()
    form.backup_contact_id.choices = with_empty_choice("No backup", services.backup_choices(organisation))
    return form


@bp.route("/")
@requires(Access.STAFF)
def index():
    form = OrganisationFilterForm(request.args)
    form.region.choices = with_empty_choice("Any region", services.region_choices())
    filters = services.OrganisationFilters()
    valid = form.validate()
    if valid:
        filters = services.OrganisationFilters(
            q=form.q.data or "",
            kind=form.kind.data or "",
            region_id=int(form.region.data) if form.region.data else None,
            status=form.status.data or "",
        )
    page, status = filtered_page(services.search(filters), valid)
    return render_template("organisations/index.html", form=form, page=page, args=page_args(form)), status


@bp.route("/new", methods=["GET", "POST"])
@requires(Access.STAFF)
def new():
    form = _form_with_choices()
    if form.validate_on_submit():
        try:
            organisation = services.save(Organisation(), form.data, current_user)
        except services.DuplicateName:
            form.name.errors.append("An organisation with this name already exists.")
        except services.BackupNotAllowed:
            form.backup_contact_id.errors.append(BACKUP_NOT_ALLOWED)
        else:
            flash(f"{organisation.name} was added.", "success")
            return redirect(url_for(".detail", organisation_id=organisation.id))
    return render_template("organisations/form.html", form=form, organisation=None), 422 if form.errors else 200


@bp.route("/<int:organisation_id>")
@requires(Access.SIGNED_IN)
def detail(organisation_id: int):
    organisation = get_or_404(Organisation, organisation_id)
    interactions = services.timeline(organisation)
    staff = is_staff(current_user)
    return render_template(
        "organisations/detail.html",
        organisation=organisation,
        interactions=interactions,
        last_touch=services.last_touch(interactions),
        can_edit=staff,
        history=audit.history_for("Organisation", organisation.id) if staff else [],
        # This page is a partner's home: it shows their organisation's overdue inquiries.
        overdue=None if staff else overdue_inquiries(current_user, utcnow()),
    )


@bp.route("/<int:organisation_id>/edit", methods=["GET", "POST"])
@requires(Access.STAFF)
def edit(organisation_id: int):
    organisation = get_unmerged_or_404(Organisation, organisation_id)
    form = _form_with_choices(organisation, obj=organisation)
    if request.method == "GET":
        form.kind.data = organisation.kind.value
        form.regions.data = [region.id for region in organisation.regions]
        form.counties.data = [county.fips for county in organisation.counties]
    if form.validate_on_submit():
        try:
            services.save(organisation, form.data, current_user)
        except services.DuplicateName:
            form.name.errors.append("An organisation with this name already exists.")
        except services.BackupNotAllowed:
            form.backup_contact_id.errors.append(BACKUP_NOT_ALLOWED)
        else:
            flash("Changes saved.", "success")
            return redirect(url_for(".detail", organisation_id=organisation.id))
    return render_template("organisations/form.html", form=form, organisation=organisation), 422 if form.errors else 200


@bp.route("/<int:organisation_id>/deactivate", methods=["POST"])
@requires(Access.STAFF)
def deactivate(organisation_id: int):
    organisation = get_unmerged_or_404(Organisation, organisation_id)
    services.set_status(organisation, RecordStatus.INACTIVE, current_user)
    flash(f"{organisation.name} is now inactive.", "success")
    return redirect(url_for(".detail", organisation_id=organisation.id))


@bp.route("/<int:organisation_id>/reactivate", methods=["POST"])
@requires(Access.STAFF)
def reactivate(organisation_id: int):
    organisation = get_unmerged_or_404(Organisation, organisation_id)
    services.set_status(organisation, RecordStatus.ACTIVE, current_user)
    flash(f"{organisation.name} is active again.", "success")
    return redirect(url_for(".detail", organisation_id=organisation.id))
