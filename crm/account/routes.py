from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from crm.account import services
from crm.account.forms import ApiTokenForm, PasswordChangeForm
from crm.api import tokens as api_tokens
from crm.auth import second_factor, sessions, totp
from crm.auth.forms import CodeForm
from crm.auth.gate import role_requires_second_factor
from crm.auth.home import home_for
from crm.auth.permissions import Access, requires
from crm.auth.redirects import is_safe_next
from crm.auth.services import my_contact_id
from crm.calendar import services as calendar_services
from crm.extensions import limiter
from crm.models import TokenScope
from crm.records import MAX_ID
from crm.shown_once import show_once, turned_off

bp = Blueprint("account", __name__, url_prefix="/account")

# Someone who finds a signed-in browser must not be able to guess the password at leisure.
CHANGE_ATTEMPTS_LIMIT = "10 per 15 minutes"


def _attempt_failed(response: Response) -> bool:
    return response.status_code != 302


def _code_refused(response: Response) -> bool:
    # Success shows the recovery codes (200) or redirects; a wrong code is a 4xx.
    return response.status_code >= 400


# Setting up, turning off and renewing two-factor sign-in share one count of wrong codes.
two_factor_change_limit = limiter.limit(
    CHANGE_ATTEMPTS_LIMIT,
    key_func=lambda: f"two-factor-change:{current_user.id}",
    methods=["POST"],
    deduct_when=_code_refused,
)


