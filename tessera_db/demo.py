"""Demo data for the dev cluster and the "what each identity sees" summary.

The summary is computed live, through row-level security, by asking each demo identity
to count every table in the tessera schema -- so it doubles as a smoke test that the
policies behave, and a new table shows up without touching this file.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from tessera_db.db import Database
from tessera_db.errors import PermissionDenied, translate_errors
from tessera_db.paths import sql_root

DEMO_FILE = "demo/demo_data.sql"


@dataclass(frozen=True)
class DemoIdentity:
    short: str  # column heading in the summary
    label: str
    kind: str  # anon | sponsor | operator | service
    email: str | None = None


IDENTITIES = (
    DemoIdentity("anon", "anon (no JWT)", "anon"),
    DemoIdentity("alice", "sponsor alice@acme.example (Acme)", "sponsor", "alice@acme.example"),
    DemoIdentity("bob", "sponsor bob@globex.example (Globex)", "sponsor", "bob@globex.example"),
    DemoIdentity("carol", "sponsor carol@acme.example (Acme and Globex)", "sponsor", "carol@acme.example"),
    DemoIdentity("ops", "operator ops@tessera.example", "operator", "ops@tessera.example"),
    DemoIdentity("service", "service_role (server-side jobs, bypasses RLS)", "service"),
)


def load(db: Database) -> None:
    """Insert the demo rows (idempotent) as service_role."""
    script = (sql_root() / DEMO_FILE).read_text(encoding="utf-8")
    with db.as_service("demo-loader") as conn:
        conn.execute(script)


def _session(db: Database, who: DemoIdentity):  # type: ignore[no-untyped-def]
    if who.kind == "anon":
        return db.as_anon()
    if who.kind == "service":
        return db.as_service("demo-summary")
    assert who.email is not None
    return db.as_sponsor(who.email) if who.kind == "sponsor" else db.as_operator(who.email)


def visible_counts(db: Database, who: DemoIdentity) -> dict[str, int | None]:
    """Rows of each tessera table this identity can SELECT (None = permission denied)."""
    counts: dict[str, int | None] = {}
    with _session(db, who) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'tessera' AND c.relkind IN ('r','p') AND NOT c.relispartition "
                "ORDER BY c.relname"
            ).fetchall()
        ]
        for table in tables:
            try:
                with translate_errors(), conn.transaction():
                    row = conn.execute(
                        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("tessera", table))
                    ).fetchone()
                    counts[table] = int(row[0]) if row else 0
            except PermissionDenied:
                counts[table] = None
    return counts


def summary_lines(db: Database) -> list[str]:
    """Rows visible per table (rows) and identity (columns); '-' = permission denied."""
    seen = {who.short: visible_counts(db, who) for who in IDENTITIES}
    tables = sorted({t for counts in seen.values() for t in counts})
    width = max(len(t) for t in tables)
    lines = [f"{'table':<{width}}  " + "  ".join(f"{w.short:>7}" for w in IDENTITIES)]
    for table in tables:
        cells = []
        for who in IDENTITIES:
            value = seen[who.short].get(table)
            cells.append(f"{'-' if value is None else value:>7}")
        lines.append(f"{table:<{width}}  " + "  ".join(cells))
    lines.append("")
    lines += [f"{who.short:>7} = {who.label}" for who in IDENTITIES]
    lines.append("(rows visible through row-level security; '-' = permission denied)")
    return lines


__all__ = ["IDENTITIES", "load", "summary_lines", "visible_counts"]
