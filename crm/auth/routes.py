from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from crm.auth import devices, sessions
from crm.auth.forms import LoginForm
from crm.auth.home import after_sign_in, home_for
from crm.auth.password_gate import send_to_password_page
from crm.auth.permissions import Access, requires
from crm.auth.services import authenticate
from crm.extensions import limiter
from crm.models.user import normalise_email

bp = Blueprint("auth", __name__)
bp.before_app_request(send_to_password_page)


def _submitted_email() -> str:
    return "login:" + normalise_email(request.form.get("email", ""))[:254]


def _known_device() -> devices.Device | None:
    """The device cookie of this sign-in attempt, when it has signed in to the submitted account before."""
    if request.method != "POST":
        return None
    return devices.known_device_for(request.form.get("email", "")[:254])


def _known_device_key() -> str:
    device = _known_device()
    return "login-device:" + (device.nonce if device else "")


def _login_failed(response: Response) -> bool:
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_IP"],
    key_func=lambda: "login-ip:" + (get_remote_address() or ""),
    methods=["POST"],
    deduct_when=_login_failed,
)
# Strangers' failures fill the account's limit; a browser that signed in to the account
# before is neither counted nor stopped by it, and has a limit of its own (crm.auth.devices).
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_submitted_email,
    methods=["POST"],
    deduct_when=_login_failed,
    exempt_when=lambda: _known_device() is not None,
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_DEVICE"],
    key_func=_known_device_key,
    methods=["POST"],
    deduct_when=_login_failed,
    exempt_when=lambda: _known_device() is None,
)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            sessions.sign_in(user, request.headers.get("User-Agent", ""))
            response = redirect(after_sign_in(user, request.args.get("next")))
            devices.remember(response, user.id)
            return response
        form.password.errors.append("That email and password do not match an active account.")
    status = 200 if request.method == "GET" else 401
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires(Access.PUBLIC)
def logout():
    sessions.sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/no-organisation")
@requires(Access.SIGNED_IN)
def no_organisation():
    return render_template("auth/no_organisation.html")
