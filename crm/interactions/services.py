from __future__ import annotations

from datetime import date, time

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from crm import audit
from crm.extensions import db
from crm.models import Contact, Interaction, InteractionKind, Organisation, User
from crm.records import MAX_ID
from crm.timezones import local_parts, local_time, local_to_utc


def newest_first() -> Select:
    """Interactions, newest first, with what a timeline shows of each loaded in one go."""
    return (
        select(Interaction)
        .options(
            selectinload(Interaction.organisation),
            selectinload(Interaction.contacts),
            selectinload(Interaction.logged_by),
        )
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    )


def open_follow_ups(user: User) -> Select:
    """The follow-ups ``user`` still has to do, soonest first, with their organisation and
    contacts loaded: a follow-up is for whoever logged the interaction (the dashboard's list,
    the calendar feed)."""
    return (
        select(Interaction)
        .options(selectinload(Interaction.organisation), selectinload(Interaction.contacts))
        .where(
            Interaction.logged_by_id == user.id,
            Interaction.follow_up_done.is_(False),
            Interaction.follow_up_on.is_not(None),
        )
        .order_by(Interaction.follow_up_on, Interaction.id)
    )


def valid_ids(ids: list[int] | None) -> list[int]:
    return [id_ for id_ in ids or [] if 0 < id_ <= MAX_ID]


def contacts_by_id(ids: list[int] | None) -> dict[int, Contact]:
    ids = valid_ids(ids)
    if not ids:
        return {}
    return {contact.id: contact for contact in db.session.scalars(select(Contact).where(Contact.id.in_(ids)))}


def contact_choices(organisation_id: int | None, extra_ids: list[int]) -> list[tuple[int, str]]:
    """The organisation's active contacts, plus any others the form must show (already linked,
    named in the address, or ticked in a rejected submission)."""
    contacts: dict[int, Contact] = {}
    if organisation_id is not None and 0 < organisation_id <= MAX_ID:
        query = select(Contact).where(Contact.organisation_id == organisation_id, Contact.active.is_(True))
        contacts.update({contact.id: contact for contact in db.session.scalars(query)})
    contacts.update(contacts_by_id(extra_ids))
    ordered = sorted(contacts.values(), key=lambda contact: (contact.name.casefold(), contact.id))
    return [(contact.id, _contact_label(contact, organisation_id)) for contact in ordered]


def _contact_label(contact: Contact, organisation_id: int | None) -> str:
    notes = []
    if contact.organisation_id != organisation_id:
        notes.append(contact.organisation.name if contact.organisation else "no organisation")
    if not contact.active:
        notes.append("inactive")
    return f"{contact.name} ({', '.join(notes)})" if notes else contact.name


def contact_problems(
    organisation_id: int | None, contact_ids: list[int], from_contact_id: int | None, kept_ids: set[int]
) -> list[str]:
    """Why these contacts cannot be part of an interaction with this organisation, if they cannot.

    Each must be an active contact of the organisation, except: the contact the form was opened
    from may have no organisation (or be inactive), and contacts already on the interaction stay
    as long as its organisation is unchanged (`kept_ids`).
    """
    found = contacts_by_id(contact_ids)
    problems = []
    if any(id_ not in found for id_ in contact_ids):
        problems.append("One of the chosen contacts does not exist.")
    for contact in sorted(found.values(), key=lambda item: item.name.casefold()):
        if contact.id in kept_ids:
            continue
        if contact.organisation is None:
            if contact.id != from_contact_id:
                problems.append(f"{contact.name} does not belong to an organisation; log this from their own page.")
        elif contact.organisation_id != organisation_id:
            if organisation_id is None:
                problems.append(f"{contact.name} is a contact of {contact.organisation.name}; choose that organisation.")
            else:
                problems.append(f"{contact.name} is not a contact of the chosen organisation.")
        elif not contact.active and contact.id != from_contact_id:
            problems.append(f"{contact.name} is no longer an active contact.")
    return problems


def time_to_keep(interaction: Interaction, day: date, at: time) -> time:
    """The time of day to save from an edit form: the stored one, seconds and all, when the
    form comes back with the date and minute it showed. The form shows only the minute, and
    in the hour the clocks go back the same minute happens twice; saving it as typed would
    move an interaction nobody meant to move (by seconds, or by an hour)."""
    if interaction.occurred_at is not None and (day, at) == local_parts(interaction.occurred_at):
        return local_time(interaction.occurred_at).time()  # keeps the fold: which 01:30 it was
    return at


def stage(interaction: Interaction, data: dict, actor: User) -> Interaction:
    """Apply validated form data to the session without committing (save commits; an import
    stages many rows and commits them together). A new interaction is logged by `actor`."""
    interaction.kind = InteractionKind(data["kind"])
    interaction.occurred_at = local_to_utc(data["occurred_on"], data["occurred_time"])
    interaction.summary = data["summary"]
    organisation_id = data.get("organisation_id")
    interaction.organisation = db.session.get(Organisation, organisation_id) if organisation_id else None
    interaction.contacts = list(contacts_by_id(data.get("contacts")).values())
    follow_up_on = data.get("follow_up_on")
    if interaction.id is None or follow_up_on != interaction.follow_up_on:
        interaction.follow_up_done = False  # a new follow-up date is a new thing to do
    interaction.follow_up_on = follow_up_on
    if interaction.id is None:
        interaction.logged_by = actor
    db.session.add(interaction)
    return interaction


def save(interaction: Interaction, data: dict, actor: User) -> Interaction:
    """Create or update an interaction from validated form data, and commit it with its audit trail."""
    stage(interaction, data, actor)
    audit.commit(actor)
    return interaction


def complete_follow_up(interaction: Interaction, actor: User) -> None:
    interaction.follow_up_done = True
    audit.commit(actor)


def delete(interaction: Interaction, actor: User) -> None:
    db.session.delete(interaction)
    audit.commit(actor)
