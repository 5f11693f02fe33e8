from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from crm.account import services
from crm.account.forms import PasswordChangeForm
from crm.auth import sessions
from crm.auth.home import home_for
from crm.auth.permissions import Access, requires
from crm.auth.redirects import is_safe_next
from crm.extensions import limiter

bp = Blueprint("account", __name__, url_prefix="/account")

# Someone who finds a signed-in browser must not be able to guess the password at leisure.
CHANGE_ATTEMPTS_LIMIT = "10 per 15 minutes"


def _attempt_failed(response: Response) -> bool:
    return response.status_code != 302


@bp.route("/")
@requires(Access.SIGNED_IN)
def index():
    return render_template(
        "account/index.html",
        open_sessions=sessions.open_sessions(current_user),
        is_this_browsers=sessions.is_this_browsers,
    )


@bp.route("/sign-out-everywhere", methods=["POST"])
@requires(Access.SIGNED_IN)
def sign_out_everywhere():
    sessions.sign_out_everywhere(current_user._get_current_object())
    flash("You are signed out on every device, this one included.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@requires(Access.SIGNED_IN)
@limiter.limit(
    CHANGE_ATTEMPTS_LIMIT,
    key_func=lambda: f"password-change:{current_user.id}",
    methods=["POST"],
    deduct_when=_attempt_failed,
)
def password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_password(
                user, form.current_password.data, form.new_password.data, request.headers.get("User-Agent", "")
            )
        except services.WrongPassword:
            form.current_password.errors.append("That is not your current password.")
        else:
            # Every session ended, this one's too; this browser carries on in the new one.
            login_user(user)
            flash("Your password was changed. Any other sessions have been signed out.", "success")
            target = request.args.get("next")
            return redirect(target if is_safe_next(target) else home_for(user))
    return render_template("account/password.html", form=form), 422 if form.errors else 200
