"""Where the declared SQL lives.

In a checkout the SQL is at the repository's top level (``load.sql``, ``schema/``,
``policies/``, ``functions/``, ``roles/``, ``alembic/``). An installed wheel carries
the same tree as ``tessera_db/_sql`` (see ``pyproject.toml``), so a service that
pip-installs tessera-db can still migrate.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def sql_root() -> Path:
    """The directory holding ``load.sql`` and the SQL trees."""
    checkout = _PACKAGE_DIR.parent
    if (checkout / "load.sql").is_file() and (checkout / "schema").is_dir():
        return checkout
    packaged = _PACKAGE_DIR / "_sql"
    if (packaged / "load.sql").is_file():
        return packaged
    raise FileNotFoundError("tessera-db SQL files not found next to the package or inside it")


def state_root() -> Path:
    """Where the embedded dev cluster keeps its state (git-ignored ``.tessera/``).

    ``TESSERA_HOME`` overrides it; otherwise the checkout's ``.tessera`` when running
    from a checkout, else ``./.tessera``.
    """
    override = os.environ.get("TESSERA_HOME")
    if override:
        return Path(override).resolve()
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "load.sql").is_file():
        return checkout / ".tessera"
    return Path.cwd() / ".tessera"
