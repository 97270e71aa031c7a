"""The OpenAPI document says what the API really answers.

FastAPI documents a 422 for every route with parameters, but this API answers 400 with
``{"error": …}`` (``api._install_error_handlers``), and the checks in ``guard`` add 401, 403,
408, 413 and 415 before a route is reached. A client generated from the document, and a
conformance tester, must see those.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from executor.service.guard import SDK_PATHS

EVENT_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/EventIn"},
            {"type": "array", "items": {"$ref": "#/components/schemas/EventIn"}, "minItems": 1, "maxItems": 5000},
        ]}}},
    },
}
"""The event body is read raw (to answer in Inngest's shape), so it is described by hand."""

JSON_OBJECT_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
}
"""For writes that take no input: they still need a JSON body (``{}``), because what a web page
may send to any address without a CORS preflight is never JSON (``guard``)."""

GRAPHQL_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["query"],
        "properties": {"query": {"type": "string", "minLength": 1, "pattern": "\\S"},
                       "variables": {"type": ["object", "null"]},
                       "operationName": {"type": ["string", "null"]}},
    }}}},
}
"""``POST /v0/gql`` reads its body raw (GraphQL over HTTP), so it is described by hand."""


REGISTER_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["appName", "url"],
        "properties": {"appName": {"type": "string", "minLength": 1, "pattern": "\\S"},
                       "url": {"type": "string", "pattern": "^https?://[^\\s/?#]+"},
                       "functions": {"type": ["array", "null"], "items": {
                           "type": "object", "required": ["id"],
                           "properties": {"id": {"type": "string", "minLength": 1}}}}},
    }}}},
}
"""What an SDK posts to ``/fn/register`` (``sync.parse_register_body`` checks the rest: triggers,
steps, expressions)."""


def checkpoint_body(opcodes: list[str]) -> dict[str, Any]:
    """``POST /v1/checkpoint/{run}/async``: the ops an SDK ran inline, as ``wire.op_from_wire`` reads
    them (an error op must carry its error)."""
    text = {"type": ["string", "null"]}
    op = {"type": "object", "required": ["op", "id"],
          "properties": {"op": {"enum": opcodes}, "id": {"type": "string", "minLength": 1},
                         "name": text, "displayName": text,
                         "userland": {"type": ["object", "null"], "properties": {
                             "id": text, "index": {"type": ["integer", "null"], "minimum": 0}}},
                         "opts": {"type": ["object", "null"]}, "error": {"type": ["object", "null"]}},
          "if": {"properties": {"op": {"enum": ["StepError", "StepFailed"]}}},
          "then": {"required": ["error"], "properties": {"error": {"type": "object"}}}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["steps"], "properties": {"steps": {"type": "array", "items": op}}}}}}}


#: Text without control characters (``events.check_name``), as a JSON-schema pattern.
PRINTABLE = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
_NAME = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": PRINTABLE,
         "allOf": [{"pattern": "\\S"}, {"not": {"pattern": "^inngest/"}}],
         "description": "event name; the inngest/ prefix is reserved"}
_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_EXACT_FLOAT = {"type": "number", "minimum": -(2**53), "maximum": 2**53}

_SCHEMAS: dict[str, Any] = {
    "EventIn": {
        "type": "object", "required": ["name"],
        "properties": {
            "name": _NAME,
            "data": {"type": ["object", "null"]}, "user": {"type": ["object", "null"]},
            "id": {"type": ["string", "null"], "maxLength": 256, "pattern": PRINTABLE,
                   "description": "idempotency key: a repeated id starts no runs"},
            "ts": {"anyOf": [_INT64, _EXACT_FLOAT, {"type": "null"}],
                   "description": "epoch milliseconds; default (null or 0) the receive time"},
            "v": {"type": ["string", "null"], "maxLength": 256, "pattern": PRINTABLE},
        },
    },
    # What the store can hold: JSON Schema's "integer" is any integral number, and integers must
    # fit in 64 bits (``jsonvalues``); other numbers are free.
    "JsonValue": {"anyOf": [
        {"type": ["string", "boolean", "null"]},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1},
        {"type": "number", "not": {"type": "integer"}},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}},
    ]},
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "GraphQLErrors": {"type": "object", "required": ["errors"], "properties": {"errors": {
        "type": "array", "items": {"type": "object", "required": ["message"],
                                   "properties": {"message": {"type": "string"}}}}}},
    "EventReply": {
        "type": "object", "required": ["ids", "status"],
        "properties": {"ids": {"type": "array", "items": {"type": "string"}}, "status": {"type": "integer"},
                       "error": {"type": "string"}},
    },
}

_REASONS = {
    "400": "the request is invalid (the message says what)",
    "401": "no key, or not this server's key",
    "403": "a Host name other than loopback on a server without a key",
    "404": "no such run, event, function or wait (or no run waits for the signal)",
    "405": "method not allowed (see the Allow header)",
    "408": "the request body did not arrive in time",
    "409": "the run already finished",
    "422": "the GraphQL document does not parse or does not match the schema",
    "413": "the request body is over its limit",
    "415": "a /v1 write without 'Content-Type: application/json'",
}

_WRITES = {"post", "put", "patch"}

JSON_VALUE = {"$ref": "#/components/schemas/JsonValue"}
JSON_OBJECT = {"type": "object", "additionalProperties": JSON_VALUE}


def document(app: FastAPI, *, keyed: bool) -> None:
    """Replace ``app.openapi`` with one that documents the statuses this API answers."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            schemas.update(_SCHEMAS)
            # Pydantic cannot point a field at a schema it did not generate: the payloads the store
            # must hold (``api._check_payload``) are described here.
            schemas["SignalIn"]["properties"]["data"] = {**JSON_VALUE, "description": "any JSON value"}
            schemas["InvokeIn"]["properties"]["data"] = {"anyOf": [JSON_OBJECT, {"type": "null"}],
                                                         "description": "the event data the run sees"}
            if keyed:
                components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    _describe(path, method, operation, keyed)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe(path: str, method: str, operation: dict[str, Any], keyed: bool) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    events = path.startswith("/e/")
    # The bearer key guards /v1 (but not what Inngest SDKs call there) and /v0/gql; the rest is
    # answered as Inngest's dev server answers it.
    guarded = (path.startswith("/v1/") and not path.startswith(SDK_PATHS)) or path == "/v0/gql"
    codes = ["400", "405"]
    if keyed:
        if guarded or events:
            codes.append("401")
    else:
        codes.append("403")
    if method in _WRITES:
        codes += ["408", "413"]
        if not events:
            codes.append("415")
    if not events and ("{" in path or path == "/v1/signals"):
        codes.append("404")
    if method == "delete" or path.startswith("/v1/checkpoint/"):
        codes.append("409")
    if path == "/v0/gql":
        codes.append("422")
    shape = "EventReply" if events else "GraphQLErrors" if path == "/v0/gql" else "Error"
    for code in codes:
        responses[code] = {"description": _REASONS[code],
                           "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}}}
    if events:
        responses["200"] = {"description": "the events are stored; their ids, in order",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventReply"}}}}
    elif keyed and guarded:
        operation["security"] = [{"bearer": []}]
