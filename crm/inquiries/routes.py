"""Inquiries worked to a close: the inbox, one inquiry's page and its actions, inquiries
logged by hand, and the CSV export.

Every route that takes an inquiry loads it with get_or_404, so a partner reaches only the
inquiries routed to their own organisation; lists and the export filter by the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from crm import confirmation
from crm.auth.permissions import Access, can_see_inquiry, is_staff, may_read_access_log, requires
from crm.auth.redirects import is_safe_next
from crm.auth.token_pages import no_referrer
from crm.csv_export import CSV_MEDIA_TYPE, csv_response_bytes
from crm.database import utcnow, writes_on_get
from crm.extensions import db
from crm.forms import with_empty_choice
from crm.inquiries import accept_links, acceptance, accepting, attempts, outcomes, queries, services
from crm.inquiries.acceptance import may_decide
from crm.inquiries.due import due_label
from crm.inquiries.export import EXPORT_HEADER, export_table
from crm.inquiries.filters import DEFAULT_SORT, InboxFilters
from crm.inquiries.forms import (
    AcceptForm,
    AcceptLinkForm,
    AssignForm,
    AttemptForm,
    CloseForm,
    InboxFilterForm,
    LinkContactForm,
    ManualInquiryForm,
    NoteForm,
    PassForm,
    ResponseForm,
    StatusForm,
)
from crm.inquiries.intake import InquiryDetails
from crm.inquiries.menus import (
    assignee_choices,
    county_choices,
    organisation_choices,
    region_choices,
    topic_choices,
    visible_counties,
)
from crm.inquiries.paging import Page, fetch_page
from crm.inquiries.timeline import timeline
from crm.models import AttemptMethod, Contact, Inquiry, InquiryEventKind, InquirySource, Topic, User
from crm.models.inquiry_status import InquiryStatus
from crm.organisation_menu import organisation_choices as all_organisation_choices
from crm.records import MAX_ID, get_or_404, page_args
from crm.routing.services import foundation_contact_ids
from crm.timezones import local_parts, local_time

bp = Blueprint("inquiries", __name__, url_prefix="/inquiries")

# Ids beyond crm.records.MAX_ID never reach the database: the URL does not match, a 404.
ONE = f"/<int(max={MAX_ID}):inquiry_id>"
CURSOR_ARGS = ("after", "before")
T = TypeVar("T")


def _me() -> User:
    """The signed-in user itself, not the request-bound proxy: records keep who acted."""
    return current_user._get_current_object()


# --- the inbox ---------------------------------------------------------------------------


def _filter_form(formdata: MultiDict[str, str]) -> InboxFilterForm:
    form = InboxFilterForm(formdata)
    # The ids asked for (None if none, or not a number) join the menus even when they no
    # longer take inquiries, so old inquiries can still be filtered by who had them.
    form.assignee.choices = with_empty_choice("Anyone", assignee_choices(current_user, form.assignee.data))
    organisations = organisation_choices(form.organisation.data) if is_staff(current_user) else []
    form.organisation.choices = with_empty_choice("Any organisation", organisations)
    form.topic.choices = with_empty_choice("Any topic", topic_choices())
    counties = visible_counties(current_user)
    form.region.choices = with_empty_choice("Any region", region_choices(counties))
    form.county.choices = with_empty_choice("Any county", county_choices(counties))
    return form


def _filters(form: InboxFilterForm) -> InboxFilters | None:
    """The filters the form asks for; None when any is invalid, for a list must never
    quietly widen to every inquiry because one filter was mistyped."""
    if not form.validate():
        return None
    return InboxFilters(
        q=form.q.data or "",
        status=form.status.data or "",
        assignee_id=form.assignee.data,
        organisation_id=form.organisation.data,
        topic_id=form.topic.data,
        region_id=form.region.data,
        county_fips=form.county.data or "",
        language=form.language.data or "",
        received_from=form.received_from.data,
        received_to=form.received_to.data,
        overdue=bool(form.overdue.data),
        mine=bool(form.mine.data),
        sort=form.sort.data or DEFAULT_SORT,
    )


@bp.route("/")
@requires(Access.SIGNED_IN)
def index():
    now = utcnow()
    form = _filter_form(request.args)
    filters = _filters(form)
    if filters is None:
        page = Page(items=[], next_cursor=None, prev_cursor=None)
    else:
        page = fetch_page(
            filters,
            current_user,
            now,
            after=request.args.get("after"),
            before=request.args.get("before"),
            per_page=current_app.config["PAGE_SIZE"],
        )
    args = page_args(form, leave_out=CURSOR_ARGS)
    return render_template(
        "inquiries/index.html",
        form=form,
        filters=filters,
        page=page,
        args=args,
        now=now,
        due_label=due_label,
        attempts=attempts.summaries(inquiry.id for inquiry in page.items),
        no_attempts=attempts.NONE_YET,
        is_staff=is_staff(current_user),
        # "Assigned to me" finds nothing for someone who is no contact: the page says why.
        not_a_contact=filters is not None and filters.mine and not queries.takes_inquiries(current_user),
    ), 200 if filters is not None else 422


# A POST, its filters in the body: a search term (a family's name or email) in an address
# would be written to access logs and browser history.
@bp.route("/export.csv", methods=["POST"])
@requires(Access.SIGNED_IN)
def export():
    now = utcnow()
    form = _filter_form(request.form)
    filters = _filters(form)
    if filters is None:
        problems = " ".join(f"{field.label.text}: {field.errors[0]}" for field in form if field.errors)
        abort(400, f"Nothing was exported, because a filter is not valid. {problems}")
    services.record_export(filters.described(), _me())
    rows = export_table(filters, current_user, now)
    response = Response(stream_with_context(csv_response_bytes(EXPORT_HEADER, rows)), mimetype=CSV_MEDIA_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="inquiries-{local_time(now):%Y-%m-%d}.csv"'
    return response


# --- inquiries that arrive another way ---------------------------------------------------


def _manual_form() -> ManualInquiryForm:
    form = ManualInquiryForm()
    form.topic_id.choices = with_empty_choice("Not given", topic_choices(active_only=True))
    form.assign_to.choices = with_empty_choice("Route with the rules", assignee_choices(current_user))
    return form


@bp.route("/new", methods=["GET", "POST"])
@requires(Access.STAFF)
def new():
    form = _manual_form()
    if form.validate_on_submit():
        details = InquiryDetails(
            name=form.name.data,
            email=form.email.data or "",
            phone=form.phone.data or "",
            contact_preference=form.preference,
            zip_code=form.zip_code.data or "",
            topic=db.session.get(Topic, form.topic_id.data) if form.topic_id.data else None,
            language=form.language.data,
            message=form.message.data,
            consent=bool(form.consent.data),
            source=InquirySource(form.source.data),
        )
        assign_to = db.session.get(Contact, form.assign_to.data) if form.assign_to.data else None
        try:
            received = services.log_inquiry(details, assign_to, _me(), utcnow())
        except services.ActionRefused as refusal:
            db.session.rollback()
            form.assign_to.errors.append(refusal.message)
            return render_template("inquiries/new.html", form=form), refusal.status
        inquiry = received.inquiry
        if received.duplicate:
            flash(f"The same request was logged a few minutes ago as {inquiry.reference}; here it is.", "info")
        elif inquiry.assigned_contact is None:
            flash(
                f"Inquiry {inquiry.reference} was logged but not routed: {inquiry.routing_reason} "
                "Assign it below.",
                "error",
            )
        elif not inquiry.consent:
            flash(
                f"Inquiry {inquiry.reference} was logged and kept with the foundation, assigned to "
                f"{inquiry.assigned_contact.name}: without their consent it is not passed to a partner.",
                "success",
            )
        else:
            flash(f"Inquiry {inquiry.reference} was logged and assigned to {inquiry.assigned_contact.name}.", "success")
        return redirect(url_for(".detail", inquiry_id=inquiry.id))
    return render_template("inquiries/new.html", form=form), 422 if form.errors else 200


# --- one inquiry -------------------------------------------------------------------------


def _assign_form(inquiry: Inquiry, **kwargs) -> AssignForm:
    form = AssignForm(**kwargs)
    # Without the requester's consent only the foundation's own people may take it.
    allowed = None if inquiry.consent else foundation_contact_ids()
    form.contact_id.choices = with_empty_choice(
        "Choose a contact",
        (
            (id_, label)
            for id_, label in assignee_choices(current_user)
            if id_ != inquiry.assigned_contact_id and (allowed is None or id_ in allowed)
        ),
    )
    return form


def _render_detail(inquiry: Inquiry, status: int = 200, **forms):
    """The inquiry page. Rendering it for a refused or invalid action records no view:
    nothing is written when an action fails."""
    now = utcnow()
    events = services.load_events(inquiry)
    routing_story, contact_names = services.routing_story(events)
    shows_access_log = may_read_access_log(current_user)
    forms.setdefault("assign_form", _assign_form(inquiry, formdata=None))
    forms.setdefault("response_form", ResponseForm(formdata=None))
    forms.setdefault("note_form", NoteForm(formdata=None))
    forms.setdefault("attempt_form", _attempt_form(formdata=None))
    attempt_list = services.load_attempts(inquiry)
    forms.setdefault("accept_form", AcceptForm(formdata=None, shown_contact=inquiry.assigned_contact_id))
    forms.setdefault("pass_form", PassForm(formdata=None, shown_contact=inquiry.assigned_contact_id))
    return render_template(
        "inquiries/detail.html",
        inquiry=inquiry,
        # Who looked is for managers: the timeline shows views to them alone, beside the access log.
        timeline=timeline(events, with_views=shows_access_log),
        access_log=[e for e in events if e.kind is InquiryEventKind.VIEWED] if shows_access_log else None,
        routing_story=routing_story,
        contact_names=contact_names,
        takes_work=services.takes_work(inquiry),
        due=due_label(inquiry, now),
        moves=[(target, services.move_label(inquiry.status, target)) for target in services.menu_moves(inquiry)],
        is_staff=is_staff(current_user),
        attempt_list=attempt_list,
        may_decide=may_decide(current_user.role, current_user.organisation_id, inquiry.organisation_id),
        InquiryEventKind=InquiryEventKind,
        **forms,
    ), status


@bp.route(ONE)
@writes_on_get  # the view is recorded in the access log
@requires(Access.SIGNED_IN)
def detail(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    services.record_view(inquiry, _me(), utcnow())
    return _render_detail(inquiry)


def _refused(inquiry: Inquiry, refusal: services.ActionRefused):
    """The inquiry page with the refusal flashed, answered with its status; nothing is written."""
    db.session.rollback()
    flash(refusal.message, "error")
    return _render_detail(inquiry, refusal.status)


def _act(inquiry: Inquiry, action: Callable[[], T], done: Callable[[T], str], next_url: str | None = None):
    """Run an action and say what it did; a refusal is flashed and answered with its status,
    and nothing is written."""
    try:
        result = action()
    except services.ActionRefused as refusal:
        return _refused(inquiry, refusal)
    flash(done(result), "success")
    if not can_see_inquiry(current_user, inquiry):
        # It now belongs to another organisation: this user's part is done.
        return redirect(url_for(".index"))
    return redirect(next_url or url_for(".detail", inquiry_id=inquiry.id))


@bp.route(ONE + "/assign", methods=["POST"])
@requires(Access.SIGNED_IN)
def assign(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = _assign_form(inquiry)
    if not form.validate_on_submit():
        return _render_detail(inquiry, 422, assign_form=form)
    contact = db.session.get(Contact, form.contact_id.data)
    return _act(
        inquiry,
        lambda: services.assign(inquiry, contact, _me(), utcnow()),
        lambda _: f"Assigned to {contact.name}, who has been sent a notice.",
    )


# --- accept or pass ----------------------------------------------------------------------


@bp.route(ONE + "/accept", methods=["POST"])
@requires(Access.SIGNED_IN)
def accept(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = AcceptForm()
    if not form.validate_on_submit():
        flash("The page had expired: try again.", "error")
        return _render_detail(inquiry, 400)
    return _act(
        inquiry,
        lambda: accepting.accept(inquiry, _me(), utcnow(), shown_contact_id=form.shown_contact_id()),
        lambda _: f"You accepted {inquiry.reference}.",
    )


@bp.route(ONE + "/pass", methods=["POST"])
@requires(Access.SIGNED_IN)
def pass_on(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = PassForm()
    if not form.validate_on_submit():
        return _render_detail(inquiry, 422, pass_form=form)

    def done(taker: Contact) -> str:
        if inquiry.acceptance_due_at is None:
            return f"{inquiry.reference} was passed on, but everyone routing could offer it to has passed it: it stays with {taker.name}. Assign it by hand."
        return f"{inquiry.reference} was passed on to {taker.name}, who has been sent a notice."

    return _act(
        inquiry,
        lambda: accepting.pass_on(
            inquiry,
            form.pass_reason.data,
            form.pass_note.data or "",
            _me(),
            utcnow(),
            shown_contact_id=form.shown_contact_id(),
        ),
        done,
    )


def _link_problem(heading: str, explanation: str, status: int):
    return render_template(
        "inquiries/accept_link_problem.html", heading=heading, explanation=explanation, status=status
    ), status


def _linked_inquiry(token: str | None) -> Inquiry | tuple:
    """The inquiry an acceptance link names, if it still works for the signed-in user; else the
    page saying why not. Someone who may not see the inquiry learns nothing about it."""
    if not token:
        return _link_problem("This address is missing its link", "Open the link from the email again.", 400)
    try:
        link = accept_links.read(token)
    except accept_links.BadLink as bad:
        if bad.expired:
            return _link_problem("This link has expired", "Open the inquiry from your inbox instead.", 410)
        return _link_problem(
            "This link is not valid", "It may have been cut short or changed. Open the inquiry from your inbox.", 404
        )
    inquiry = db.session.get(Inquiry, link.inquiry_id)
    if inquiry is None or not can_see_inquiry(current_user, inquiry):
        return _link_problem(
            "This link is not valid", "It may have been cut short or changed. Open the inquiry from your inbox.", 404
        )
    refusal = acceptance.link_refusal(
        link_contact_id=link.contact_id,
        assigned_contact_id=inquiry.assigned_contact_id,
        accepted_at=inquiry.accepted_at,
        is_open=inquiry.status.is_open,
    )
    if refusal:
        return _link_problem("This link no longer works", refusal, 410)
    return inquiry


@bp.route("/accept")
@no_referrer
@requires(Access.SIGNED_IN)
def confirm_accept():
    """Where the notice's link lands, after sign-in: a question, never a change (GET)."""
    found = _linked_inquiry(request.args.get("token"))
    if not isinstance(found, Inquiry):
        return found
    contact = found.assigned_contact
    return confirmation.ask(
        question=f"Accept inquiry {found.reference}?",
        explanation=[
            f"It was routed to {contact.name}. Accepting it tells the foundation it is being taken care of; "
            "if you cannot help, open it and pass it on instead.",
        ],
        action=url_for(".accept_from_link"),
        fields={"token": request.args.get("token", "")},
        button="Accept the inquiry",
        button_class="button primary",
        cancel_url=url_for(".detail", inquiry_id=found.id),
        cancel_label="Open it without accepting",
    )


