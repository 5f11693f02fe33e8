"""Errors told as `application/problem+json` (RFC 9457), for the JSON API.

crm.errors answers every error of a request under API_PREFIX this way, whichever part of the
app raised it (a rate limit, a body too large, a route that does not exist), so a client of
the API never receives an HTML page."""

from __future__ import annotations

from flask import Response, json, request
from werkzeug.http import HTTP_STATUS_CODES

API_PREFIX = "/api/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# What each status means to a client of the API, when the code raising it says nothing more.
DETAILS = {
    400: "The request could not be read.",
    401: "Send a personal API token as 'Authorization: Bearer <token>'. Tokens are made on your account page.",
    403: "Your account or token may not do this.",
    404: "There is no such record, or it is not yours to see.",
    405: "This address does not take that method.",
    409: "The request conflicts with the record as it is now.",
    413: "The request body is too large.",
    415: "Send the body as JSON, with 'Content-Type: application/json'.",
    422: "Some fields are not valid; 'errors' says which and why.",
    429: "Too many requests in a short while; wait a few minutes and try again.",
    500: "Something went wrong on our side. It has been noted; please try again in a moment.",
    503: "The service is not available just now; please try again in a few minutes.",
}


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def problem(status: int, detail: str | None = None, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, object] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or DETAILS.get(status, HTTP_STATUS_CODES.get(status, "Error")),
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
