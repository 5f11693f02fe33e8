"""The public pages: the initiative and its partners, the Get in Touch form and its confirmation."""

from __future__ import annotations

from flask import Blueprint, current_app, has_request_context, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from crm import errors, logs, outage
from crm.auth.permissions import Access, requires
from crm.database import utcnow
from crm.errors import ERROR_TEXT
from crm.extensions import csrf, limiter
from crm.public import admission, services, spam
from crm.public.forms import InquiryForm
from crm.public.i18n import answers_as_public_page, current_language, language_links, remember_language_choice
from crm.public.services import Confirmation

bp = Blueprint("public", __name__)

CONFIRMATION_KEY = "public_confirmation"
DEFAULT_RATE_LIMIT = "5 per minute; 30 per hour"
DEFAULT_REFUSED_RATE_LIMIT = "30 per minute; 300 per hour"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
EXPIRED_MESSAGE = _l("This page was open for a long time; please send it again.")

# The errors a public page answers with a public page (the texts are crm.errors.ERROR_TEXT),
# and the advice it words for someone who has just written in.
PUBLIC_ERRORS = (400, 404, 405, 413, 429, 500, 503)
PUBLIC_ADVICE = {
    413: _l("Please shorten what you wrote and try again."),
    429: _l("The form was sent several times in a short while. Please wait a few minutes and try again."),
}
# A send refused with these statuses shows the form again, what was written kept.
NOT_SENT_TEXT = {
    429: (
        _l("Too many attempts"),
        _l("The form was sent several times in a short while. What you wrote is still below; please wait a few minutes and send it again."),
    ),
    500: (
        _l("Your message was not sent"),
        _l("Something went wrong on our side. What you wrote is still below; please send it again in a moment."),
    ),
    503: (
        _l("Your message was not sent"),
        _l("We cannot reach our records just now. What you wrote is still below; please send it again in a few minutes."),
    ),
}


@bp.before_request
def _remember_language() -> None:
    remember_language_choice()


# App-wide, because a page no route matched belongs to no blueprint and yet gets the public
# layout (see unmatched_address); staff pages and emails get nothing from it.
@bp.app_context_processor
def _language_context() -> dict[str, object]:
    if not has_request_context() or not answers_as_public_page():
        return {}
    return {"current_language": current_language(), "language_links": language_links()}


