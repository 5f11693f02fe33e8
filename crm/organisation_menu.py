"""The organisation menu that contacts, grants, interactions, users and routing rules link
their records through: its form field and its choices. Those features share it, so it sits
below them, and none of them imports the organisations feature (whose page shows inquiries)."""

from __future__ import annotations

from sqlalchemy import or_, select

from crm.extensions import db
from crm.forms import SelectField, id_select
from crm.models import Organisation, RecordStatus

NOT_AN_ORGANISATION = "Choose an organisation from the list."


def organisation_select(label: str = "Organisation", **kwargs) -> SelectField:
    """The menu of organisations other records link to; the view sets its choices."""
    return id_select(label, NOT_AN_ORGANISATION, **kwargs)


def organisation_choices(include_id: int | None = None, active_only: bool = True) -> list[tuple[int, str]]:
    """Organisations to pick from: the active ones plus `include_id` (the one already chosen),
    or all of them, the inactive marked as such."""
    query = select(Organisation).where(Organisation.merged_into_id.is_(None)).order_by(Organisation.name_key)
    if active_only:
        query = query.where(or_(Organisation.status == RecordStatus.ACTIVE, Organisation.id == include_id))
    return [
        (organisation.id, organisation.name if organisation.is_active else f"{organisation.name} (inactive)")
        for organisation in db.session.scalars(query)
    ]
