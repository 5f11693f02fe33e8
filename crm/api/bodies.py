"""Request bodies: read as JSON, checked against the document's schema, then handed to the
same WTForms form the web page uses, so that every rule (lengths, email and phone formats,
ZIP codes, dates, choices) holds alike on both.

A field's problems come back as {"field": ["message", ...]}, raised as Invalid (422).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import abort, request
from werkzeug.datastructures import MultiDict

from crm.api.schemas import Schema

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError

BODY = "body"  # the key of a problem with the body as a whole


class Invalid(Exception):
    """Field messages for a 422 (or `status`, e.g. 409 for a duplicate)."""

    def __init__(self, errors: dict[str, list[str]], status: int = 422, detail: str | None = None) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status
        self.detail = detail


def json_object() -> dict[str, Any]:
    """The request's JSON object; 415 when it is not sent as JSON, 400 when it cannot be read,
    422 when it is JSON but not an object."""
    if not request.is_json:
        abort(415)
    data = request.get_json(silent=True)
    if data is None:
        abort(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise Invalid({BODY: ["Send a JSON object of fields."]})
    return data


def _type_names(schema_type: str | list[str]) -> str:
    names = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
             "array": "a list", "object": "an object", "null": "null"}
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    return " or ".join(names.get(name, name) for name in types)


def _message(error: SchemaError) -> tuple[str, str]:
    """(field, message) for one schema error, in plain words. The value sent is never quoted
    back: it can be what a family wrote."""
    field = ".".join(str(part) for part in error.absolute_path) or BODY
    schema = error.schema if isinstance(error.schema, dict) else {}
    match error.validator:
        case "required":
            # "'name' is a required property": the schema's own field names are plain words.
            missing = error.message.split("'")[1] if error.message.count("'") >= 2 else BODY
            return missing, "This field is required."
        case "additionalProperties":
            known = schema.get("properties", {})
            unknown = sorted(str(name) for name in error.instance if name not in known)
            return field, "Unknown fields: " + ", ".join(unknown) + "."
        case "type":
            return field, f"Must be {_type_names(schema.get('type', ''))}."
        case "enum":
            return field, "Must be one of: " + ", ".join(str(value) for value in schema.get("enum", [])) + "."
        case "minimum":
            return field, f"Must be at least {schema.get('minimum')}."
        case _:
            return field, "This value is not valid."


def check(data: dict[str, Any], schema: Schema) -> None:
    """Raise Invalid with every field's problems if `data` does not fit `schema`."""
    from jsonschema import Draft202012Validator  # only API requests need it: kept out of the others

    errors: dict[str, list[str]] = {}
    for error in sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path)):
        field, message = _message(error)
        if message not in errors.setdefault(field, []):
            errors[field].append(message)
    if errors:
        raise Invalid(errors)


def formdata(values: dict[str, Any]) -> MultiDict[str, str]:
    """Values as a browser would post them: a list as repeated fields, true as a ticked
    checkbox, false and null as nothing."""
    data: MultiDict[str, str] = MultiDict()
    for name, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            data.add(name, "y")
        elif isinstance(value, list):
            for item in value:
                data.add(name, str(item))
        else:
            data.add(name, str(value))
    return data


def form_errors(form: Any, renamed: dict[str, str] | None = None) -> dict[str, list[str]]:
    """A validated form's messages by API field name (`renamed` maps form fields to API ones)."""
    renamed = renamed or {}
    errors: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        if name == "csrf_token":
            continue
        field = renamed.get(name, name)
        for message in messages if isinstance(messages, list) else [str(messages)]:
            if str(message) not in errors.setdefault(field, []):
                errors[field].append(str(message))
    return errors
