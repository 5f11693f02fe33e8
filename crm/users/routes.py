from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm import audit, confirmation
from crm.auth import second_factor
from crm.auth.home import home_for
from crm.auth.permissions import Access, requires, role_may
from crm.database import utcnow
from crm.extensions import db
from crm.forms import with_empty_choice
from crm.invitations.services import pending_invitations
from crm.models import User
from crm.organisation_menu import organisation_choices
from crm.records import get_or_404, paginate
from crm.users import services
from crm.users.forms import NewUserForm, UserDetailsForm

bp = Blueprint("users", __name__, url_prefix="/users")


def _with_choices(form: UserDetailsForm) -> UserDetailsForm:
    form.organisation_id.choices = with_empty_choice("No organisation", organisation_choices(active_only=False))
    return form


def _one_time_password_page(user: User, password: str, reason: str):
    """The temporary password, in this response only: never flashed, stored or logged."""
    return render_template("users/temporary_password.html", user=user, password=password, reason=reason)


def _edit_page(user: User, form: UserDetailsForm | None = None, status: int = 200):
    if form is None:
        form = _with_choices(UserDetailsForm(obj=user))
        form.role.data = user.role.value
    return render_template(
        "users/form.html",
        form=form,
        user=user,
        two_factor_on=second_factor.is_on(user),
        history=audit.history_for("User", user.id),
    ), status


@bp.route("/")
@requires(Access.ADMIN)
def index():
    page = paginate(services.all_users())
    return render_template("users/index.html", page=page, invitations=pending_invitations(), now=utcnow())


@bp.route("/new", methods=["GET", "POST"])
@requires(Access.ADMIN)
def new():
    form = _with_choices(NewUserForm())
    if form.validate_on_submit():
        try:
            user, temporary = services.create_user(form.data, current_user)
        except services.DuplicateEmail:
            form.email.errors.append("There is already an account with this email address.")
        else:
            if temporary is not None:
                return _one_time_password_page(user, temporary, "created")
            flash(f"{user.name}'s account was created.", "success")
            return redirect(url_for(".index"))
    return render_template("users/form.html", form=form, user=None), 422 if form.errors else 200


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
@requires(Access.ADMIN)
def edit(user_id: int):
    user = get_or_404(User, user_id)
    if request.method == "GET":
        return _edit_page(user)
    form = _with_choices(UserDetailsForm())
    if form.validate_on_submit():
        try:
            services.update_user(user, form.data, current_user)
        except services.NotAllowed as refusal:
            db.session.rollback()
            form.role.errors.append(str(refusal))
        else:
            flash("Changes saved.", "success")
            # An admin who just made themselves a manager can no longer see this list.
            if not role_may(current_user.role, Access.ADMIN):
                return redirect(home_for(current_user))
            return redirect(url_for(".index"))
    return _edit_page(user, form, 422 if form.errors else 200)


@bp.route("/<int:user_id>/deactivate", methods=["POST"])
@requires(Access.ADMIN)
def deactivate(user_id: int):
    """The button asks first (or is refused at once); the POST from that page deactivates."""
    user = get_or_404(User, user_id)
    try:
        if not confirmation.confirmed():
            services.check_deactivate(user, current_user)
            return confirmation.ask(
                question=f"Deactivate {user.name}’s account?",
                explanation=[
                    f"{user.name} is signed out everywhere at once and can no longer sign in.",
                    "Everything they recorded stays. You can reactivate the account later.",
                ],
                action=url_for(".deactivate", user_id=user.id),
                button="Deactivate the account",
                cancel_url=url_for(".edit", user_id=user.id),
            )
        services.deactivate(user, current_user)
    except services.NotAllowed as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
        return _edit_page(user, status=422)
    flash(f"{user.name} is deactivated and has been signed out everywhere.", "success")
    return redirect(url_for(".edit", user_id=user.id))


@bp.route("/<int:user_id>/reactivate", methods=["POST"])
@requires(Access.ADMIN)
def reactivate(user_id: int):
    user = get_or_404(User, user_id)
    services.reactivate(user, current_user)
    flash(f"{user.name} can sign in again.", "success")
    return redirect(url_for(".edit", user_id=user.id))


@bp.route("/<int:user_id>/reset-password", methods=["POST"])
@requires(Access.ADMIN)
def reset_password(user_id: int):
    user = get_or_404(User, user_id)
    try:
        temporary = services.reset_password(user, current_user)
    except services.NotAllowed as refusal:
        flash(str(refusal), "error")
        return _edit_page(user, status=422)
    return _one_time_password_page(user, temporary, "reset")


@bp.route("/<int:user_id>/reset-two-factor", methods=["POST"])
@requires(Access.ADMIN)
def reset_two_factor(user_id: int):
    """For a user who lost both their phone and their recovery codes; asks first."""
    user = get_or_404(User, user_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            question=f"Reset {user.name}’s two-factor sign-in?",
            explanation=[
                f"{user.name}’s authenticator app and recovery codes stop working. They sign in with "
                "their password alone, and set up two-factor sign-in again (at once, if their role requires it).",
                "Do this only once you are sure who asked: call them back on a number you already know.",
            ],
            action=url_for(".reset_two_factor", user_id=user.id),
            button="Reset two-factor sign-in",
            cancel_url=url_for(".edit", user_id=user.id),
        )
    if second_factor.reset(user, current_user._get_current_object()):
        flash(f"{user.name}’s two-factor sign-in was reset.", "success")
    else:
        flash(f"{user.name} has no two-factor sign-in to reset.", "info")
    return redirect(url_for(".edit", user_id=user.id))
