"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Flask

from crm.auth.home import home_for
from crm.auth.permissions import Access, may_invite, role_may
from crm.timezones import format_datetime


def format_date(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value else ""


def format_money(value: Decimal | None) -> str:
    return f"${value:,.2f}" if value is not None else ""


def format_audit_value(value: object) -> str:
    """A value as the audit trail recorded it (crm.audit._plain), in words: none, yes or no,
    a list joined with commas."""
    if value is None or value == "" or value == []:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(format_audit_value(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {format_audit_value(item)}" for key, item in value.items())
    return str(value)


def home_url() -> str:
    from flask import url_for
    from flask_login import current_user

    return home_for(current_user) if current_user.is_authenticated else url_for("auth.login")


def init_app(app: Flask) -> None:
    app.jinja_env.globals["home_url"] = home_url
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["audit_value"] = format_audit_value
    app.jinja_env.globals["role_may"] = role_may
    app.jinja_env.globals["Access"] = Access
    app.jinja_env.globals["may_invite"] = may_invite
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
