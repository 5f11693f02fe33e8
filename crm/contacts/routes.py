from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.permissions import Access, requires
from crm.contacts import services
from crm.contacts.forms import ContactFilterForm, ContactForm
from crm.forms import with_empty_choice
from crm.invitations.services import sign_in_status
from crm.models import Contact
from crm.organisation_menu import organisation_choices
from crm.records import filtered_page, get_or_404, id_from_query, page_args

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

DUPLICATE_EMAIL = "Another contact already uses this email."


def _form_with_choices(include_organisation_id: int | None = None, **kwargs) -> ContactForm:
    form = ContactForm(**kwargs)
    form.organisation_id.choices = with_empty_choice("No organisation", organisation_choices(include_organisation_id))
    return form


@bp.route("/")
@requires(Access.STAFF)
def index():
    form = ContactFilterForm(request.args)
    form.organisation.choices = with_empty_choice("Any organisation", organisation_choices(active_only=False))
    filters = services.ContactFilters()
    valid = form.validate()
    if valid:
        filters = services.ContactFilters(
            q=form.q.data or "",
            organisation_id=int(form.organisation.data) if form.organisation.data else None,
            language=form.language.data or "",
            role=form.role.data or "",
            status=form.status.data or "",
        )
    page, status = filtered_page(services.search(filters), valid)
    return render_template("contacts/index.html", form=form, page=page, args=page_args()), status


@bp.route("/new", methods=["GET", "POST"])
@requires(Access.STAFF)
def new():
    organisation_id = id_from_query("organisation_id")
    form = _form_with_choices(organisation_id)
    if request.method == "GET" and organisation_id in {choice.value for choice in form.organisation_id.choices}:
        form.organisation_id.data = organisation_id
    if form.validate_on_submit():
        try:
            contact = services.save(Contact(), form.data, current_user)
        except services.DuplicateEmail:
            form.email.errors.append(DUPLICATE_EMAIL)
        else:
            flash(f"{contact.name} was added.", "success")
            return redirect(url_for(".detail", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=None), 422 if form.errors else 200


@bp.route("/<int:contact_id>")
@requires(Access.STAFF)
def detail(contact_id: int):
    contact = get_or_404(Contact, contact_id)
    return render_template(
        "contacts/detail.html",
        contact=contact,
        interactions=services.interactions_with(contact),
        history=services.history(contact),
        sign_in=sign_in_status(contact),
    )


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@requires(Access.STAFF)
def edit(contact_id: int):
    contact = get_or_404(Contact, contact_id)
    form = _form_with_choices(contact.organisation_id, obj=contact)
    if form.validate_on_submit():
        try:
            services.save(contact, form.data, current_user)
        except services.DuplicateEmail:
            form.email.errors.append(DUPLICATE_EMAIL)
        else:
            flash("Changes saved.", "success")
            return redirect(url_for(".detail", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=contact), 422 if form.errors else 200


@bp.route("/<int:contact_id>/deactivate", methods=["POST"])
@requires(Access.STAFF)
def deactivate(contact_id: int):
    contact = get_or_404(Contact, contact_id)
    services.set_active(contact, False, current_user)
    flash(f"{contact.name} is now inactive.", "success")
    return redirect(url_for(".detail", contact_id=contact.id))


@bp.route("/<int:contact_id>/reactivate", methods=["POST"])
@requires(Access.STAFF)
def reactivate(contact_id: int):
    contact = get_or_404(Contact, contact_id)
    try:
        services.set_active(contact, True, current_user)
    except services.DuplicateEmail:
        flash(
            f"{contact.name} was not reactivated: another active contact already uses {contact.email}. "
            "Change one of the two emails first.",
            "error",
        )
    else:
        flash(f"{contact.name} is active again.", "success")
    return redirect(url_for(".detail", contact_id=contact.id))
