from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from crm.auth.forms import LoginForm
from crm.auth.home import home_for
from crm.auth.permissions import Access, requires
from crm.auth.redirects import is_safe_next
from crm.auth.services import authenticate
from crm.extensions import limiter
from crm.models.user import normalise_email

bp = Blueprint("auth", __name__)


def _submitted_email() -> str:
    return "login:" + normalise_email(request.form.get("email", ""))[:254]


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
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_submitted_email,
    methods=["POST"],
    deduct_when=_login_failed,
)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            target = request.args.get("next")
            return redirect(target if is_safe_next(target) else home_for(user))
        form.password.errors.append("That email and password do not match an active account.")
    status = 200 if request.method == "GET" else 401
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires(Access.PUBLIC)
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/no-organisation")
@requires(Access.SIGNED_IN)
def no_organisation():
    return render_template("auth/no_organisation.html")
