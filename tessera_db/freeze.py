"""Write the frozen SQL of a new migration from the declared manifest.

    python -m tessera_db.freeze 0002_ledger

writes ``alembic/sql/0002_ledger.sql`` (every object in ``load.sql``, rendered) and
records its hash in ``alembic/sql/SHA256SUMS``. Use it only for a *new* revision: for
changes after 0001 write the frozen file as the delta (ALTER/CREATE) by hand, and let the
drift test prove that upgrading to head equals the declared SQL.
"""

from __future__ import annotations

import sys

from tessera_db import manifest
from tessera_db.migrations import frozen_path


def record_hashes() -> None:
    folder = frozen_path("x").parent
    lines = [f"{manifest.sha256_of(p)}  {p.name}" for p in sorted(folder.glob("*.sql"))]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tessera_db.freeze <revision>", file=sys.stderr)
        return 2
    target = frozen_path(f"{argv[0]}.sql")
    if target.exists():
        print(f"{target} exists; merged migrations are never edited", file=sys.stderr)
        return 1
    target.write_text(
        f"-- Frozen migration {argv[0]}: generated from load.sql; never edit once merged.\n\n"
        + manifest.objects_sql()
    )
    record_hashes()
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
