"""The family's pages: the follow-up's yes and no, the opt-out, and /status. Public, in the
family's language (crm.public.i18n), and showing nothing of any request's details.

A link from an email only shows a button on GET (mail scanners open links to look at them);
the button's POST records the answer.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address

from crm.auth.permissions import Access, requires
from crm.auth.token_pages import no_referrer
from crm.database import utcnow
from crm.extensions import csrf, limiter
from crm.family import links, services
from crm.family.forms import StatusForm
from crm.family.rules import STAGES, Answer
from crm.family.services import AnswerOutcome
from crm.mail.opt_out import hash_of_opt_out_token
from crm.public.i18n import remember_language_choice
from crm.public.routes import EXPIRED_MESSAGE, PUBLIC_ERRORS, public_error

bp = Blueprint("family", __name__)

DEFAULT_STATUS_RATE_LIMIT = "10 per minute; 50 per hour"
TOKEN_FIELD = "token"  # noqa: S105  (the name of a form field)


@bp.before_request
def _remember_language() -> None:
    remember_language_choice()


for _status in PUBLIC_ERRORS:
    bp.register_error_handler(_status, public_error)


def _message(status: int, heading: str, explanation: str):
    return render_template("family/message.html", heading=heading, explanation=explanation), status


def _token() -> str:
    return (request.form if request.method == "POST" else request.args).get(TOKEN_FIELD, "")


def _not_valid():
    """A link that is not ours: 400 for an address without its token, 404 for a token we
    never signed (or one cut short or changed), as the account links answer."""
    return _message(
        404 if _token() else 400,
        _("This link is not valid"),
        _("It may have been cut short. Please open the link from the email again."),
    )


# --- the follow-up's answers ---------------------------------------------------------------


@bp.route("/follow-up/<answer>", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@no_referrer
def follow_up(answer: str):
    try:
        chosen = Answer(answer)
    except ValueError:
        abort(404)
    try:
        inquiry_id = links.inquiry_of_answer_token(_token())
    except links.LinkExpired:
        return _message(410, _("This link has expired"), _("Links in our emails work for a limited time. If you still need help, please get in touch again."))
    if inquiry_id is None:
        return _not_valid()

    if request.method == "POST":
        outcome = services.record_answer(inquiry_id, chosen, utcnow())
    else:
        outcome = services.answerable(services.inquiry_to_answer(inquiry_id))
        if outcome is AnswerOutcome.RECORDED:
            return render_template("family/answer.html", answer=chosen, token=_token(), Answer=Answer)

    if outcome is AnswerOutcome.GONE:
        return _message(410, _("This link no longer works"), _("If you still need help, please get in touch again."))
    if outcome is AnswerOutcome.ALREADY_ANSWERED:
        return _message(200, _("We already have your answer"), _("Each link works once. Thank you for letting us know."))
    if chosen is Answer.YES:
        return _message(200, _("Thank you"), _("We are glad you got the help you needed."))
    return _message(
        200,
        _("Thank you for telling us"),
        _("We have let the partner know that you still need help. Someone will be in touch with you."),
    )


# --- opting out ----------------------------------------------------------------------------


@bp.route("/opt-out", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@no_referrer
def opt_out():
    email_hash = hash_of_opt_out_token(_token())
    if email_hash is None:
        return _not_valid()
    if request.method == "GET":
        return render_template("family/opt_out.html", token=_token())
    services.opt_out(email_hash)
    return _message(200, _("You will get no more messages from us"), _("We will not write to this address again about the requests sent from it."))


# --- /status -------------------------------------------------------------------------------


def _status_rate_limit() -> str:
    return current_app.config.get("STATUS_RATE_LIMIT", DEFAULT_STATUS_RATE_LIMIT)


def _status_key() -> str:
    return "family-status:" + (get_remote_address() or "")


# The form checks its own CSRF token, so an expired page gets its message, not a bare 400.
@bp.route("/status", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@csrf.exempt
@limiter.limit(_status_rate_limit, key_func=_status_key, methods=["POST"])
def status():
    form = StatusForm(formdata=request.form if request.method == "POST" else None)
    if request.method == "GET":
        return render_template("family/status.html", form=form, lookup=None, expired=False, stages=STAGES)
    if not form.validate():
        expired = "csrf_token" in form.errors
        return render_template(
            "family/status.html", form=form, lookup=None, expired=expired, expired_message=EXPIRED_MESSAGE, stages=STAGES
        ), 422
    lookup = services.look_up(form.reference.data, form.email.data)
    return render_template("family/status.html", form=form, lookup=lookup, expired=False, stages=STAGES)
