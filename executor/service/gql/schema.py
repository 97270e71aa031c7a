"""The executable schema: the SDL in ``schema.graphql`` plus what SDL cannot say, how the custom
scalars cross the wire. Resolvers hold epoch milliseconds; ``Time`` turns them into RFC 3339 text
(what Inngest's dev server sends) and parses such text back for filters."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from importlib.resources import files
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    StringValueNode,
    ValueNode,
    build_schema,
    parse,
    validate,
    value_from_ast_untyped,
)

#: Parsed and validated documents kept per query text: a polling client sends the same few queries.
DOCUMENT_CACHE_SIZE = 256


def ms_to_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def time_to_ms(text: Any) -> int:
    if not isinstance(text, str):
        raise GraphQLError(f"a Time must be an RFC 3339 string such as '2026-01-02T03:04:05Z', not {text!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise GraphQLError(f"{text!r} is not an RFC 3339 time; write e.g. '2026-01-02T03:04:05Z'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def _time_literal(node: ValueNode, _variables: Any = None) -> int:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("a Time must be written as a string such as \"2026-01-02T03:04:05Z\"")
    return time_to_ms(node.value)


def _any_literal(node: ValueNode, variables: Any = None) -> Any:
    return value_from_ast_untyped(node, variables)


def _configure_scalars(schema: GraphQLSchema) -> None:
    time = schema.type_map["Time"]
    assert isinstance(time, GraphQLScalarType)
    time.serialize = ms_to_time  # type: ignore[method-assign]
    time.parse_value = time_to_ms  # type: ignore[method-assign]
    time.parse_literal = _time_literal  # type: ignore[method-assign]
    unknown = schema.type_map["Unknown"]
    assert isinstance(unknown, GraphQLScalarType)
    unknown.parse_literal = _any_literal  # type: ignore[method-assign]


def _load() -> GraphQLSchema:
    schema = build_schema(files(__package__).joinpath("schema.graphql").read_text(encoding="utf-8"))
    _configure_scalars(schema)
    return schema


SCHEMA = _load()


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def prepare(query: str) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    """The query parsed and checked against the schema, or why it cannot run."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc,)
    errors = validate(SCHEMA, document)
    return (None, tuple(errors)) if errors else (document, ())
