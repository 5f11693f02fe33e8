"""Loading one record for a view: a missing or hidden record is a 404, never a 500."""

from __future__ import annotations

from typing import TypeVar

from flask import abort
from flask_login import current_user

from crm.auth.permissions import can_see_inquiry, can_see_organisation, is_staff
from crm.extensions import db
from crm.models import Inquiry, Organisation

Record = TypeVar("Record")
MAX_ID = 2**31 - 1


def get_or_404(model: type[Record], record_id: int) -> Record:
    """The record the current user may see, or a 404.

    A record the user may not see is reported as missing, so ids cannot be probed.
    """
    # Ids beyond a 32-bit integer cannot exist, and PostgreSQL would reject the query outright.
    if not 0 < record_id <= MAX_ID:
        abort(404)
    record = db.session.get(model, record_id)
    if record is None:
        abort(404)
    if isinstance(record, Organisation):
        if not can_see_organisation(current_user, record.id):
            abort(404)
    elif isinstance(record, Inquiry):
        if not can_see_inquiry(current_user, record):
            abort(404)
    elif not is_staff(current_user):
        abort(404)
    return record
