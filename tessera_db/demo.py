"""Demo data for the dev cluster and the "what each identity sees" summary.

The summary is computed live, through row-level security, by asking each demo identity
to count every table in the tessera schema -- so it doubles as a smoke test that the
policies behave, and a new table shows up without touching this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


#: The demo's closed free account, erased by the demo operator (issue 14).
ERASED_CLIENT = "d0000000-0000-4000-8000-000000000004"
DEMO_OPERATOR = "ops@tessera.example"


def load(db: Database) -> None:
    """Insert the demo rows (idempotent) as service_role; then, as the demo operator,
    erase the closed account (an erasure is an operator's act; erasing again returns
    the first erasure)."""
    script = (sql_root() / DEMO_FILE).read_text(encoding="utf-8")
    with db.as_service("demo-loader") as conn:
        conn.execute(script)
    with db.as_operator(DEMO_OPERATOR, job="demo-loader") as conn:
        conn.execute("SELECT tessera.erase_client(%s, 'demo: account closed on request')", (ERASED_CLIENT,))


def load_proxy_side(proxy_dsn: str, settlement_dsn: str, state_dir: Path) -> None:
    """Issue 6 demo rows that only the proxy and settlement logins can write: two Globex
    batches (one dispatched, holding a sealed demo header; one completed, whose secret
    was destroyed), cached responses for Acme's support-bot, and two failed key
    verifications. The header is sealed to a demo settlement key kept in ``state_dir``
    (created on first use, git-ignored); nothing secret is committed. Idempotent: a
    marker file in ``state_dir`` records that the rows were loaded."""
    import psycopg

    from tessera_db import batch_secrets, cache, keys

    acme, support_bot = "a0000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000001"
    globex, code_review = "b0000000-0000-4000-8000-000000000002", "b1000000-0000-4000-8000-000000000001"
    marker = state_dir / "demo-proxy-side.loaded"
    if marker.exists():
        return
    ring = batch_secrets.Keyring.load(state_dir / "settlement-keyring.json", create=True)
    if ring.current is None:
        ring.generate("demo1")
        ring.save()
        (state_dir / "settlement-public-key.json").write_text(ring.public_key().to_json(), encoding="utf-8")
    with translate_errors(), psycopg.connect(proxy_dsn, autocommit=True) as proxy, \
            psycopg.connect(settlement_dsn, autocommit=True) as settlement:
        running = proxy.execute("SELECT tessera.create_batch(%s, %s, 'openai')", (globex, code_review)).fetchone()[0]  # type: ignore[index]
        batch_secrets.store_secret(proxy, ring.public_key(), globex, running,
                                   b"Bearer sk-demo-NOT-A-REAL-KEY-sealed-for-the-dev-cluster")
        proxy.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched', 'batch_demo_running')", (globex, running))
        done = proxy.execute("SELECT tessera.create_batch(%s, %s, 'openai')", (globex, code_review)).fetchone()[0]  # type: ignore[index]
        batch_secrets.store_secret(proxy, ring.public_key(), globex, done, b"Bearer sk-demo-NOT-A-REAL-KEY-2")
        proxy.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched', 'batch_demo_done')", (globex, done))
        settlement.execute("SELECT tessera.transition_batch(%s, %s, 'completed')", (globex, done))
        for question, answer in (("What is our refund policy?", "Refunds within 30 days."),
                                 ("Reset my password", "Use the 'Forgot password' link.")):
            body = '{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "%s"}]}' % question
            cache.put(proxy, acme, support_bot, body, ('{"content": "%s"}' % answer).encode())
        for bad in ("tk_not-a-key", f"tk_{acme.replace('-', '')}_{'0' * 43}"):
            keys.verify_api_key(proxy, bad, source_ip="203.0.113.42")
    marker.write_text("issue 6 demo rows loaded\n", encoding="utf-8")


#: The dev cluster's demo signing key for audit checkpoints (issue 5), kept in the
#: git-ignored state dir; FILE.pub is its public key.
DEMO_AUDIT_KEY = "audit-demo.key"


def seal_audit_log(sealer_dsn: str, home: Path) -> str:
    """Seal the audit events written so far into a signed checkpoint, as the
    tessera_sealer login, with the demo key (created on first use, mode 0600; the
    private key is never printed). Returns one line for the `dev up` output."""
    from tessera_db.audit import seal, signing

    key_path = Path(home) / DEMO_AUDIT_KEY
    if not key_path.exists():
        signing.generate(key_path)
    key = signing.load_private_key(key_path)
    result = seal.seal_once(sealer_dsn, key)
    return (f"Audit log: {result.describe()}.\n"
            f"  demo signing key {key_path} (key_id {signing.key_id(key.public_key())}); check it with\n"
            f"  tessera-db audit verify --public-key {key_path}.pub --state {Path(home) / 'audit-verifier-state.json'}")


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


__all__ = ["IDENTITIES", "load", "load_proxy_side", "seal_audit_log", "summary_lines", "visible_counts"]
