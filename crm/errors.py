"""Friendly error pages; the session is rolled back so nothing half-written survives.

``ERROR_TEXT`` is what every error page says, the staff pages' here and the public pages'
(crm.public.routes, in the visitor's language), so it is marked for translation."""

from __future__ import annotations

from flask import Flask, current_app, render_template, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, ServiceUnavailable

from crm import logs, outage
from crm.problems import is_api_request, problem

ERROR_TEXT = {
    400: (_l("Something in that request was not right"), _l("Please go back, check the form and try again.")),
    403: (_l("You do not have access to this page"), _l("Ask an administrator if you think you should.")),
    404: (_l("We could not find that page"), _l("It may have been moved, or the address may be mistyped.")),
    405: (_l("That action is not allowed here"), _l("Please use the buttons and forms on the page.")),
    413: (_l("That was too much to send at once"), _l("Please shorten what you entered and try again.")),
    429: (_l("Too many attempts"), _l("Please wait a few minutes and try again.")),
    500: (_l("Something went wrong on our side"), _l("It has been noted. Please try again in a moment.")),
    503: (_l("This page is not available just now"), _l("Please try again in a few minutes.")),
}
UNAVAILABLE_AFTER_POST = (
    "Please go back and try again in a moment. If you were saving something, check whether it was saved "
    "before you send it again."
)


def render_error(status: int, detail: str | None = None):
    if is_api_request():
        return problem(status, detail)
    title, advice = ERROR_TEXT.get(status, ERROR_TEXT[500])
    # This is the staff layout, in English (<html lang="en">), even for an address no route
    # matched, whose request otherwise follows the visitor's language (crm.public.i18n).
    with force_locale("en"):
        title, advice = str(title), str(advice)
    if status == 503 and request.method == "POST":
        advice = UNAVAILABLE_AFTER_POST
    return render_template("errors/error.html", status=status, title=title, advice=detail or advice), status


def handle_http_error(error: HTTPException):
    outage.roll_back()
    status = error.code or 500
    if status < 400:
        return error
    if is_api_request():
        response = problem(status, _api_description(error))
        # What the error tells clients in headers: the methods a 405's address takes (RFC 9110).
        for name, value in error.get_headers():
            if name in ("Allow", "Retry-After"):
                response.headers[name] = value
        return response
    return render_error(status, _own_description(error))


def _own_description(error: HTTPException) -> str | None:
    """What a view said when it called abort(400, "..."). Werkzeug's stock text is left out in
    favour of ours, and so are other statuses' descriptions (a rate limit's is the limit)."""
    if error.code != 400 or error.description in (None, "", BadRequest.description):
        return None
    return error.description


def _api_description(error: HTTPException) -> str | None:
    """What the API code said when it called abort(status, "..."); a rate limit's description
    is the limit itself, and Werkzeug's stock texts speak of browsers, so both give way to
    crm.problems' own."""
    if error.code == 429 or error.description in (None, "", type(error).description):
        return None
    return error.description


def handle_csrf_error(error: CSRFError):
    outage.roll_back()
    return render_error(400, "This form expired or was sent from somewhere else. Please reload the page and try again.")


def handle_unexpected_error(error: Exception):
    outage.roll_back()
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    return render_error(500)


def handle_database_error(error: DBAPIError):
    """A database out of reach (connection lost, or refused) gets a 503 "try again" page, drawn
    by the page's own 503 handler (public pages keep what the visitor wrote). Any other
    database error is unexpected: raised again, Flask logs it and answers 500."""
    if not outage.connection_lost(error):
        raise error
    outage.roll_back()
    current_app.logger.warning(
        "The database could not be reached on %s [%s]: %s", request.path, request.method, logs.describe(error)
    )
    # Who is signed in cannot be looked up either (Flask-Login loads the user for every
    # template, and a loaded user was expired by the rollback): the page is drawn as for a
    # visitor, without touching the database. The session cookie is left as it is.
    current_app.login_manager._update_request_context_with_user()
    return current_app.handle_http_exception(ServiceUnavailable())


def init_app(app: Flask) -> None:
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_unexpected_error)
