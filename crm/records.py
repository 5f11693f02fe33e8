"""Loading one record for a view: a missing or hidden record is a 404, never a 500."""

from __future__ import annotations

from typing import TypeVar

from flask import abort
from flask_login import current_user

from crm.auth.permissions import can_see_organisation, is_staff
from crm.extensions import db
from crm.models import Organisation

Record = TypeVar("Record")


def get_or_404(model: type[Record], record_id: int) -> Record:
    """The record the current user may see, or a 404.

    A record the user may not see is reported as missing, so ids cannot be probed.
    """
    record = db.session.get(model, record_id)
    if record is None:
        abort(404)
    if isinstance(record, Organisation):
        if not can_see_organisation(current_user, record.id):
            abort(404)
    elif not is_staff(current_user):
        abort(404)
    return record
