"""Loading records for a view: a missing or hidden record is a 404, and a page of a list that
cannot exist is a 400, never a 500."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, false

from crm.auth.permissions import can_see_inquiry, can_see_organisation, is_staff
from crm.extensions import db
from crm.models import Contact, Inquiry, Organisation

Record = TypeVar("Record")
# The largest id a record can have: the id columns are 32-bit integers on PostgreSQL, which
# refuses a larger number in a query outright. Every check of an id from a request uses it.
MAX_ID = 2**31 - 1


def get_or_404(model: type[Record], record_id: int) -> Record:
    """The record the current user may see, or a 404.

    A record the user may not see is reported as missing, so ids cannot be probed.
    """
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


# The page of a record that can be merged into another (crm.merging), and its URL argument.
MERGEABLE_PAGES = {Contact: ("contacts.detail", "contact_id"), Organisation: ("organisations.detail", "organisation_id")}


def get_unmerged_or_404(model: type[Record], record_id: int) -> Record:
    """get_or_404 for a view that changes the record. A merged record is not changed: the
    visitor is sent to its page, which points to the record it was merged into."""
    record = get_or_404(model, record_id)
    if getattr(record, "merged_into_id", None) is not None:
        endpoint, argument = MERGEABLE_PAGES[type(record)]
        flash(f"{record} was merged into another record; change that one instead.", "error")
        abort(redirect(url_for(endpoint, **{argument: record.id})))
    return record


def page_number() -> int:
    """The page of a list asked for in ?page=, 1 when none is.

    Anything but a whole number from 1 to MAX_ID is a 400 that says so: a larger number would
    overflow the query's OFFSET, and quietly showing page 1 instead would mislead.
    """
    raw = request.args.get("page", "")
    if not raw:
        return 1
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID)) and 1 <= int(raw) <= MAX_ID):
        abort(400, f"The page number must be a whole number from 1 to {MAX_ID:,}.")
    return int(raw)


def page_args(form: Any, leave_out: tuple[str, ...] = ("page",)) -> dict[str, str]:
    """The filters of the query string (the fields of ``form``, the list's filter form) but
    ``leave_out``, for a list's page links to carry along. Only the filters: any other
    parameter would reach url_for as one of its own arguments (endpoint, _scheme, _external),
    a 500 or a link to somewhere else."""
    names = {field.name for field in form}
    return {key: value for key, value in request.args.items() if key in names and key not in leave_out}


def paginate(query: Select) -> Pagination:
    """One page of a list, the page taken from ?page=; a page past the end is empty."""
    return db.paginate(query, page=page_number(), per_page=current_app.config["PAGE_SIZE"], error_out=False)


def filtered_page(query: Select, filters_valid: bool) -> tuple[Pagination, int]:
    """A page of a filtered list and the status to serve it with. A filter with errors lists
    nothing (422) beside its message: dropping it quietly would list records nobody asked for."""
    if not filters_valid:
        query = query.where(false())
    return paginate(query), 200 if filters_valid else 422


def id_from_query(name: str) -> int | None:
    """An id given in the query string to prefill a form (?organisation_id=7); None when absent,
    malformed or beyond any id, which only leaves the form empty."""
    raw = request.args.get(name, "")
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID)) and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None
