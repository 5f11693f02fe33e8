"""Set-up shared by the public pages' tests: config, demo data and a valid submission."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import select

from crm.demo import seed_demo
from crm.extensions import db
from crm.models import Inquiry, Topic

TOKEN_RE = re.compile(r'name="rendered" type="hidden" value="([^"]+)"')
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# Lots of posts per test, from one address: the rate-limit tests set their own limit.
GENEROUS_LIMIT = "10000 per minute"


@contextmanager
def app_config(app: Flask, **values: Any) -> Iterator[None]:
    missing = object()
    saved = {key: app.config.get(key, missing) for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is missing:
                app.config.pop(key, None)
            else:
                app.config[key] = value


@contextmanager
def public_site(app: Flask, **config: Any) -> Iterator[None]:
    """The public pages with demo data; the render-time check off unless a test sets it."""
    settings = {
        "PUBLIC_FORM_MIN_SECONDS": 0,
        "PUBLIC_FORM_RATE_LIMIT": GENEROUS_LIMIT,
        "PUBLIC_FORM_REFUSED_RATE_LIMIT": GENEROUS_LIMIT,
        **config,
    }
    with app_config(app, **settings):
        seed_demo("demo password for tests")
        yield


def first_topic_id() -> int:
    return db.session.scalar(select(Topic.id).where(Topic.active.is_(True)).order_by(Topic.sort_order).limit(1))


def form_token(client) -> str:
    """The signed render time from a freshly shown form."""
    html = client.get("/get-in-touch").get_data(as_text=True)
    return TOKEN_RE.search(html).group(1)


def valid_form(client, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Jamie Rivera",
        "email": "jamie.rivera@example.org",
        "phone": "",
        "zip_code": "63857",
        "topic": str(first_topic_id()),
        "language": "en",
        "message": "We are expecting our first baby and would like to know what support there is nearby.",
        "consent": "y",
        "website": "",
        "rendered": form_token(client),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def confirmation_in_session(client) -> dict[str, str] | None:
    with client.session_transaction() as session:
        return session.get("public_confirmation")


def inquiry_by_reference(reference: str) -> Inquiry | None:
    db.session.expire_all()
    return db.session.scalar(select(Inquiry).where(Inquiry.reference == reference))


def text_of(response) -> str:
    return response.get_data(as_text=True)
