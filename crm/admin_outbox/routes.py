from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.admin_outbox import services
from crm.admin_outbox.forms import OutboxFilterForm
from crm.auth.permissions import Access, requires
from crm.database import utcnow
from crm.inquiries import held_posts
from crm.models import OutboundEmail
from crm.records import filtered_page, get_or_404, page_args

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")


@bp.route("/")
@requires(Access.ADMIN)
def index():
    form = OutboxFilterForm(request.args)
    valid = form.validate()
    page, status = filtered_page(services.search(form.status.data if valid else form.status.default), valid)
    return render_template(
        "outbox/index.html",
        form=form,
        page=page,
        args=page_args(form),
        counts=services.counts_by_status(),
        mail_server=current_app.config.get("MAIL_SERVER"),
        held=held_posts.backlog(),
        now=utcnow(),
    ), status


@bp.route("/held/try-again", methods=["POST"])
@requires(Access.ADMIN)
def try_held_again():
    tried = held_posts.try_again(current_user)
    flash(f"{tried} held Get in Touch sends will be tried again at the job runner's next run.", "success")
    return redirect(url_for(".index"))


@bp.route("/<int:email_id>")
@requires(Access.ADMIN)
def detail(email_id: int):
    email = get_or_404(OutboundEmail, email_id)
    return render_template(
        "outbox/detail.html",
        email=email,
        body=services.shown_body(email),
        can_resend=services.can_resend(email),
        link_hidden=services.link_hidden(email),
        mail_server=current_app.config.get("MAIL_SERVER"),
    )


@bp.route("/<int:email_id>/resend", methods=["POST"])
@requires(Access.ADMIN)
def resend(email_id: int):
    email = get_or_404(OutboundEmail, email_id)
    try:
        services.resend(email, current_user)
    except services.LinkHidden:
        flash(
            "This sign-in link was removed from the stored message once it was sent or given up on, "
            "so it cannot be re-sent: send a new invitation, or have the person ask for a new "
            "password reset link.",
            "error",
        )
    except services.OptedOut:
        flash("The family opted out of these messages, so this one cannot be re-sent.", "error")
    except services.NotResendable:
        flash(f"This message is {email.status.label.lower()}, so it cannot be re-sent.", "error")
    else:
        flash(f"The message to {email.to_address} is back in the queue; the job runner sends it shortly.", "success")
    return redirect(url_for(".detail", email_id=email.id))
