from flask import Blueprint, current_app, render_template
from flask_login import current_user

from crm.auth.permissions import Access, requires
from crm.dashboard import services
from crm.database import utcnow
from crm.grants import services as grant_services
from crm.inquiries.overdue import overdue_inquiries
from crm.timezones import local_time

bp = Blueprint("dashboard", __name__)


@bp.route("/dashboard")
@requires(Access.STAFF)
def index():
    now = utcnow()
    today = local_time(now).date()
    return render_template(
        "dashboard/index.html",
        today=today,
        follow_ups=services.follow_ups_for(current_user, today),
        recent=services.recent_interactions(),
        dormant=services.dormant_partners(now, current_app.config["DORMANT_PARTNER_DAYS"]),
        dormant_days=current_app.config["DORMANT_PARTNER_DAYS"],
        overdue=overdue_inquiries(current_user, now),
        past_due=grant_services.past_due_reports(today, services.PAST_DUE_SHOWN),
        days_overdue=grant_services.days_overdue,
    )
