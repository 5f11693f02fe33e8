"""Friendly error pages; the session is rolled back so nothing half-written survives."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

from crm.extensions import db
from crm.public.i18n import answers_as_public_page
from crm.public.routes import public_error

MESSAGES = {
    400: ("Something in that request was not right", "Please go back, check the form and try again."),
    403: ("You do not have access to this page", "Ask an administrator if you think you should."),
    404: ("We could not find that page", "It may have been moved, or the address may be mistyped."),
    405: ("That action is not allowed here", "Please use the buttons and forms on the page."),
    413: ("That was too much to send at once", "Please shorten what you entered and try again."),
    429: ("Too many attempts", "Please wait a few minutes and try again."),
    500: ("Something went wrong on our side", "It has been noted. Please try again in a moment."),
}


def render_error(status: int, detail: str | None = None):
    title, advice = MESSAGES.get(status, MESSAGES[500])
    return render_template("errors/error.html", status=status, title=title, advice=detail or advice), status


def handle_http_error(error: HTTPException):
    db.session.rollback()
    status = error.code or 500
    if status < 400:
        return error
    if request.url_rule is None and answers_as_public_page():
        # No route matched, so no blueprint's handler ran: a visitor's mistyped or outdated
        # address gets the public layout, in their language; staff addresses stay English.
        return public_error(error)
    return render_error(status, _own_description(error))


def _own_description(error: HTTPException) -> str | None:
    """What a view said when it called abort(400, "..."). Werkzeug's stock text is left out in
    favour of ours, and so are other statuses' descriptions (a rate limit's is the limit)."""
    if error.code != 400 or error.description in (None, "", BadRequest.description):
        return None
    return error.description


def handle_csrf_error(error: CSRFError):
    db.session.rollback()
    return render_error(400, "This form expired or was sent from somewhere else. Please reload the page and try again.")


def handle_unexpected_error(error: Exception):
    db.session.rollback()
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    return render_error(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_unexpected_error)
