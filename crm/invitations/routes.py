from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from crm.auth import tokens
from crm.auth.forms import ChoosePasswordForm
from crm.auth.home import home_for
from crm.auth.permissions import Access, may_invite, requires, role_may
from crm.auth.token_pages import link_token, no_referrer, problem_page
from crm.database import utcnow
from crm.extensions import db
from crm.invitations import services
from crm.invitations.forms import ColleagueInvitationForm
from crm.models import AccountToken, Contact, Role, TokenPurpose, User
from crm.records import get_or_404, get_unmerged_or_404

bp = Blueprint("invitations", __name__, url_prefix="/invitations")


def _back_to_list() -> str:
    """The users page for admins, where pending invitations are listed with the accounts;
    the invitations page for everyone else."""
    return url_for("users.index") if role_may(current_user.role, Access.ADMIN) else url_for(".index")


def _open_invitation(invitation_id: int) -> AccountToken:
    """The invitation this user may resend or withdraw, or 404/403."""
    row = get_or_404(AccountToken, invitation_id)
    if row.purpose is not TokenPurpose.INVITE:
        abort(404)
    if row.role is None or not may_invite(current_user.role, row.role):
        abort(403)
    return row


@bp.route("/")
@requires(Access.STAFF)
def index():
    return render_template(
        "invitations/index.html",
        invitations=services.pending_invitations(),
        now=utcnow(),
        may_invite_staff=may_invite(current_user.role, Role.STAFF),
    )


@bp.route("/new", methods=["GET", "POST"])
@requires(Access.MANAGER)
def new():
    """A foundation colleague, invited with the staff role."""
    form = ColleagueInvitationForm()
    if form.validate_on_submit():
        try:
            row = services.invite_colleague(form.name.data, form.email.data, current_user._get_current_object())
        except services.InvitationRefused as refusal:
            db.session.rollback()
            form.email.errors.append(str(refusal))
        else:
            flash(f"An invitation to sign in is on its way to {row.email}.", "success")
            return redirect(_back_to_list())
    return render_template("invitations/new.html", form=form), 422 if form.errors else 200


@bp.route("/contact/<int:contact_id>", methods=["POST"])
@requires(Access.STAFF)
def invite_contact(contact_id: int):
    contact = get_unmerged_or_404(Contact, contact_id)
    if not may_invite(current_user.role, Role.PARTNER):
        abort(403)
    try:
        row = services.invite_contact(contact, current_user._get_current_object())
    except services.InvitationRefused as refusal:
        db.session.rollback()
        return render_template("invitations/refused.html", contact=contact, refusal=str(refusal)), 422
    flash(f"{contact.name} has been invited to sign in. The link in the email works once, for "
          f"{_hours_text(row)}.", "success")
    return redirect(url_for("contacts.detail", contact_id=contact.id))


def _hours_text(row: AccountToken) -> str:
    hours = round((row.expires_at - row.created_at).total_seconds() / 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"


def _act_on_invitation(invitation_id: int, action: Callable[[AccountToken, User], object], done: str):
    """Resend or withdraw a pending invitation, then back to the list: `done` (formatted with
    the invitation's email) when it worked, the refusal when it did not."""
    row = _open_invitation(invitation_id)
    try:
        action(row, current_user._get_current_object())
    except services.InvitationRefused as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
    else:
        flash(done.format(email=row.email), "success")
    return redirect(_back_to_list())


@bp.route("/<int:invitation_id>/resend", methods=["POST"])
@requires(Access.STAFF)
def resend(invitation_id: int):
    return _act_on_invitation(
        invitation_id, services.resend, "A new invitation was sent to {email}; the link in the earlier one no longer works."
    )


@bp.route("/<int:invitation_id>/withdraw", methods=["POST"])
@requires(Access.STAFF)
def withdraw(invitation_id: int):
    return _act_on_invitation(invitation_id, services.withdraw, "The invitation to {email} was withdrawn; its link no longer works.")


@bp.route("/accept", methods=["GET", "POST"])
@requires(Access.PUBLIC)
@no_referrer
def accept():
    """The page the invitation email links to: choose a password, and the account is made."""
    try:
        row = tokens.verify(link_token(), TokenPurpose.INVITE)
    except tokens.LinkRefused as refused:
        return problem_page(TokenPurpose.INVITE, refused.state)
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            user = services.accept(row, form.password.data, request.headers.get("User-Agent", ""))
        except tokens.LinkRefused as refused:
            db.session.rollback()
            return problem_page(TokenPurpose.INVITE, refused.state)
        except services.InvitationRefused as refusal:
            db.session.rollback()
            return render_template("invitations/accept.html", form=form, invitation=row, refusal=str(refusal)), 409
        login_user(user)
        flash(f"Welcome, {user.name}. Your account is ready; you are signed in.", "success")
        return redirect(home_for(user))
    return render_template("invitations/accept.html", form=form, invitation=row, refusal=None), 422 if form.errors else 200
