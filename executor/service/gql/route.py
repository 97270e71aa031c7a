"""``POST /v0/gql``: GraphQL over HTTP the way Inngest's dev server answers it.

Clients written against the dev server judge a reply by its keys, so the reply rules are exact:
a successful query returns ``{"data": …}`` with no ``errors`` key at all (some clients treat even
an empty list as a failure); a resolver that fails (an unknown run, say) adds ``errors`` and nulls
its field; a query that cannot run (bad JSON, a syntax error, an unknown field) gets only
``errors`` and a 4xx status, 422 for invalid GraphQL as gqlgen sends.
"""

from __future__ import annotations

import hmac
import inspect
import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from graphql import ExecutionResult, GraphQLError, execute

from executor.executor import Executor
from executor.records import MiB
from executor.service.gql.query import Query
from executor.service.gql.reads import Reads
from executor.service.gql.schema import SCHEMA, prepare
from executor.service.openapi import GRAPHQL_BODY

log = logging.getLogger("durable_tui.gql")

#: Queries are small; a body larger than this is refused unread.
MAX_QUERY_BYTES = 1 * MiB
_ROOT = Query()


def add_gql_routes(app: FastAPI, executor: Executor, *, key: str | None = None) -> None:
    """Mount ``POST /v0/gql``. With ``key`` it needs ``Authorization: Bearer <key>`` like ``/v1``
    (Inngest's dev server leaves it open; here it serves the same data ``/v1`` guards)."""

    async def graphql_endpoint(request: Request) -> Response:
        """Run one GraphQL operation: body ``{"query", "variables"?, "operationName"?}``."""
        refused = _check_key(request, key)
        if refused is not None:
            return _reply({"errors": [{"message": refused}]}, 401, {"WWW-Authenticate": "Bearer"})
        try:
            query, variables, operation = _parse_body(await request.body())
        except ValueError as exc:
            return _reply({"errors": [{"message": str(exc)}]}, 400)
        document, invalid = prepare(query)
        if document is None:
            return _reply({"errors": [e.formatted for e in invalid]}, 422)
        result = execute(SCHEMA, document, root_value=_ROOT, context_value=Reads(executor),
                         variable_values=variables, operation_name=operation)
        if inspect.isawaitable(result):
            result = await result
        return _reply(_body(result), 200)

    app.post("/v0/gql", tags=["graphql"], summary="GraphQL: runs, traces, step outputs, events, functions",
             response_model=None, openapi_extra=GRAPHQL_BODY)(graphql_endpoint)


def _check_key(request: Request, key: str | None) -> str | None:
    """Why the request is refused, or None when it may pass."""
    if key is None:
        return None
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return "this server needs a key: send the header 'Authorization: Bearer <key>'"
    if not hmac.compare_digest(credentials.strip().encode(), key.encode()):
        return "the key in the Authorization header is not this server's key"
    return None


def _parse_body(raw: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    if len(raw) > MAX_QUERY_BYTES:
        raise ValueError(f"the request body is over {MAX_QUERY_BYTES:,} bytes; a GraphQL query should be far smaller")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the request body is not valid JSON ({exc}); send "
                         '{"query": "...", "variables": {...}}') from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise ValueError('the request body needs "query", a GraphQL document as a string, e.g. '
                         '{"query": "{ functions { slug } }"}')
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ValueError(f'"variables" must be an object mapping names to values, not {type(variables).__name__}')
    operation = body.get("operationName")
    if operation is not None and not isinstance(operation, str):
        raise ValueError('"operationName" must be a string naming one operation of the query')
    return body["query"], variables, operation


def _body(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        for err in result.errors:
            _log_if_unexpected(err)
        body["errors"] = [err.formatted for err in result.errors]
    return body


def _log_if_unexpected(err: GraphQLError) -> None:
    """A resolver's own GraphQLError is an answer; anything else raised in one is a bug to see in the log."""
    original = err.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("GraphQL query failed at %s: %s", ".".join(map(str, err.path or [])), err.message,
                  exc_info=(type(original), original, original.__traceback__))


def _reply(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)
