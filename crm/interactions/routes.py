from __future__ import annotations

from textwrap import shorten

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm import confirmation
from crm.auth.permissions import Access, requires
from crm.auth.redirects import is_safe_next
from crm.database import utcnow
from crm.forms import with_empty_choice
from crm.interactions import services
from crm.interactions.forms import InteractionForm
from crm.models import Contact, Interaction, Organisation
from crm.organisation_menu import organisation_choices
from crm.records import get_or_404, get_unmerged_or_404
from crm.timezones import format_datetime, local_parts

bp = Blueprint("interactions", __name__, url_prefix="/interactions")


def _record_from_query(model, name: str):
    """The record named by ?name=id, None when absent, 404 when unknown or malformed. A merged
    record gets no new interaction (a form opened before the merge): its page is shown instead."""
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        record_id = int(raw)
    except ValueError:
        abort(404)
    return get_unmerged_or_404(model, record_id)


def _with_organisation_choices(form: InteractionForm) -> InteractionForm:
    """Contacts are picked from the chosen organisation's list, so "contacts only" is offered
    only where a contact without an organisation is already on the form: the contact page it
    was opened from, or an interaction logged that way. Anywhere else it would lead nowhere."""
    no_organisation = "No organisation (contacts only)" if _contacts_only_possible(form) else "Choose an organisation"
    form.organisation_id.choices = with_empty_choice(no_organisation, organisation_choices(active_only=False))
    return form


def _contacts_only_possible(form: InteractionForm) -> bool:
    if form.from_contact is not None and form.from_contact.organisation_id is None:
        return True
    return form.interaction is not None and form.interaction.organisation_id is None


def _with_contact_choices(form: InteractionForm) -> InteractionForm:
    shown = list(form.contacts.data or [])
    if form.from_contact is not None:
        shown.append(form.from_contact.id)
    interaction = form.interaction
    if interaction is not None and interaction.organisation_id == form.organisation_id.data:
        shown += [contact.id for contact in interaction.contacts]
    form.contacts.choices = services.contact_choices(form.organisation_id.data, shown)
    return form


def _refresh_contacts(form: InteractionForm) -> None:
    """'Show this organisation's contacts': redraw the checkboxes for the organisation now chosen."""
    ticked = set(form.contacts.data or [])
    form.contacts.data = []
    _with_contact_choices(form)
    form.contacts.data = [id_ for id_, _label in form.contacts.choices if id_ in ticked]


def _page_of(interaction: Interaction) -> str:
    if interaction.organisation_id is not None:
        return url_for("organisations.detail", organisation_id=interaction.organisation_id)
    if interaction.contacts:
        return url_for("contacts.detail", contact_id=interaction.contacts[0].id)
    return url_for("dashboard.index")


def _render_form(form: InteractionForm, cancel_url: str):
    _with_contact_choices(form)
    status = 422 if form.errors else 200
    return render_template("interactions/form.html", form=form, interaction=form.interaction, cancel_url=cancel_url), status


@bp.route("/new", methods=["GET", "POST"])
@requires(Access.STAFF)
def new():
    organisation = _record_from_query(Organisation, "organisation_id")
    contact = _record_from_query(Contact, "contact_id")
    came_from_contact = contact is not None and organisation is None
    if came_from_contact:
        cancel_url = url_for("contacts.detail", contact_id=contact.id)
    elif organisation is not None:
        cancel_url = url_for("organisations.detail", organisation_id=organisation.id)
    else:
        cancel_url = url_for("dashboard.index")

    form = _with_organisation_choices(InteractionForm(from_contact=contact))
    if request.method == "GET":
        chosen = organisation or (contact.organisation if contact else None)
        form.organisation_id.data = chosen.id if chosen else None
        form.contacts.data = [contact.id] if contact else []
        form.occurred_on.data, form.occurred_time.data = local_parts(utcnow())
    elif request.form.get("action") == "refresh":
        _refresh_contacts(form)
        return _render_form(form, cancel_url)
    if form.validate_on_submit():
        interaction = services.save(Interaction(), form.data, current_user)
        flash("Interaction logged.", "success")
        if came_from_contact:
            return redirect(url_for("contacts.detail", contact_id=contact.id))
        return redirect(_page_of(interaction))
    return _render_form(form, cancel_url)


@bp.route("/<int:interaction_id>/edit", methods=["GET", "POST"])
@requires(Access.STAFF)
def edit(interaction_id: int):
    interaction = get_or_404(Interaction, interaction_id)
    form = _with_organisation_choices(InteractionForm(obj=interaction, interaction=interaction))
    if request.method == "GET":
        form.kind.data = interaction.kind.value
        form.occurred_on.data, form.occurred_time.data = local_parts(interaction.occurred_at)
        form.contacts.data = [contact.id for contact in interaction.contacts]
    elif request.form.get("action") == "refresh":
        _refresh_contacts(form)
        return _render_form(form, _page_of(interaction))
    if form.validate_on_submit():
        data = form.data
        data["occurred_time"] = services.time_to_keep(interaction, data["occurred_on"], data["occurred_time"])
        services.save(interaction, data, current_user)
        flash("Changes saved.", "success")
        return redirect(_page_of(interaction))
    return _render_form(form, _page_of(interaction))


@bp.route("/<int:interaction_id>/follow-up/done", methods=["POST"])
@requires(Access.STAFF)
def complete_follow_up(interaction_id: int):
    interaction = get_or_404(Interaction, interaction_id)
    if interaction.follow_up_on is None:
        flash("That interaction has no follow-up to mark done.", "info")
    else:
        services.complete_follow_up(interaction, current_user)
        flash("Follow-up marked done.", "success")
    target = request.form.get("next")
    return redirect(target if is_safe_next(target) else _page_of(interaction))


@bp.route("/<int:interaction_id>/delete", methods=["GET", "POST"])
@requires(Access.STAFF)
def delete(interaction_id: int):
    """The link asks first; the POST from that page deletes."""
    interaction = get_or_404(Interaction, interaction_id)
    target = _page_of(interaction)
    if not confirmation.confirmed():
        return confirmation.ask(
            question=f"Delete this {interaction.kind.label.lower()} of {format_datetime(interaction.occurred_at)}?",
            explanation=[
                f"“{shorten(interaction.summary, 200, placeholder='…')}”",
                "It is removed from every timeline. The audit trail keeps a copy.",
            ],
            action=url_for(".delete", interaction_id=interaction.id),
            button="Delete the interaction",
            cancel_url=url_for(".edit", interaction_id=interaction.id),
        )
    services.delete(interaction, current_user)
    flash("Interaction deleted.", "success")
    return redirect(target)
