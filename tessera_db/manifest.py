"""The declared-SQL manifest (``load.sql``).

``load.sql`` is a psql script of ``\\ir`` lines plus a few plain statements
(``SET ROLE tessera_owner;``). This module reads the same list so Python can build a
database without psql, render the objects part into a frozen migration, and check that
every SQL file is listed exactly once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tessera_db.paths import sql_root

#: Folders whose files must all appear in the manifest.
DECLARED_DIRS = ("roles", "schema", "functions", "policies")
#: Files under this folder are the cluster/database bootstrap, not migrated objects.
BOOTSTRAP_DIR = "roles"
#: Each rendered file starts with this line plus its path (see tessera_db/freeze.py).
RENDERED_MARK = "-- >>> "


@dataclass(frozen=True)
class Entry:
    """One step of the manifest: an included file or a literal statement."""

    path: str | None = None  # relative to sql_root(), for \ir lines
    statement: str | None = None  # literal SQL line, e.g. SET ROLE tessera_owner;

    @property
    def is_bootstrap(self) -> bool:
        return self.path is not None and self.path.startswith(BOOTSTRAP_DIR + "/")

    def sql(self, root: Path | None = None) -> str:
        if self.path is None:
            assert self.statement is not None
            return self.statement
        return ((root or sql_root()) / self.path).read_text(encoding="utf-8")


def entries(root: Path | None = None) -> list[Entry]:
    """Parse ``load.sql`` into its steps, in order."""
    root = root or sql_root()
    result: list[Entry] = []
    for raw in (root / "load.sql").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("--"):
            continue
        if line.startswith("\\ir "):
            result.append(Entry(path=line[4:].strip()))
        elif line.startswith("\\"):
            continue  # psql settings such as \set ON_ERROR_STOP
        else:
            result.append(Entry(statement=line))
    return result


def listed_files(root: Path | None = None) -> list[str]:
    return [e.path for e in entries(root) if e.path is not None]


def declared_files(root: Path | None = None) -> list[str]:
    """Every SQL file under the declared folders, relative to the root."""
    root = root or sql_root()
    return sorted(
        str(p.relative_to(root)) for d in DECLARED_DIRS for p in (root / d).rglob("*.sql")
    )


def bootstrap_sql(root: Path | None = None) -> str:
    """Roles and database grants: run by a superuser or deploy login before migrating."""
    return _render([e for e in entries(root) if e.is_bootstrap], root)


def objects_sql(root: Path | None = None, only: set[str] | None = None) -> str:
    """Every schema object, as created by tessera_owner. This is what a frozen
    migration under ``alembic/sql/`` is generated from; the role switch is left to the
    migration environment."""
    picked = [e for e in entries(root) if e.path is not None and not e.is_bootstrap
              and (only is None or e.path in only)]
    return _render(picked, root)


def full_sql(root: Path | None = None) -> str:
    """The whole manifest as one script (bootstrap, SET ROLE, objects, RESET ROLE)."""
    return _render(entries(root), root)


def _render(picked: list[Entry], root: Path | None) -> str:
    parts = []
    for entry in picked:
        if entry.path is not None:
            parts.append(f"{RENDERED_MARK}{entry.path}\n{entry.sql(root).rstrip()}\n")
        else:
            parts.append(f"{entry.statement}\n")
    return "\n".join(parts)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
