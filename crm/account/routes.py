from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from crm.account import services
from crm.account.forms import PasswordChangeForm
from crm.auth.home import home_for
from crm.auth.permissions import Access, requires
from crm.extensions import limiter

bp = Blueprint("account", __name__, url_prefix="/account")

# Someone who finds a signed-in browser must not be able to guess the password at leisure.
CHANGE_ATTEMPTS_LIMIT = "10 per 15 minutes"


def _attempt_failed(response: Response) -> bool:
    return response.status_code != 302


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
            services.change_password(user, form.current_password.data, form.new_password.data)
        except services.WrongPassword:
            form.current_password.errors.append("That is not your current password.")
        else:
            # Every session ended with the old token; this one carries on with the new one.
            login_user(user)
            flash("Your password was changed. Any other sessions have been signed out.", "success")
            return redirect(home_for(user))
    return render_template("account/password.html", form=form), 422 if form.errors else 200
