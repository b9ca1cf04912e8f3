"""tessera-db: the PostgreSQL schema, row-level security and Python client behind the
Tessera LLM-cost proxy.

Public entry points:

- :class:`tessera_db.db.Database` -- a pooled client with identity-scoped transactions
  (``as_sponsor``, ``as_operator``, ``as_anon``, ``as_service``);
- :mod:`tessera_db.errors` -- typed exceptions that keep SQLSTATE and constraint name;
- :mod:`tessera_db.migrations` -- upgrade / downgrade / offline SQL;
- :mod:`tessera_db.cluster` -- the embedded development cluster.
"""

from __future__ import annotations

from tessera_db.db import Database
from tessera_db.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TesseraError,
)

__all__ = [
    "Conflict",
    "Database",
    "DatabaseUnavailable",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "TesseraError",
]

__version__ = "0.1.0"
