"""Keep merged migrations frozen.

    python -m tessera_db.freeze                     record hashes of new frozen files
    python -m tessera_db.freeze --from-manifest R   write alembic/sql/R.sql from load.sql:
                                                    every manifest file not yet rendered
                                                    into an earlier frozen migration

Every file in ``alembic/sql/`` is pinned by its SHA-256 in ``alembic/sql/SHA256SUMS``
(tests/test_migrations.py checks it). Recording refuses to change the hash of a file
already recorded: a merged migration is never edited -- write a new revision instead.
``--from-manifest`` renders, in manifest order, the files that no earlier frozen
migration contains (each rendered file starts with a ``-- >>> <path>`` line): right for
files that are new. A change to an already-migrated file needs a hand-written delta
(ALTER, CREATE OR REPLACE) in the new revision; either way the drift test proves that
upgrading to head builds exactly the declared catalog.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tessera_db import manifest
from tessera_db.migrations import frozen_path

SUMS = "SHA256SUMS"
RENDERED_MARK = manifest.RENDERED_MARK


def recorded_hashes(folder: Path) -> dict[str, str]:
    sums = folder / SUMS
    if not sums.exists():
        return {}
    pairs = (line.split("  ", 1) for line in sums.read_text().splitlines() if line)
    return {name: digest for digest, name in pairs}


def already_rendered(folder: Path) -> set[str]:
    """Manifest paths already rendered into a frozen migration."""
    found: set[str] = set()
    for path in folder.glob("*.sql"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(RENDERED_MARK):
                found.add(line[len(RENDERED_MARK):].strip())
    return found


def record(folder: Path) -> list[str]:
    """Add new files' hashes; raise if a recorded file changed. Returns the new names."""
    known = recorded_hashes(folder)
    current = {p.name: manifest.sha256_of(p) for p in sorted(folder.glob("*.sql"))}
    edited = sorted(n for n, h in known.items() if n in current and current[n] != h)
    if edited:
        raise SystemExit(f"merged migrations were edited: {', '.join(edited)} (write a new revision instead)")
    added = sorted(set(current) - set(known))
    lines = [f"{digest}  {name}" for name, digest in sorted(current.items())]
    (folder / SUMS).write_text("\n".join(lines) + "\n")
    return added


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tessera_db.freeze")
    parser.add_argument("--from-manifest", metavar="REVISION", help="write REVISION.sql from load.sql")
    args = parser.parse_args(argv)
    folder = frozen_path(SUMS).parent
    if args.from_manifest:
        target = folder / f"{args.from_manifest}.sql"
        if target.exists():
            print(f"{target} exists; merged migrations are never edited", file=sys.stderr)
            return 1
        done = already_rendered(folder)
        fresh = [p for p in manifest.listed_files() if p not in done and not p.startswith("roles/")]
        if not fresh:
            print("every manifest file is already in a frozen migration", file=sys.stderr)
            return 1
        target.write_text(
            f"-- Frozen migration {args.from_manifest}: rendered from load.sql; never edit once merged.\n\n"
            + manifest.objects_sql(only=set(fresh))
        )
        print(f"wrote {target}")
    for name in record(folder):
        print(f"recorded {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
