"""The dev server's GraphQL API (``POST /v0/gql``), answered from the executor's read API."""

from executor.service.gql.route import add_gql_routes

__all__ = ["add_gql_routes"]