def form_rate_limit() -> str:
    return current_app.config.get("PUBLIC_FORM_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def refused_rate_limit() -> str:
    return current_app.config.get("PUBLIC_FORM_REFUSED_RATE_LIMIT", DEFAULT_REFUSED_RATE_LIMIT)


# Each send counts against one of two limits per client address. A family on a clinic's shared
# wifi correcting a mistyped ZIP code sends several refused forms in a row: those count against
# a loose limit, which still stops a flood; only sends that went through (the redirect to the
# thank-you page) count against the strict one.
def sent_key() -> str:
    return "public-form-sent:" + (get_remote_address() or "")


def refused_key() -> str:
    return "public-form-refused:" + (get_remote_address() or "")


def _was_sent(response: Response) -> bool:
    return response.status_code in REDIRECT_STATUSES


def _was_refused(response: Response) -> bool:
    return not _was_sent(response)


@bp.route("/")
@requires(Access.PUBLIC)
def index():
    return render_template("public/index.html", partners=services.backbone_partners(current_language()))


# The app-wide CSRF check would answer an expired token with a bare 400 before this view runs;
# exempt from it, the form checks its own token and the person gets their text back instead.
@bp.route("/get-in-touch", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@csrf.exempt
@limiter.limit(form_rate_limit, key_func=sent_key, methods=["POST"], deduct_when=_was_sent)
@limiter.limit(refused_rate_limit, key_func=refused_key, methods=["POST"], deduct_when=_was_refused)
@limiter.limit(admission.identity_rate_limit, key_func=admission.identity_key, methods=["POST"], deduct_when=_was_sent)
def get_in_touch():
    # A database connection lost on the way is met by one more attempt on a fresh connection;
    # for a send, `sending` carries the first attempt's reference, so nothing is stored twice.
    if request.method == "GET":
        return outage.retry_once_if_connection_lost(lambda: _render_form(_inquiry_form(None)))
    sending = services.Sending(now=utcnow())
    return outage.retry_once_if_connection_lost(lambda: _send_form(sending))


def _send_form(sending: services.Sending):
    # Only urlencoded or multipart fields count: a JSON body is not this form.
    form = _inquiry_form(request.form)
    now = sending.now
    valid = form.validate()
    age = spam.form_age(form.rendered.data, now)
    timing = spam.judge_timing(age, spam.min_form_seconds())
    expired = timing is spam.Timing.EXPIRED or "csrf_token" in form.errors
    if expired or not valid:
        return _render_form(form, expired=expired), 422

    fields = services.posted_fields(form)
    reason = spam.spam_reason(honeypot=spam.honeypot_filled(form.website.data), timing=timing, age=age)
    confirmation = sending.admit(fields, spam_reason=reason)
    # Stored and committed: from here on nothing needs the database, nor may fail.
    session[CONFIRMATION_KEY] = confirmation.to_session()
    return redirect(url_for("public.thanks"))


def _inquiry_form(formdata, topics: list[tuple[int, str]] | None = None) -> InquiryForm:
    """The Get in Touch form in the page's language, offering the topics shown to the public
    (or the `topics` given)."""
    language = current_language()
    form = InquiryForm(formdata=formdata, language=language)
    if topics is None:
        topics = services.public_topic_choices(language)
    form.set_topics(topics, _("Choose a topic"))
    return form


def _render_form(form: InquiryForm, *, expired: bool = False, not_sent: tuple[str, str] | None = None) -> str:
    form.rendered.data = spam.token_to_show_again(form.rendered.data, utcnow())
    form.website.data = ""
    field_errors = [(form[name], errors) for name, errors in form.errors.items() if name != "csrf_token"]
    return render_template(
        "public/form.html",
        form=form,
        expired=expired,
        not_sent=not_sent,
        field_errors=field_errors,
        honeypot=spam.HONEYPOT_FIELD,
    )


@bp.route("/get-in-touch/thank-you")
@requires(Access.PUBLIC)
def thanks():
    confirmation = Confirmation.from_session(session.get(CONFIRMATION_KEY))
    if confirmation is None:
        return redirect(url_for("public.get_in_touch"))
    return render_template("public/thanks.html", confirmation=confirmation)


def public_error(error: HTTPException):
    """Errors met on a public page get a public page, in the visitor's language."""
    outage.roll_back()
    remember_language_choice()  # a rate limit is checked before the blueprint's own hooks run
    status = error.code or 500
    title, advice = ERROR_TEXT.get(status, ERROR_TEXT[500])
    advice = PUBLIC_ADVICE.get(status, advice)
    if status in NOT_SENT_TEXT and request.method == "POST" and request.endpoint == "public.get_in_touch":
        kept = _form_kept_after_failure(*NOT_SENT_TEXT[status])
        if kept is not None:
            return kept, status
    return render_template("public/error.html", status=status, title=title, advice=advice), status


def _form_kept_after_failure(title: str, advice: str) -> str | None:
    """A message that could not be sent (a failure on our side, too many sends, a database
    out of reach) shows the form again with what the visitor wrote, so nothing they typed is
    lost, and nothing of it travels in an address; None when even that cannot be drawn."""
    try:
        return _render_form(_form_to_show_again(), not_sent=(title, advice))
    except Exception as error:  # noqa: BLE001  (the plain error page is the fallback)
        outage.roll_back()
        logs.log_failure(
            current_app.logger, "The Get in Touch form could not be shown again after a failed send", error=error
        )
        return None


def _form_to_show_again() -> InquiryForm:
    """The form as sent. Without a database to list the topics, it is shown without them:
    what the visitor wrote is kept, and only the topic is chosen again."""
    try:
        return _inquiry_form(request.form)
    except DBAPIError:
        outage.roll_back()
        return _inquiry_form(request.form, topics=[])


for _status in PUBLIC_ERRORS:
    bp.register_error_handler(_status, public_error)


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def unmatched_address(error: HTTPException):
    """No route matched, so no blueprint's handler ran: a visitor's mistyped or outdated
    address gets the public layout, in their language; staff addresses stay English."""
    if request.url_rule is None and answers_as_public_page():
        return public_error(error)
    return errors.handle_http_error(error)
