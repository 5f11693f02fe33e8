from __future__ import annotations

import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import login_user

from crm.auth import pending, second_factor, tokens
from crm.auth.forms import ChoosePasswordForm, EmailForm
from crm.auth.home import after_sign_in
from crm.auth.permissions import Access, requires
from crm.auth.token_pages import link_token, no_referrer, problem_page
from crm.extensions import db, limiter
from crm.limit_keys import personal_key
from crm.models import TokenPurpose
from crm.models.user import normalise_email
from crm.password_reset import services

bp = Blueprint("password_reset", __name__)


def _submitted_email() -> str:
    return personal_key("password-reset", normalise_email(request.form.get("email", ""))[:254])


def _answer_no_sooner_than(started: float) -> None:
    """Queuing a link writes to the database and finding no account does not: answering every
    request after the same least time keeps that difference out of how long the answer takes."""
    rest = current_app.config["PASSWORD_RESET_ANSWER_SECONDS"] - (time.monotonic() - started)
    if rest > 0:
        time.sleep(rest)


@bp.route("/forgot-password", methods=["GET", "POST"])
@requires(Access.PUBLIC)
# Every request counts, answered or not: a refusal looks the same for any address.
@limiter.limit(
    lambda: current_app.config["PASSWORD_RESET_LIMIT_PER_IP"],
    key_func=lambda: "password-reset-ip:" + (get_remote_address() or ""),
    methods=["POST"],
)
@limiter.limit(
    lambda: current_app.config["PASSWORD_RESET_LIMIT_PER_ACCOUNT"], key_func=_submitted_email, methods=["POST"]
)
def request_link():
    form = EmailForm()
    if form.validate_on_submit():
        started = time.monotonic()
        services.request_link(form.email.data)
        _answer_no_sooner_than(started)
        return render_template(
            "password_reset/sent.html", email=form.email.data, valid_minutes=current_app.config["PASSWORD_RESET_VALID_MINUTES"]
        )
    return render_template("password_reset/request.html", form=form), 422 if form.errors else 200


@bp.route("/reset-password", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@no_referrer
def reset():
    """The page the reset email links to."""
    try:
        row = tokens.verify(link_token(), TokenPurpose.RESET)
    except tokens.LinkRefused as refused:
        return problem_page(TokenPurpose.RESET, refused.state)
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        # A link from a mailbox proves the mailbox, not the second factor: a user who has one
        # still enters a code before being signed in.
        needs_code = row.user is not None and second_factor.is_on(row.user)
        try:
            user = services.reset(
                row, form.password.data, request.headers.get("User-Agent", ""), open_session=not needs_code
            )
        except tokens.LinkRefused as refused:
            db.session.rollback()
            return problem_page(TokenPurpose.RESET, refused.state)
        if needs_code:
            pending.begin(user, None)
            flash("Your password was changed. Enter the code from your app to sign in.", "success")
            return redirect(url_for("auth.login_code"))
        login_user(user)
        flash("Your password was changed, and you are signed in. Any other sessions have been signed out.", "success")
        return redirect(after_sign_in(user, None))
    return render_template("password_reset/reset.html", form=form, email=row.email), 422 if form.errors else 200
