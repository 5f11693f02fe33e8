"""Possible duplicates and the merge pages: choose per field, preview, confirm.

The view only turns requests into calls of crm.merging.services and its refusals into pages
with a 4xx status that says why.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.permissions import Access, requires
from crm.extensions import db
from crm.merging import services
from crm.merging.services import KEEP, TAKE, Kind, MergeRefused
from crm.records import MAX_ID

bp = Blueprint("merging", __name__)

DETAIL = {"contacts": ("contacts.detail", "contact_id"), "organisations": ("organisations.detail", "organisation_id")}


def _record_id(values, name: str, kind: Kind) -> int:
    raw = (values.get(name) or "").strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID)) and 0 < int(raw) <= MAX_ID):
        which = "to keep" if name == "survivor" else "to merge into it"
        raise MergeRefused(f"Choose the {kind.singular} {which} by its number.", 400)
    return int(raw)


def detail_url(kind: Kind, record_id: int) -> str:
    endpoint, argument = DETAIL[kind.key]
    return url_for(endpoint, **{argument: record_id})


def _refused(kind: Kind, refusal: MergeRefused):
    db.session.rollback()
    return (
        render_template("merging/refused.html", kind=kind, message=refusal.message, status=refusal.status),
        refusal.status,
    )


def _duplicates(kind: Kind):
    pairs, total = services.possible_duplicates(kind)
    return render_template("merging/duplicates.html", kind=kind, pairs=pairs, total=total, detail_url=detail_url)


@bp.route("/contacts/duplicates")
@requires(Access.STAFF)
def contact_duplicates():
    return _duplicates(services.CONTACTS)


@bp.route("/organisations/duplicates")
@requires(Access.STAFF)
def organisation_duplicates():
    return _duplicates(services.ORGANISATIONS)


def _page(kind: Kind, survivor, loser, choices: dict[str, str], step: str, status: int = 200):
    plan = services.plan(kind, survivor, loser)
    return render_template(
        "merging/merge.html",
        kind=kind,
        survivor=survivor,
        loser=loser,
        choices=choices,
        step=step,
        plan=plan,
        result=services.result(kind, survivor, loser, choices),
        version=services.version(survivor, loser),
        shown=services.shown,
        value_of=services.value_of,
        labels=services.REFERENCE_LABELS,
        detail_url=detail_url,
        choice_args={f"field-{name}": choice for name, choice in choices.items()},
        KEEP=KEEP,
        TAKE=TAKE,
    ), (409 if step == "preview" and plan.refusals else status)


def _merge(kind: Kind):
    values = request.args if request.method == "GET" else request.form
    try:
        if request.method == "POST" and request.form.get("kind") != kind.key:
            raise MergeRefused(f"This page merges {kind.key}; the form sent was not for {kind.key}.", 400)
        survivor_id, loser_id = _record_id(values, "survivor", kind), _record_id(values, "merged", kind)
        if request.method == "GET":
            survivor, loser = services.load_pair(kind, survivor_id, loser_id)
            choices = services.default_choices(kind, survivor, loser)
            # Back from the preview ("Change the choices"): the choices made, where still valid.
            choices.update(
                {
                    name: request.args[f"field-{name}"]
                    for name in choices
                    if request.args.get(f"field-{name}") in (KEEP, TAKE)
                }
            )
            return _page(kind, survivor, loser, choices, "choose")
        if request.form.get("step") == "confirm":
            services.merge(kind, survivor_id, loser_id, request.form, current_user)
            flash(f"The two {kind.key} are now one; the other is kept as merged into this one.", "success")
            return redirect(detail_url(kind, survivor_id))
        survivor, loser = services.load_pair(kind, survivor_id, loser_id)
        if request.form.get("version") != services.version(survivor, loser):
            raise MergeRefused(
                f"One of the two {kind.key} was changed since this page was shown. Review the merge again.", 409
            )
        choices = services.parse_choices(kind, request.form, survivor, loser)
        return _page(kind, survivor, loser, choices, "preview")
    except MergeRefused as refusal:
        return _refused(kind, refusal)


@bp.route("/contacts/merge", methods=["GET", "POST"])
@requires(Access.STAFF)
def merge_contacts():
    return _merge(services.CONTACTS)


@bp.route("/organisations/merge", methods=["GET", "POST"])
@requires(Access.STAFF)
def merge_organisations():
    return _merge(services.ORGANISATIONS)
