"""`/healthz`: whether this process can serve, for a load balancer or a process supervisor.

200 when the database answers a trivial query, 503 when it does not. Anyone may ask: the answer
names no host, version or error, and is never cached. It is exempt from rate limits (a load
balancer asks every few seconds from one address), and successful checks are left out of the
request logs (crm.request_log).
"""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from crm import logs, outage
from crm.auth.permissions import Access, requires
from crm.extensions import db, limiter
from crm.health import HEALTH_CHECK_PATH

bp = Blueprint("health", __name__)

NO_STORE = {"Cache-Control": "no-store"}


@bp.route(HEALTH_CHECK_PATH)
@requires(Access.PUBLIC)
@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        outage.roll_back()
    except SQLAlchemyError as error:
        outage.roll_back()
        current_app.logger.warning("Health check: the database did not answer: %s", logs.describe(error))
        return {"status": "unavailable", "database": "unreachable"}, 503, NO_STORE
    return {"status": "ok", "database": "ok"}, 200, NO_STORE
