"""The private calendar feed: the feed a calendar app subscribes to, and the account page's
buttons that create, reset and turn off its address."""

from __future__ import annotations

from flask import Blueprint, Response, abort
from flask_login import current_user

from crm.auth.permissions import Access, requires
from crm.calendar import services
from crm.database import utcnow
from crm.shown_once import show_once, turned_off

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

CALENDAR_MEDIA_TYPE = "text/calendar"


# Public: the token in the address is the key (a calendar app has no session). A token that
# opens nothing is a plain 404, whichever of the reasons it is.
@bp.route("/<token>.ics")
@requires(Access.PUBLIC)
def feed(token: str):
    user = services.user_for_token(token)
    if user is None:
        abort(404, "There is no calendar at this address. It may have been reset: copy the new one from your account page.")
    response = Response(services.feed_for(user, utcnow()), mimetype=CALENDAR_MEDIA_TYPE)
    response.headers["Content-Disposition"] = 'inline; filename="backbone-crm.ics"'
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/address", methods=["POST"])
@requires(Access.SIGNED_IN)
def create_address():
    """Create the feed's address, or replace it (the old one stops working), and show it once."""
    user = current_user._get_current_object()
    had_one = services.feed_of(user) is not None
    return show_once("calendar/address.html", url=services.feed_url(services.issue(user, utcnow())), reset=had_one)


@bp.route("/address/off", methods=["POST"])
@requires(Access.SIGNED_IN)
def turn_off():
    return turned_off(
        services.turn_off(current_user._get_current_object()),
        done="Your calendar feed is off: its address no longer works.",
        nothing_to_do="You had no calendar feed.",
        back_to="account.index",
    )
