from typing import TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.permissions import Access, is_staff, may_edit_availability, requires
from crm.auth.services import my_contact_id
from crm.contacts import handover, services
from crm.contacts.forms import AvailabilityForm, ContactFilterForm, ContactForm, HandoverForm
from crm.database import utcnow
from crm.extensions import db
from crm.forms import with_empty_choice
from crm.inquiries.services import ActionRefused
from crm.invitations.services import sign_in_status
from crm.models import Contact, Inquiry
from crm.organisation_menu import organisation_choices
from crm.records import MAX_ID, filtered_page, get_or_404, get_unmerged_or_404, id_from_query, page_args
from crm.routing.engine import unavailable_reason
from crm.routing.services import candidate_for

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

Form = TypeVar("Form", bound=AvailabilityForm)

DUPLICATE_EMAIL = "Another contact already uses this email."


def _form_with_choices(include_organisation_id: int | None = None, contact: Contact | None = None) -> ContactForm:
    form = _with_away_days(ContactForm(obj=contact), contact)
    form.organisation_id.choices = with_empty_choice("No organisation", organisation_choices(include_organisation_id))
    form.topics.choices = services.topic_choices(contact)
    return form


def _with_away_days(form: Form, contact: Contact | None) -> Form:
    """The form, showing a contact's stored away instants as the days they cover and their
    topics by id, until it is posted. Given as keyword arguments, these lose to obj's
    attributes of the same names (the instants, the Topic records), which showed the day after
    the last day away and no topic ticked."""
    if contact is not None and request.method == "GET":
        form.away_from.data, form.away_until.data = services.away_days(contact)
        form.topics.data = [topic.id for topic in contact.topics]
    return form


def availability_status(contact: Contact) -> str | None:
    """Why routing passes the contact by now ("out of office until ..."), or None."""
    return unavailable_reason(candidate_for(contact), utcnow())


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
    return render_template("contacts/index.html", form=form, page=page, args=page_args(form)), status


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
        unavailable=availability_status(contact),
        sign_in=sign_in_status(contact),
    )


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@requires(Access.STAFF)
def edit(contact_id: int):
    contact = get_unmerged_or_404(Contact, contact_id)
    form = _form_with_choices(contact.organisation_id, contact)
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
    contact = get_unmerged_or_404(Contact, contact_id)
    services.set_active(contact, False, current_user)
    flash(f"{contact.name} is now inactive.", "success")
    return redirect(url_for(".detail", contact_id=contact.id))


@bp.route("/<int:contact_id>/reactivate", methods=["POST"])
@requires(Access.STAFF)
def reactivate(contact_id: int):
    contact = get_unmerged_or_404(Contact, contact_id)
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


# --- availability and handover: partners reach these for their own organisation's contacts


def _contact_whose_availability_may_change(contact_id: int) -> Contact:
    """The contact, when the current user may change their availability; a 404 otherwise, as
    for any record the user may not see."""
    contact = db.session.get(Contact, contact_id) if 0 < contact_id <= MAX_ID else None
    if contact is None or not may_edit_availability(current_user, contact, my_contact_id(current_user)):
        abort(404)
    if contact.merged_into_id is not None:
        if not is_staff(current_user):
            abort(404)
        get_unmerged_or_404(Contact, contact.id)  # sends staff to its page, which points on
    return contact


def _back_to(contact: Contact) -> str:
    if is_staff(current_user):
        return url_for(".detail", contact_id=contact.id)
    return url_for(".availability", contact_id=contact.id)


@bp.route("/<int:contact_id>/availability", methods=["GET", "POST"])
@requires(Access.SIGNED_IN)
def availability(contact_id: int):
    contact = _contact_whose_availability_may_change(contact_id)
    form = _with_away_days(AvailabilityForm(obj=contact), contact)
    form.topics.choices = services.topic_choices(contact)
    if form.validate_on_submit():
        services.save_availability(contact, form.data, current_user)
        due = handover.due_while_away(contact, current_user) if contact.away_from or contact.away_until else []
        if due:
            flash(
                f"Availability saved. {len(due)} open {'inquiry is' if len(due) == 1 else 'inquiries are'} "
                "due while away: hand them to a colleague below.",
                "success",
            )
            return redirect(url_for(".handover_list", contact_id=contact.id))
        flash("Availability saved.", "success")
        return redirect(_back_to(contact))
    return render_template(
        "contacts/availability.html",
        form=form,
        contact=contact,
        unavailable=availability_status(contact),
        back=_back_to(contact),
    ), 422 if form.errors else 200


def _handover_form(contact: Contact, **kwargs) -> HandoverForm:
    form = HandoverForm(**kwargs)
    form.contact_id.choices = with_empty_choice(
        "Choose a colleague", ((person.id, person.name) for person in handover.colleagues(contact, utcnow()))
    )
    return form


def _render_handover(contact: Contact, status: int = 200, failed: tuple[int, HandoverForm] | None = None):
    due = handover.due_while_away(contact, current_user)
    forms = {inquiry.id: _handover_form(contact, formdata=None, prefix=f"i{inquiry.id}") for inquiry in due}
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    return render_template(
        "contacts/handover.html",
        contact=contact,
        due=due,
        forms=forms,
        has_colleagues=bool(handover.colleagues(contact, utcnow())),
        back=_back_to(contact),
    ), status


@bp.route("/<int:contact_id>/handover")
@requires(Access.SIGNED_IN)
def handover_list(contact_id: int):
    return _render_handover(_contact_whose_availability_may_change(contact_id))


@bp.route("/<int:contact_id>/handover/<int:inquiry_id>", methods=["POST"])
@requires(Access.SIGNED_IN)
def hand_over(contact_id: int, inquiry_id: int):
    contact = _contact_whose_availability_may_change(contact_id)
    inquiry = get_or_404(Inquiry, inquiry_id)
    if inquiry.assigned_contact_id != contact.id:
        abort(404)
    form = _handover_form(contact, prefix=f"i{inquiry.id}")
    if not form.validate_on_submit():
        return _render_handover(contact, 422, failed=(inquiry.id, form))
    colleague = db.session.get(Contact, form.contact_id.data)
    try:
        handover.hand_over(inquiry, colleague, form.note.data or "", current_user, utcnow())
    except ActionRefused as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
        return _render_handover(contact, refusal.status)
    flash(f"{inquiry.reference} was handed to {colleague.name}, who has been sent a notice.", "success")
    return redirect(url_for(".handover_list", contact_id=contact.id))
