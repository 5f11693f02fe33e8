"""Response headers that every page carries."""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)


def strict_transport_security(env_name: str, max_age: int, include_subdomains: bool) -> str | None:
    """The Strict-Transport-Security value, or None outside production, where a browser told
    so would refuse a development server on plain HTTP. A max-age of 0 is still sent: it is how
    browsers that were told before are told to forget, which turns HSTS off."""
    if env_name != "production" or max_age < 0:
        return None
    return f"max-age={max_age}" + ("; includeSubDomains" if include_subdomains else "")


def set_security_headers(response: Response) -> Response:
    config = current_app.config
    hsts = strict_transport_security(config["ENV_NAME"], config["HSTS_MAX_AGE"], config["HSTS_INCLUDE_SUBDOMAINS"])
    if hsts is not None:
        response.headers["Strict-Transport-Security"] = hsts
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # A page whose address holds a secret (crm.auth.token_pages) asks for none at all.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Pages can hold what a family wrote about a pregnancy or a loss: no shared or back-button caches.
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)
