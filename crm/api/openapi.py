"""The OpenAPI 3.1 document of /api/v1/, built from the same table the routes are made from
(crm.api.resources.RESOURCES) and the same schemas the bodies are checked against, so the
document cannot list a route the app lacks or describe a body the app reads otherwise.
tests/test_api_document.py holds the rest: the document is valid, names exactly the app's
routes, and every response the app gives fits it."""

from __future__ import annotations

from typing import Any

from crm.api import schemas
from crm.api.resources import RESOURCES, Resource
from crm.auth.permissions import Access

API_PREFIX = "/api/v1"
VERSION = "1.0.0"

WHO = {
    Access.SIGNED_IN: "Any user's token; partners see their own organisation's records only.",
    Access.STAFF: "The token of a staff member, manager or admin.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


PROBLEMS = {
    "400": _problem("The request could not be read: an unknown query parameter, a bad cursor or limit, or a body that is not JSON."),
    "401": _problem("No token, or one that is unknown, revoked, or whose user is deactivated."),
    "403": _problem("The token's user or scope may not do this."),
    "404": _problem("No such record, or not one this token's user may see."),
    "409": _problem("A conflict with what is stored: a name or email already used."),
    "413": _problem("The body is too large."),
    "415": _problem("The body is not sent as application/json."),
    "422": _problem("Fields that are not valid, named in 'errors'."),
    "429": _problem("Too many requests; wait and try again."),
}


def _problems(*codes: str) -> dict[str, Any]:
    return {code: PROBLEMS[code] for code in codes}


ID_PARAMETER = {"name": "record_id", "in": "path", "required": True, "schema": schemas.ID}
PAGE_PARAMETERS = [
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "The next_cursor of the page before; leave out for the first page.",
        "schema": {"type": "string"},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Records per page.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    },
]


def _collection(resource: Resource) -> dict[str, Any]:
    operations: dict[str, Any] = {
        "get": {
            "operationId": f"list_{resource.name}",
            "summary": f"List {resource.name}",
            "description": f"In id order, a page at a time. {WHO[resource.read_access]}",
            "tags": [resource.name],
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": _json(_ref(f"{resource.schema_name}Page"), f"A page of {resource.name}."),
                **_problems("400", "401", "403"),
            },
        }
    }
    if resource.writable:
        operations["post"] = {
            "operationId": f"create_{resource.singular}",
            "summary": f"Create {'an' if resource.singular[0] in 'aeiou' else 'a'} {resource.singular}",
            "description": f"Checked as the web form checks it, and audited. {WHO[resource.write_access]} Write scope.",
            "tags": [resource.name],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(resource.new_schema_name)}}},
            "responses": {
                "201": _json(_ref(resource.schema_name), f"The new {resource.singular}."),
                **_problems("400", "401", "403", "409", "413", "415", "422"),
            },
        }
    return operations


def _item(resource: Resource) -> dict[str, Any]:
    operations: dict[str, Any] = {
        "parameters": [ID_PARAMETER],
        "get": {
            "operationId": f"get_{resource.singular}",
            "summary": f"Get {'an' if resource.singular[0] in 'aeiou' else 'a'} {resource.singular}",
            "description": WHO[resource.read_access],
            "tags": [resource.name],
            "responses": {
                "200": _json(_ref(resource.schema_name), f"The {resource.singular}."),
                **_problems("400", "401", "403", "404"),
            },
        },
    }
    if resource.writable:
        operations["patch"] = {
            "operationId": f"update_{resource.singular}",
            "summary": f"Change {'an' if resource.singular[0] in 'aeiou' else 'a'} {resource.singular}",
            "description": f"Send only the fields to change. {WHO[resource.write_access]} Write scope.",
            "tags": [resource.name],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(resource.changes_schema_name)}},
            },
            "responses": {
                "200": _json(_ref(resource.schema_name), f"The {resource.singular} as saved."),
                **_problems("400", "401", "403", "404", "409", "413", "415", "422"),
            },
        }
    return operations


SUBMIT_INQUIRY = {
    "operationId": "submit_inquiry",
    "summary": "Send an inquiry from another site",
    "description": (
        "No token: this is the Get in Touch form for other sites. The same checks, routing, "
        "duplicate and spam rules, rate limits and flood control as the form (a submission held in a "
        "flood is routed shortly after; the answer then names the initiative). Browsers may call it from the "
        "origins the foundation configured (CORS)."
    ),
    "tags": ["inquiries"],
    "security": [],
    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("InquirySubmission")}}},
    "responses": {
        "201": _json(_ref("Submitted"), "Received; tell the sender its reference and who will answer."),
        **_problems("400", "413", "415", "422", "429"),
    },
}

ME = {
    "get": {
        "operationId": "get_me",
        "summary": "Who the token acts as",
        "tags": ["account"],
        "responses": {"200": _json(_ref("Me"), "The token's user and scope."), **_problems("400", "401")},
    }
}


def component_schemas() -> dict[str, Any]:
    found: dict[str, Any] = {"Problem": schemas.PROBLEM, "InquirySubmission": schemas.INQUIRY_SUBMISSION,
                             "Submitted": schemas.SUBMITTED, "Me": schemas.ME}
    for resource in RESOURCES:
        found[resource.schema_name] = resource.schema
        found[f"{resource.schema_name}Page"] = schemas.page_of(f"#/components/schemas/{resource.schema_name}")
        if resource.new_schema is not None:
            found[resource.new_schema_name] = resource.new_schema
            found[resource.changes_schema_name] = schemas.without_required(resource.new_schema)
    return found


def document(server_url: str = API_PREFIX) -> dict[str, Any]:
    paths: dict[str, Any] = {"/me": ME}
    for resource in RESOURCES:
        paths[f"/{resource.name}"] = _collection(resource)
        paths[f"/{resource.name}/{{record_id}}"] = _item(resource)
    paths["/inquiries"]["post"] = SUBMIT_INQUIRY
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Backbone CRM API",
            "version": VERSION,
            "description": (
                "Organisations, contacts, grants and interactions of the Infant Mortality Reduction "
                "Initiative, and its inquiries. Send a personal API token, made on your account page, as "
                "'Authorization: Bearer <token>'. A read token may only GET; a write token may also create "
                "and change records, where its user's role may on the web pages. Errors are "
                "application/problem+json."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer", "description": "A personal API token."}},
        },
    }


def operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation as the docs page lists it: method, path, summary, description."""
    found = []
    for path, item in doc["paths"].items():
        for method in ("get", "post", "patch", "put", "delete"):
            if method in item:
                operation = item[method]
                found.append(
                    {
                        "method": method.upper(),
                        "path": API_PREFIX + path,
                        "summary": operation.get("summary", ""),
                        "description": operation.get("description", ""),
                        "public": operation.get("security") == [],
                        "body": (operation.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "").rpartition("/")[2],
                        "responses": sorted(operation["responses"]),
                    }
                )
    return found
