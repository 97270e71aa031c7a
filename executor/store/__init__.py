"""SQLite persistence: the schema and its migrations, and the ``Store`` with its typed ``Tx``."""

from .store import SCHEMA_VERSION, SchemaError, Store, Tx

__all__ = ["SCHEMA_VERSION", "SchemaError", "Store", "Tx"]
