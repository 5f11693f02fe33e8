"""Secrets a user makes on their account page: shown once, reset, turned off.

Recovery codes, a personal API token and a calendar feed's address are each shown in the one
answer that made them (only a hash is kept), on a page that sends no Referer; turning one off
or revoking it flashes what happened, or that there was nothing to turn off, and goes back to
the page it was done from.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, url_for
from werkzeug.wrappers import Response


def show_once(template: str, status: int = 200, **context) -> Response:
    """The page that shows a new secret, this once: never sent on in a Referer."""
    response = make_response(render_template(template, **context), status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def turned_off(changed: bool, *, done: str, nothing_to_do: str, back_to: str) -> Response:
    """After a turn-off or revoke: say whether it did something, and go back to `back_to`."""
    flash(done if changed else nothing_to_do, "success" if changed else "info")
    return redirect(url_for(back_to))
