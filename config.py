"""All configuration, read from the environment in one place."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

# A development key is allowed only where no real data lives; create_app refuses it elsewhere.
DEVELOPMENT_SECRET_KEY = "development-only-not-secret"  # noqa: S105


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


class Config:
    ENV_NAME = "production"
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'backbone.sqlite'}"
    )
    # hide_parameters: SQL errors and echo never show bound values, which can be what a family
    # wrote (create_app adds it to any other options too).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    # PostgreSQL connections each process keeps (pool size) and may open beyond them at a busy
    # moment (overflow); SQLAlchemy's defaults. README, Production, sizes them against the
    # server's max_connections. SQLite ignores them.
    DATABASE_POOL_SIZE = _int("DATABASE_POOL_SIZE", 5)
    DATABASE_MAX_OVERFLOW = _int("DATABASE_MAX_OVERFLOW", 10)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    PERMANENT_SESSION_LIFETIME = 60 * 60 * 12
    # Strict-Transport-Security, sent in production only: browsers then reach the app over HTTPS
    # alone for this many seconds (0 tells them to forget it), its subdomains too if set.
    HSTS_MAX_AGE = _int("HSTS_MAX_AGE", 365 * 24 * 60 * 60)
    HSTS_INCLUDE_SUBDOMAINS = _bool("HSTS_INCLUDE_SUBDOMAINS", True)
    MAX_CONTENT_LENGTH = 256 * 1024  # no form of ours needs more; a huge body gets a 413
    # A spreadsheet uploaded for import (crm.imports) may be larger, and has this many rows at most.
    IMPORT_MAX_BYTES = _int("IMPORT_MAX_BYTES", 4 * 1024 * 1024)
    IMPORT_MAX_ROWS = _int("IMPORT_MAX_ROWS", 5000)

    WTF_CSRF_TIME_LIMIT = 60 * 60 * 4

    # Flask-Limiter: memory by default, Redis when RATELIMIT_STORAGE_URI names one.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Put before every rate-limit key: deployments (or tests) sharing one Redis keep apart.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "")
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True
    # Behind a reverse proxy, the number of proxies whose X-Forwarded-For to trust (0: none);
    # without it every visitor shares the proxy's address and its rate limit.
    TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
    # Get in Touch sends per client address: those that went through count against the first,
    # refused ones (a mistyped ZIP code, an expired page) against the second, looser one.
    PUBLIC_FORM_RATE_LIMIT = os.environ.get("PUBLIC_FORM_RATE_LIMIT", "5 per minute; 30 per hour")
    PUBLIC_FORM_REFUSED_RATE_LIMIT = os.environ.get("PUBLIC_FORM_REFUSED_RATE_LIMIT", "30 per minute; 300 per hour")
    # Sends that went through per email address typed in (or phone number, without one),
    # whatever the client's address: a bot farm reusing one identity (crm.public.admission).
    PUBLIC_FORM_IDENTITY_RATE_LIMIT = os.environ.get("PUBLIC_FORM_IDENTITY_RATE_LIMIT", "5 per hour; 20 per day")
    # Sends routed while the sender waits, across every process sharing the rate-limit storage
    # (crm.public.admission); beyond it a send is held, thanked at once and routed by the job
    # runner shortly after. Empty: every send is routed at once, as under no flood.
    PUBLIC_FORM_ROUTING_BUDGET = os.environ.get("PUBLIC_FORM_ROUTING_BUDGET", "2 per second")
    # A submission sooner than this after the form was rendered is treated as a bot.
    PUBLIC_FORM_MIN_SECONDS = _int("PUBLIC_FORM_MIN_SECONDS", 3)
    LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes")
    LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "20 per 15 minutes")
    # A browser that has signed in to an account before (it holds a device cookie for it) is
    # not held by that account's limit, but by this one of its own (crm.auth.devices).
    LOGIN_LIMIT_PER_DEVICE = os.environ.get("LOGIN_LIMIT_PER_DEVICE", "10 per 15 minutes")
    LOGIN_DEVICE_COOKIE_DAYS = _int("LOGIN_DEVICE_COOKIE_DAYS", 180)
    # "Forgot your password?" requests, per client address and per address typed in; the
    # answer is the same whether or not an account has that address, a refusal included.
    PASSWORD_RESET_LIMIT_PER_IP = os.environ.get("PASSWORD_RESET_LIMIT_PER_IP", "10 per hour")
    PASSWORD_RESET_LIMIT_PER_ACCOUNT = os.environ.get("PASSWORD_RESET_LIMIT_PER_ACCOUNT", "3 per hour")
    # The least time a request takes to answer, account or not (crm.password_reset.routes).
    PASSWORD_RESET_ANSWER_SECONDS = float(os.environ.get("PASSWORD_RESET_ANSWER_SECONDS") or 0.5)

    # How long the links sent by email work: an invitation is read when its reader has time,
    # a password reset at once.
    INVITATION_VALID_HOURS = _int("INVITATION_VALID_HOURS", 72)
    PASSWORD_RESET_VALID_MINUTES = _int("PASSWORD_RESET_VALID_MINUTES", 60)
    # Days a link's row is kept once it stopped working (used, withdrawn or expired), so its page
    # can still say why; the job runner's account-tokens job then deletes it.
    ACCOUNT_TOKEN_KEEP_DAYS = _int("ACCOUNT_TOKEN_KEEP_DAYS", 30)
    # Wrong codes at the sign-in's second step, per account and per client address.
    TWO_FACTOR_LIMIT_PER_ACCOUNT = os.environ.get("TWO_FACTOR_LIMIT_PER_ACCOUNT", "5 per 15 minutes")
    TWO_FACTOR_LIMIT_PER_IP = os.environ.get("TWO_FACTOR_LIMIT_PER_IP", "20 per 15 minutes")
    # Roles that must use two-factor sign-in: "all", or role names separated by commas, or empty.
    TWO_FACTOR_REQUIRED_ROLES = os.environ.get("TWO_FACTOR_REQUIRED_ROLES", "admin,manager")

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "backbone-crm@localhost")
    # The foundation's address, where a family's reply to our acknowledgement goes (the sender
    # may be a no-reply address); empty: acknowledgements carry no Reply-To.
    MAIL_REPLY_TO = os.environ.get("MAIL_REPLY_TO", "")
    MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 10)

    # Origins (https://example.org, comma-separated) whose pages may send inquiries to
    # POST /api/v1/inquiries from the browser; empty: none, and servers may still post.
    API_CORS_ORIGINS = os.environ.get("API_CORS_ORIGINS", "")

    # Public links in emails point here; behind a proxy set it to the public address.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    # Times are stored in UTC and shown in the initiative's own zone.
    DISPLAY_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "America/Chicago")
    # Service-level clock: business hours in this zone, minus weekends and these dates (YYYY-MM-DD, comma-separated).
    SLA_TIMEZONE = os.environ.get("SLA_TIMEZONE", os.environ.get("DISPLAY_TIMEZONE", "America/Chicago"))
    SLA_HOLIDAYS = os.environ.get("SLA_HOLIDAYS", "")
    SLA_DAY_START_HOUR = _int("SLA_DAY_START_HOUR", 9)
    SLA_DAY_END_HOUR = _int("SLA_DAY_END_HOUR", 17)
    # The assignee is reminded this many business hours before the first-response deadline.
    SLA_REMINDER_HOURS = _int("SLA_REMINDER_HOURS", 4)
    # Closed and spam inquiries older than this are anonymised daily by the job runner (and `flask crm purge`).
    RETENTION_DAYS = _int("RETENTION_DAYS", 730)
    # The family's follow-up (crm.family): sent this many days after an inquiry is closed, not
    # at all once FOLLOW_UP_MAX_DELAY_DAYS more have passed (so a deployment, or a runner
    # stopped for a while, does not write to families whose requests closed long ago); its
    # yes and no links work for FOLLOW_UP_LINK_DAYS.
    FOLLOW_UP_DAYS = _int("FOLLOW_UP_DAYS", 5)
    FOLLOW_UP_MAX_DELAY_DAYS = _int("FOLLOW_UP_MAX_DELAY_DAYS", 14)
    FOLLOW_UP_LINK_DAYS = _int("FOLLOW_UP_LINK_DAYS", 30)
    # Look-ups on the public /status page, per client address.
    STATUS_RATE_LIMIT = os.environ.get("STATUS_RATE_LIMIT", "10 per minute; 50 per hour")
    MAIL_MAX_ATTEMPTS = _int("MAIL_MAX_ATTEMPTS", 8)
    # SMTP connections a drain keeps open side by side, each with a database connection of its own.
    MAIL_SENDERS = _int("MAIL_SENDERS", 4)
    # How often `flask crm jobs` looks for due jobs; sending mail runs at every look.
    JOBS_POLL_SECONDS = _int("JOBS_POLL_SECONDS", 5)
    # The job runner warns while the oldest Get in Touch send held in a flood waits longer than this.
    HELD_POSTS_WARN_MINUTES = _int("HELD_POSTS_WARN_MINUTES", 5)
    # The same email and message within this many minutes make one inquiry, not two.
    DUPLICATE_WINDOW_MINUTES = _int("DUPLICATE_WINDOW_MINUTES", 10)
    # How long a process keeps topics, regions, routing rules and holiday calendars it read
    # (crm.reference_cache): an edit made in another process takes effect within this time.
    REFERENCE_CACHE_SECONDS = _int("REFERENCE_CACHE_SECONDS", 30)
    PAGE_SIZE = _int("PAGE_SIZE", 25)
    # Possible duplicates (crm.merging): two names in one organisation (or two organisations'
    # names) scoring at least this (rapidfuzz token_sort_ratio, 0-100) are listed; the list
    # shows at most DUPLICATES_SHOWN pairs, the likeliest first.
    DUPLICATE_NAME_THRESHOLD = _int("DUPLICATE_NAME_THRESHOLD", 85)
    DUPLICATES_SHOWN = _int("DUPLICATES_SHOWN", 200)
    DORMANT_PARTNER_DAYS = _int("DORMANT_PARTNER_DAYS", 60)


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False


class TestConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    WTF_CSRF_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    # Tests of the form see their sends routed at once; those of the budget set one.
    PUBLIC_FORM_ROUTING_BUDGET = ""
    PASSWORD_HASH_FAST = True
    PASSWORD_RESET_ANSWER_SECONDS = 0.0
    # Tests that are not about two-factor sign-in sign in with a password alone.
    TWO_FACTOR_REQUIRED_ROLES = ""


class ProductionConfig(Config):
    pass


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestConfig,
    "production": ProductionConfig,
}


def config_from_environment() -> type[Config]:
    name = os.environ.get("CRM_ENV", "production").strip().lower()
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(
            f"CRM_ENV={name!r} is not one of {', '.join(CONFIGS)}"
        ) from None