@bp.route("/")
@requires(Access.SIGNED_IN)
def index():
    return render_template(
        "account/index.html",
        open_sessions=sessions.open_sessions(current_user),
        is_this_browsers=sessions.is_this_browsers,
        my_contact_id=my_contact_id(current_user),
        two_factor_on=second_factor.is_on(current_user),
        calendar_feed=calendar_services.feed_of(current_user),
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


# --- two-factor sign-in ------------------------------------------------------------------------


def _qr_code(uri: str) -> Markup:
    """The QR code as inline SVG, drawn here: the secret never leaves for a third-party service."""
    import segno  # only this page draws QR codes

    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff", omitsize=False)
    return Markup(svg)  # noqa: S704  (segno's own markup; the URI is encoded as modules, not text)


def _two_factor_page(form: CodeForm | None = None, status: int = 200, off_form: CodeForm | None = None):
    user = current_user._get_current_object()
    factor = second_factor.enabled_factor(user)
    secret = None if factor is not None else second_factor.setup_secret(user)
    return render_template(
        "account/two_factor.html",
        factor=factor,
        secret=totp.grouped(secret) if secret else None,
        qr_code=_qr_code(totp.provisioning_uri(secret, user.email)) if secret else None,
        codes_left=second_factor.recovery_codes_left(user) if factor else 0,
        required=role_requires_second_factor(user.role, current_app.config["TWO_FACTOR_REQUIRED_ROLES"]),
        form=form or CodeForm(formdata=None),
        off_form=off_form or CodeForm(formdata=None, prefix="off"),
    ), status


def _recovery_codes_page(codes: list[str], first_time: bool):
    return show_once("account/recovery_codes.html", codes=codes, first_time=first_time)


def _two_factor_is_not_on():
    """Turning off or renewing what is not on: say so, back to the two-factor page."""
    flash("Two-factor sign-in is not on.", "info")
    return redirect(url_for(".two_factor"))


@bp.route("/two-factor")
@requires(Access.SIGNED_IN)
def two_factor():
    return _two_factor_page()


@bp.route("/two-factor/start", methods=["POST"])
@requires(Access.SIGNED_IN)
def two_factor_start():
    try:
        second_factor.begin_setup(current_user._get_current_object())
    except second_factor.AlreadyOn:
        flash("Two-factor sign-in is already on.", "info")
    return redirect(url_for(".two_factor"))


@bp.route("/two-factor/confirm", methods=["POST"])
@requires(Access.SIGNED_IN)
@two_factor_change_limit
def two_factor_confirm():
    user = current_user._get_current_object()
    if second_factor.setup_secret(user) is None:
        flash("Start the setup again: there was none under way.", "info")
        return redirect(url_for(".two_factor"))
    form = CodeForm()
    if not form.validate_on_submit():
        return _two_factor_page(form, 422)
    try:
        codes = second_factor.confirm_setup(user, form.code.data)
    except second_factor.WrongCode:
        form.code.errors.append(
            "That code does not match. Check that the app shows Backbone CRM and enter the code it shows now."
        )
        return _two_factor_page(form, 422)
    return _recovery_codes_page(codes, first_time=True)


def _code_from_app_or_recovery(form: CodeForm) -> None:
    form.code.errors.append("That code is not right, or it was used already. Enter the code your app shows now, or a recovery code.")


@bp.route("/two-factor/off", methods=["POST"])
@requires(Access.SIGNED_IN)
@two_factor_change_limit
def two_factor_off():
    if not second_factor.is_on(current_user):
        return _two_factor_is_not_on()
    form = CodeForm(prefix="off")
    if not form.validate_on_submit():
        return _two_factor_page(off_form=form, status=422)
    try:
        second_factor.turn_off(current_user._get_current_object(), form.code.data)
    except second_factor.WrongCode:
        _code_from_app_or_recovery(form)
        return _two_factor_page(off_form=form, status=422)
    flash("Two-factor sign-in is off. Your recovery codes no longer work.", "success")
    return redirect(url_for(".two_factor"))


@bp.route("/two-factor/recovery-codes", methods=["POST"])
@requires(Access.SIGNED_IN)
@two_factor_change_limit
def two_factor_recovery_codes():
    if not second_factor.is_on(current_user):
        return _two_factor_is_not_on()
    form = CodeForm()
    if not form.validate_on_submit():
        return _two_factor_page(form, 422)
    try:
        codes = second_factor.regenerate_recovery_codes(current_user._get_current_object(), form.code.data)
    except second_factor.WrongCode:
        _code_from_app_or_recovery(form)
        return _two_factor_page(form, 422)
    return _recovery_codes_page(codes, first_time=False)


# --- personal API tokens -----------------------------------------------------------------------


def _api_tokens_page(form: ApiTokenForm | None = None, new_secret: str | None = None, status: int = 200):
    return show_once(
        "account/api_tokens.html",
        form=form or ApiTokenForm(formdata=None),
        tokens=api_tokens.tokens_of(current_user),
        new_secret=new_secret,
        max_tokens=api_tokens.MAX_TOKENS_PER_USER,
        status=status,
    )


@bp.route("/api-tokens", methods=["GET", "POST"])
@requires(Access.SIGNED_IN)
def api_tokens_page():
    if request.method == "GET":
        return _api_tokens_page()
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _api_tokens_page(form, status=422)
    try:
        made = api_tokens.create(current_user._get_current_object(), form.name.data, TokenScope(form.scope.data))
    except api_tokens.TooManyTokens:
        form.name.errors.append(f"You have {api_tokens.MAX_TOKENS_PER_USER} working tokens; revoke one first.")
        return _api_tokens_page(form, status=422)
    # Shown in this answer only, never stored or redirected with: the page is not cached.
    return _api_tokens_page(new_secret=made.secret, status=201)


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["POST"])
@requires(Access.SIGNED_IN)
def revoke_api_token(token_id: int):
    user = current_user._get_current_object()
    token = api_tokens.token_of(user, token_id) if 0 < token_id <= MAX_ID else None
    if token is None:
        abort(404)
    return turned_off(
        api_tokens.revoke(token, user),
        done=f"The token “{token.name}” is revoked: it no longer opens the API.",
        nothing_to_do=f"The token “{token.name}” was already revoked.",
        back_to=".api_tokens_page",
    )
