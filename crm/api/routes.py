"""/api/v1/: the JSON API. Views only translate HTTP: the token decides who acts
(crm.api.auth), the resources table shows and saves records through the features' own
forms and services (crm.api.resources), and every error is problem+json (crm.problems)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request
from flask_login import current_user
from werkzeug.wrappers import Response

from crm import outage
from crm.api import openapi, paging, schemas
from crm.api.auth import token_required
from crm.api.bodies import Invalid, check, form_errors, formdata, json_object
from crm.api.resources import NO_CSRF, RESOURCES, Resource
from crm.auth.permissions import Access, requires
from crm.database import utcnow, writes_on_get
from crm.extensions import csrf, limiter
from crm.inquiries import services as inquiry_services
from crm.models import Inquiry
from crm.problems import problem
from crm.public import admission, spam
from crm.public import services as public_services
from crm.public.forms import InquiryForm
from crm.public.routes import form_rate_limit, refused_key, refused_rate_limit, sent_key
from crm.records import get_or_404

bp = Blueprint("api", __name__, url_prefix=openapi.API_PREFIX)
# Requests carry a token in a header, never a cookie: there is nothing for a forged form to ride on.
csrf.exempt(bp)

SUBMIT_PATH = "/inquiries"
CORS_MAX_AGE = 600


def _user():
    return current_user._get_current_object()


# The query parameters each kind of view reads; any other is refused, as unknown body fields
# are, so that a misspelt ?limt= is not silently ignored.
PAGE_ARGS = frozenset({"cursor", "limit"})


@bp.before_request
def _refuse_unknown_query_args() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    known = PAGE_ARGS if getattr(view, "pages", False) else frozenset()
    unknown = sorted(set(request.args) - known)
    if unknown:
        abort(400, "Unknown query parameters: " + ", ".join(unknown)[:200] + ".")


@bp.errorhandler(Invalid)
def _invalid(error: Invalid) -> Response:
    outage.roll_back()
    return problem(error.status, error.detail, error.errors)


# --- the document and its docs page --------------------------------------------------------


@bp.route("/openapi.json")
@requires(Access.PUBLIC)
def openapi_json():
    return jsonify(openapi.document())


@bp.route("/docs")
@requires(Access.PUBLIC)
def docs():
    doc = openapi.document()
    return render_template(
        "api/docs.html", doc=doc, operations=openapi.operations(doc), schemas=doc["components"]["schemas"]
    )


@bp.route("/me")
@token_required(Access.SIGNED_IN)
def me():
    user = _user()
    return jsonify(
        {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "role": user.role.value,
            "organisation_id": user.organisation_id,
            "token_scope": g.api_token.scope.value,
        }
    )


# --- the records ---------------------------------------------------------------------------


def _list_view(resource: Resource):
    def view():
        page = paging.fetch(resource.visible(_user()), resource.model)
        return jsonify({"items": [resource.to_json(item) for item in page.items], "next_cursor": page.next_cursor})

    return view


def _get_view(resource: Resource):
    def view(record_id: int):
        record = get_or_404(resource.model, record_id)
        if isinstance(record, Inquiry):
            # Who looked at an inquiry is recorded, as its web page records it.
            inquiry_services.record_view(record, _user(), utcnow())
        return jsonify(resource.to_json(record))

    return view


def _checked_body(schema: schemas.Schema) -> dict[str, Any]:
    data = json_object()
    check(data, schema)
    return data


def _create_view(resource: Resource):
    def view():
        data = _checked_body(resource.new_schema)
        record = resource.save(None, data, _user())
        return jsonify(resource.to_json(record)), 201

    return view


def _update_view(resource: Resource):
    def view(record_id: int):
        record = get_or_404(resource.model, record_id)
        if getattr(record, "merged_into_id", None) is not None:
            abort(409, f"This {resource.singular} was merged into {resource.singular} {record.merged_into_id}; change that one.")
        data = _checked_body(schemas.without_required(resource.new_schema))
        saved = resource.save(record, {**resource.values(record), **data}, _user())
        return jsonify(resource.to_json(saved))

    return view


def _register(resource: Resource) -> None:
    collection, item = f"/{resource.name}", f"/{resource.name}/<int:record_id>"
    reader = token_required(resource.read_access)
    list_view = reader(_list_view(resource))
    list_view.pages = True  # type: ignore[attr-defined]
    bp.add_url_rule(collection, f"list_{resource.name}", list_view, methods=["GET"])
    get_view = reader(_get_view(resource))
    if resource.model is Inquiry:
        get_view = writes_on_get(get_view)  # the view is recorded in the access log
    bp.add_url_rule(item, f"get_{resource.singular}", get_view, methods=["GET"])
    if resource.writable:
        writer = token_required(resource.write_access)
        bp.add_url_rule(collection, f"create_{resource.singular}", writer(_create_view(resource)), methods=["POST"])
        bp.add_url_rule(item, f"update_{resource.singular}", writer(_update_view(resource)), methods=["PATCH"])


for _resource in RESOURCES:
    _register(_resource)


# --- inquiries from other sites ------------------------------------------------------------


def _was_sent(response: Response) -> bool:
    return response.status_code == 201


def _was_refused(response: Response) -> bool:
    return response.status_code != 201


# The same two limits per client address as the Get in Touch form, counted together with it:
# a site's visitors share their own address's allowance, not the site's.
@bp.route(SUBMIT_PATH, methods=["POST"])
@requires(Access.PUBLIC)
@limiter.limit(form_rate_limit, key_func=sent_key, methods=["POST"], deduct_when=_was_sent)
@limiter.limit(refused_rate_limit, key_func=refused_key, methods=["POST"], deduct_when=_was_refused)
@limiter.limit(admission.identity_rate_limit, key_func=admission.identity_key, methods=["POST"], deduct_when=_was_sent)
def submit_inquiry():
    data = _checked_body(schemas.INQUIRY_SUBMISSION)
    sending = public_services.Sending(now=utcnow())
    confirmation = outage.retry_once_if_connection_lost(lambda: _send(data, sending))
    return jsonify({"reference": confirmation.reference, "organisation": confirmation.organisation}), 201


def _send(data: dict[str, Any], sending: public_services.Sending) -> public_services.Confirmation:
    values = {**data, "topic": data.get("topic_id"), "language": data.get("language", "en")}
    values.pop("topic_id", None)
    values.pop("form_seconds", None)
    form = InquiryForm(formdata=formdata(values), meta=NO_CSRF)
    language = values["language"]
    form.set_topics(public_services.public_topic_choices(language), "Choose a topic")
    if not form.validate():
        raise Invalid(form_errors(form, renamed={"topic": "topic_id"}))
    fields = public_services.posted_fields(form)
    # The honeypot and how long its form was open are the calling site's to pass on: we did not
    # show the form, so there is no signed render time, and a form open for days is not expired.
    age = spam.reported_form_age(data.get("form_seconds"))
    timing = spam.Timing.OK if age is None else spam.judge_timing(age, spam.min_form_seconds(), max_age=timedelta.max)
    reason = spam.spam_reason(honeypot=spam.honeypot_filled(data.get("website")), timing=timing, age=age)
    # Admitted as the form's sends are: no token is needed to get here.
    return sending.admit(fields, spam_reason=reason)


def _allowed_origins() -> frozenset[str]:
    setting = current_app.config.get("API_CORS_ORIGINS") or ""
    return frozenset(origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip())


@bp.after_request
def _cors(response: Response) -> Response:
    """Browsers may send inquiries from the configured origins, and nothing else: the
    token routes are for servers and scripts, which CORS does not concern."""
    if request.path != bp.url_prefix + SUBMIT_PATH or request.method not in ("POST", "OPTIONS"):
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin", "")
    if origin not in _allowed_origins():
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
    return response