@bp.route("/accept", methods=["POST"])
@no_referrer
@requires(Access.SIGNED_IN)
def accept_from_link():
    form = AcceptLinkForm()
    if not form.validate_on_submit():
        return _link_problem("This page had expired", "Open the link from the email again.", 400)
    found = _linked_inquiry(form.token.data)
    if not isinstance(found, Inquiry):
        return found
    return _act(
        found,
        lambda: accepting.accept(found, _me(), utcnow(), shown_contact_id=found.assigned_contact_id, from_link=True),
        lambda _: f"You accepted {found.reference}.",
    )


@bp.route(ONE + "/status", methods=["POST"])
@requires(Access.SIGNED_IN)
def change_status(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = StatusForm()
    if not form.validate_on_submit():
        flash("Choose a status from the buttons on the page.", "error")
        return _render_detail(inquiry, 422)
    target = InquiryStatus(form.status.data)
    back = form.next.data if is_safe_next(form.next.data) and form.next.data.startswith(url_for(".index")) else None
    outcome = None
    if target is InquiryStatus.CLOSED:
        try:
            services.check_status_change(inquiry, target)
        except services.ActionRefused as refusal:
            return _refused(inquiry, refusal)
        close_form = _close_form(inquiry, formdata=request.form if confirmation.confirmed() else None)
        # The Close button asks what came of it first; the form on that page closes.
        if not confirmation.confirmed():
            close_form.next.data = back or ""
            return _ask_to_close(inquiry, close_form, back)
        if not close_form.validate():
            return _ask_to_close(inquiry, close_form, back), 422
        outcome = services.Outcome(
            close_form.chosen_outcome(), close_form.detail.data or "", close_form.organisation.data
        )

    def done(_) -> str:
        if target is InquiryStatus.NEW and inquiry.assigned_contact is not None:
            return f"{inquiry.reference} is no longer spam and was routed to {inquiry.assigned_contact.name}."
        if target is InquiryStatus.CLOSED:
            return f"{inquiry.reference} is closed: {inquiry.outcome.label.lower()}."
        return f"{inquiry.reference} is now {inquiry.status.label.lower()}."

    return _act(inquiry, lambda: services.change_status(inquiry, target, _me(), utcnow(), outcome), done, back)


def _close_form(inquiry: Inquiry, **kwargs) -> CloseForm:
    form = CloseForm(attempts=services.attempt_count(inquiry), **kwargs)
    form.organisation.choices = with_empty_choice("None of ours", all_organisation_choices())
    return form


def _ask_to_close(inquiry: Inquiry, form: CloseForm, back: str | None) -> str:
    """The Close button asks what came of it first; the POST from this page closes."""
    explanation = ["It leaves the open inquiries, and nobody is reminded of it again. It can be reopened."]
    if inquiry.first_response_at is None:
        explanation.insert(0, "No response to the requester has been logged.")
    explanation.append(
        f"The requester’s name and contact details are removed {current_app.config['RETENTION_DAYS']} days after "
        "it closes."
    )
    return render_template(
        "inquiries/close.html",
        inquiry=inquiry,
        form=form,
        explanation=explanation,
        confirmed_field=confirmation.FIELD,
        confirmed_value=confirmation.YES,
        cancel_url=back or url_for(".detail", inquiry_id=inquiry.id),
    )


def _attempt_form(**kwargs) -> AttemptForm:
    form = AttemptForm(**kwargs)
    if kwargs.get("formdata", True) is None:
        form.attempted_on.data, form.attempted_time.data = local_parts(utcnow())
    return form


@bp.route(ONE + "/attempt", methods=["POST"])
@requires(Access.SIGNED_IN)
def log_attempt(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = _attempt_form()
    if not form.validate_on_submit():
        return _render_detail(inquiry, 422, attempt_form=form)
    now = utcnow()
    problem = outcomes.attempt_time_problem(form.attempted_at(), inquiry.received_at, now)
    if problem:
        form.attempted_on.errors.append(problem)
        return _render_detail(inquiry, 422, attempt_form=form)
    method = AttemptMethod(form.method.data)
    return _act(
        inquiry,
        lambda: services.log_attempt(inquiry, method, form.attempted_at(), form.note.data or "", _me(), now),
        lambda _: f"The attempt ({method.label.lower()}) was logged.",
    )


@bp.route(ONE + "/response", methods=["POST"])
@requires(Access.SIGNED_IN)
def log_response(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = ResponseForm()
    if not form.validate_on_submit():
        return _render_detail(inquiry, 422, response_form=form)
    return _act(
        inquiry,
        lambda: services.log_response(inquiry, form.response.data, form.channel.data, _me(), utcnow()),
        lambda _: "The response was logged.",
    )


@bp.route(ONE + "/note", methods=["POST"])
@requires(Access.SIGNED_IN)
def add_note(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _render_detail(inquiry, 422, note_form=form)
    return _act(
        inquiry,
        lambda: services.add_note(inquiry, form.note.data, _me(), utcnow()),
        lambda _: "The note was added.",
    )


@bp.route(ONE + "/link-contact", methods=["POST"])
@requires(Access.SIGNED_IN)
def link_contact(inquiry_id: int):
    inquiry = get_or_404(Inquiry, inquiry_id)
    form = LinkContactForm()
    if not form.validate_on_submit():
        return _render_detail(inquiry, 422)

    def done(linked: tuple[Contact, bool]) -> str:
        contact, created = linked
        return f"Saved the requester as a new contact, {contact.name}." if created else f"Linked to {contact.name}."

    return _act(inquiry, lambda: services.link_requester(inquiry, _me(), utcnow()), done)
