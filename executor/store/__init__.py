"""SQLite persistence: the schema and its migrations, and the ``Store`` with its typed ``Tx``."""

from .store import DURABILITIES, SCHEMA_VERSION, Durability, SchemaError, Store, Tx

__all__ = ["DURABILITIES", "SCHEMA_VERSION", "Durability", "SchemaError", "Store", "Tx"]
