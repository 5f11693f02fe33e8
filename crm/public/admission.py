"""Admission control for the Get in Touch form: how many sends are routed while the family
waits, across every web process.

Routing a send (reading the candidates, writing the inquiry, its timeline and two emails) is
the form's expensive part. A shared budget, PUBLIC_FORM_ROUTING_BUDGET, counted in the rate
limiter's storage (Redis in production, so every process and host draws on one budget),
caps it. A send beyond the budget is not refused: it is held (crm.inquiries.held_posts), one
insert, and the family is thanked at once; the job runner routes it and sends both emails
shortly after. The budget protects the workers, not by turning families away: a bot farm
posting from many addresses makes its own posts cheap, and a family's send no longer waits
behind a queue of routed ones.
"""

from __future__ import annotations

import logging

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import parse_many

from crm import logs
from crm.extensions import limiter
from crm.inquiries.intake import sender_identity
from crm.limit_keys import personal_key

logger = logging.getLogger(__name__)

BUDGET_KEY = "public-form-routing-budget"
DEFAULT_IDENTITY_RATE_LIMIT = "5 per hour; 20 per day"


def within_routing_budget() -> bool:
    """Count this send against the shared routing budget; False when it is spent (or cannot
    be counted: holding a send is always safe). An empty budget routes every send."""
    budget = current_app.config.get("PUBLIC_FORM_ROUTING_BUDGET", "")
    if not budget.strip():
        return True
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    try:
        return all(limiter.limiter.hit(item, prefix, BUDGET_KEY) for item in parse_many(budget))
    except Exception as error:  # noqa: BLE001  (a storage that fails holds the send, never loses it)
        logs.log_failure(logger, "The routing budget could not be counted; the send is held", error=error)
        return False


def identity_rate_limit() -> str:
    return current_app.config.get("PUBLIC_FORM_IDENTITY_RATE_LIMIT", DEFAULT_IDENTITY_RATE_LIMIT)


def identity_key() -> str:
    """Sends that went through (the form's and the JSON API's), per email address typed in (or, without one, per phone
    number's digits): a bot farm reusing one identity from many addresses. Keyed with the
    app's secret, so that what a family wrote never reaches the limiter's storage: a bare
    digest of an address or a phone number is undone by hashing guesses; without either,
    the client's address (the form refuses such a send anyway)."""
    who = sender_identity(_sent("email"), _sent("phone")) or f"addr:{get_remote_address() or ''}"
    return personal_key("public-form-identity", who)


def _sent(name: str) -> str:
    """A field of the send: the form's, or the JSON API's (POST /api/v1/inquiries)."""
    value = request.form.get(name)
    if value is None and request.is_json:
        body = request.get_json(silent=True)
        value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""
