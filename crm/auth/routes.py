from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from crm.auth import devices, pending, second_factor, sessions
from crm.auth.forms import CodeForm, LoginForm
from crm.auth.home import after_sign_in, home_for
from crm.auth.password_gate import send_to_password_page
from crm.auth.permissions import Access, requires
from crm.auth.redirects import is_safe_next
from crm.auth.services import authenticate
from crm.extensions import limiter
from crm.limit_keys import personal_key
from crm.models.user import User, normalise_email

bp = Blueprint("auth", __name__)
bp.before_app_request(send_to_password_page)


def _submitted_email() -> str:
    return personal_key("login", normalise_email(request.form.get("email", ""))[:254])


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


def _failures_limit(setting: str, key_func: Callable[[], str], **options):
    """A limit, the setting's, on the POSTs of a sign-in step that fail (any answer but the
    redirect that moves on), counted under `key_func`'s key."""
    return limiter.limit(
        lambda: current_app.config[setting], key_func=key_func, methods=["POST"], deduct_when=_login_failed, **options
    )


def _signed_in(user: User, target: str | None) -> Response:
    """Open the session (committing what the step changed with it) and go where the user was headed."""
    sessions.sign_in(user, request.headers.get("User-Agent", ""))
    return redirect(after_sign_in(user, target))


@bp.route("/login", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@_failures_limit("LOGIN_LIMIT_PER_IP", lambda: "login-ip:" + (get_remote_address() or ""))
# Strangers' failures fill the account's limit; a browser that signed in to the account
# before is neither counted nor stopped by it, and has a limit of its own (crm.auth.devices).
@_failures_limit("LOGIN_LIMIT_PER_ACCOUNT", _submitted_email, exempt_when=lambda: _known_device() is not None)
@_failures_limit("LOGIN_LIMIT_PER_DEVICE", _known_device_key, exempt_when=lambda: _known_device() is None)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            target = request.args.get("next")
            target = target if is_safe_next(target) else None
            if second_factor.is_on(user):
                # Not signed in yet: only the code step is open to this browser (crm.auth.pending).
                pending.begin(user, target)
                response = redirect(url_for(".login_code"))
            else:
                response = _signed_in(user, target)
            # The password was right: the device cookie is about password guesses (crm.auth.devices).
            devices.remember(response, user.id)
            return response
        form.password.errors.append("That email and password do not match an active account.")
    status = 200 if request.method == "GET" else 401
    return render_template("auth/login.html", form=form), status


def _pending_account_key() -> str:
    return f"two-factor:{pending.user_id() or ''}"


WRONG_CODE = (
    "That code is not right, or it was used already. Enter the code your app shows now, "
    "or one of your recovery codes."
)


# Guessing codes is throttled as guessing passwords is: per account, and per client address.
@bp.route("/login/code", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@_failures_limit("TWO_FACTOR_LIMIT_PER_IP", lambda: "two-factor-ip:" + (get_remote_address() or ""))
@_failures_limit("TWO_FACTOR_LIMIT_PER_ACCOUNT", _pending_account_key)
def login_code():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    user = pending.pending_user()
    if user is None or not second_factor.is_on(user):
        pending.clear()
        flash("Please sign in again: the sign-in was not finished within 10 minutes.", "info")
        return redirect(url_for(".login"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            used = second_factor.check_second_step(user, form.code.data)
        except second_factor.WrongCode:
            form.code.errors.append(WRONG_CODE)
            status = 401
        else:
            target = pending.next_url()
            pending.clear()
            # Commits the code's use together with the new session.
            response = _signed_in(user, target)
            if used is second_factor.SecondStep.RECOVERY_CODE:
                left = second_factor.recovery_codes_left(user)
                flash(
                    f"You signed in with a recovery code; it cannot be used again. You have {left} left. "
                    "Lost your phone? Turn two-factor sign-in off and on again on your account page to use a new one.",
                    "info",
                )
            return response
    elif form.errors:
        status = 422
    return render_template("auth/login_code.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires(Access.PUBLIC)
def logout():
    pending.clear()
    sessions.sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/no-organisation")
@requires(Access.SIGNED_IN)
def no_organisation():
    return render_template("auth/no_organisation.html")
