"""``tessera-db audit``: seal the audit log, verify it, prove an event's inclusion.

    tessera-db audit keygen --out FILE                      new Ed25519 signing key (0600) + FILE.pub
    tessera-db audit seal --key FILE [--once | --interval N] [--dsn DSN]
    tessera-db audit verify --public-key FILE --state FILE [--dsn DSN]
    tessera-db audit proof --event ID [--dsn DSN] [--out FILE]
    tessera-db audit check-proof --public-key FILE [PROOF_FILE]      (no database)
    tessera-db audit export --client C [--from DAY] [--to DAY] [--as EMAIL] [--output FILE] [--dsn DSN]

Databases: ``seal`` logs in as ``tessera_sealer`` ($TESSERA_SEALER_DSN, else the dev
cluster's sealer login); ``verify`` and ``proof`` read as ``service_role`` through the
authenticator ($TESSERA_APP_DSN, else the dev cluster), or as whatever login --dsn names.
``export`` runs through the authenticator as the caller's identity (``--as EMAIL``; a
server-side job as ``service_role`` without it), so row-level security decides the rows.

Exit status: 0 fine; 1 an error (no database, bad key file, a lost race with another
sealer); 3 verification FAILED: tampering detected (the first bad row, checkpoint or the
state file is named) or a proof that does not check out.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click
import psycopg
from psycopg import sql

from tessera_db.commands._options import client_option, dsn_option, friendly_errors, resolve_app_dsn, resolve_dsn
from tessera_db.db import Database
from tessera_db.errors import PermissionDenied, translate_errors

#: Exit status when verification finds tampering or a proof fails.
EXIT_FAILED = 3


def _resolve_sealer_dsn(dsn: str | None) -> str:
    return resolve_dsn(dsn, "tessera_sealer")


def _connect(dsn: str) -> psycopg.Connection[Any]:
    with translate_errors():
        return psycopg.connect(dsn, autocommit=True)


@click.group()
def audit() -> None:
    """Tamper evidence: sign checkpoints over the audit log, verify it, prove events."""


@audit.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Private key file to create (mode 0600); the public key goes to FILE.pub.")
@friendly_errors
def keygen(out: Path) -> None:
    """Create a new Ed25519 signing key for the sealer (never printed)."""
    from tessera_db.audit.signing import generate, key_id

    key, pub_path = generate(out)
    click.echo(f"signing key written to {out} (mode 0600; keep it with the sealer, outside the database)")
    click.echo(f"public key written to {pub_path} (give it to verifiers and third parties)")
    click.echo(f"key_id {key_id(key.public_key())}")


@audit.command("seal")
@click.option("--key", "key_file", required=True, envvar="TESSERA_AUDIT_KEY",
              type=click.Path(dir_okay=False, path_type=Path), help="Signing key file ($TESSERA_AUDIT_KEY).")
@click.option("--once", "once", is_flag=True, help="One sealing step, then exit (the default).")
@click.option("--interval", type=click.FloatRange(min=0.05), help="Seal every N seconds until interrupted.")
@click.option("--dsn", envvar="TESSERA_SEALER_DSN",
              help="The tessera_sealer login's DSN (default: $TESSERA_SEALER_DSN, else the dev cluster).")
@friendly_errors
def seal(key_file: Path, once: bool, interval: float | None, dsn: str | None) -> None:
    """Seal the audit rows below the horizon into a signed checkpoint."""
    from tessera_db.audit import seal as sealer
    from tessera_db.audit.signing import load_private_key

    if once and interval is not None:
        raise click.UsageError("give --once or --interval, not both")
    key = load_private_key(key_file)
    url = _resolve_sealer_dsn(dsn)
    if interval is None:
        click.echo(sealer.seal_once(url, key).describe())
        return

    stopping = {"now": False}

    def _stop(*_: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"sealing every {interval:g}s; Ctrl-C to stop", err=True)

    def report(result: sealer.SealResult) -> None:
        if result.checkpoint is not None:
            click.echo(result.describe())

    sealer.seal_loop(url, key, interval, report=report, stop=lambda: stopping["now"])


@audit.command("verify")
@click.option("--public-key", "public_keys", required=True, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Trusted public key file (repeat for rotated keys).")
@click.option("--state", "state_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The verifier's own state file, outside the database (created on the first run).")
@click.option("--dsn", envvar="TESSERA_APP_DSN",
              help="Database to verify (default: $TESSERA_APP_DSN, else the dev cluster's authenticator).")
@friendly_errors
def verify(public_keys: tuple[Path, ...], state_file: Path, dsn: str | None) -> None:
    """Recompute every row hash, the tree, every signature; compare with the state file."""
    from tessera_db.audit.signing import load_public_key
    from tessera_db.audit.verify import verify as run_verify

    keys = [load_public_key(p) for p in public_keys]
    with _connect(resolve_app_dsn(dsn)) as conn:
        result = run_verify(conn, keys, state_file)
    if not result.ok:
        click.echo(f"audit log verification FAILED: {result.problem}", err=True)
        click.echo(f"(checked {result.rows} row(s) and {result.checkpoints} checkpoint(s); the state file "
                   "was left unchanged)", err=True)
        sys.exit(EXIT_FAILED)
    if result.latest is None:
        click.echo(f"OK: no checkpoint yet; {result.rows} row(s) hashed correctly, none sealed")
        return
    c = result.latest
    start = result.verified_from
    origin = ("from the first event" if start is None else
              f"from checkpoint {start.checkpoint_id} (tree_size {start.tree_size}: the months sealed up to it "
              "were dropped by retention; its signed frontier stands for them)")
    click.echo(f"OK: {result.checkpoints} checkpoint(s), tree_size {c.tree_size}, root {c.root_hash.hex()} "
               f"(checkpoint {c.checkpoint_id}, sealed {c.sealed_at:%Y-%m-%d %H:%M:%S %Z}); verified {origin}; "
               f"{result.rows} row(s) verified, {result.erased_rows} erased row(s) (tombstones or stripped) "
               f"accepted on sealed erasure events, {result.unsealed_rows} not sealed yet; "
               f"state saved to {state_file}")


@audit.command("proof")
@click.option("--event", "event_id", required=True, type=int, help="The audit event_id to prove.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the proof here instead of standard output.")
@click.option("--dsn", envvar="TESSERA_APP_DSN",
              help="Database (default: $TESSERA_APP_DSN, else the dev cluster's authenticator).")
@friendly_errors
def proof(event_id: int, out: Path | None, dsn: str | None) -> None:
    """Print the inclusion proof of one event against the latest checkpoint (JSON)."""
    from tessera_db.audit.proof import build_proof

    with _connect(resolve_app_dsn(dsn)) as conn:
        document = build_proof(conn, event_id)
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"proof of event {event_id} written to {out}", err=True)


@audit.command("check-proof")
@click.option("--public-key", "public_key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The sealer's public key.")
@click.argument("proof_file", type=click.File("r", encoding="utf-8"), default="-")
@friendly_errors
def check_proof(public_key: Path, proof_file: Any) -> None:
    """Check an inclusion proof with only the public key (no database)."""
    from tessera_db.audit.proof import ProofError
    from tessera_db.audit.proof import check_proof as run_check
    from tessera_db.audit.signing import load_public_key

    key = load_public_key(public_key)
    try:
        document = json.load(proof_file)
    except json.JSONDecodeError as exc:
        click.echo(f"proof check FAILED: not JSON ({exc.msg} at line {exc.lineno})", err=True)
        sys.exit(EXIT_FAILED)
    try:
        click.echo(run_check(document, key))
    except ProofError as exc:
        click.echo(f"proof check FAILED: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)


# --------------------------------------------------------------------------- export

#: CSV columns: every column of tessera.audit_events, in table order (none is secret).
#: Values are encoding v1's canonical texts (docs/audit.md), so a row's content_hash can
#: be recomputed from it: occurred_at as UTC ISO-8601 with microseconds and Z, source_ip
#: as host/masklen, jsonb as PostgreSQL renders it, content_hash as lower-case hex.
#: NULL is an empty unquoted field, an empty string a quoted "" (COPY's CSV rules).
EXPORT_COLUMNS = (
    "event_id", "occurred_at", "txid", "client_id", "entity", "entity_id", "action", "before", "after",
    "actor_role", "actor_session_role", "actor_email", "actor_sub", "actor_job", "request_id", "reason",
    "source_ip", "prompt_fingerprint_v1", "content_hash",
)
_CANONICAL = {
    "occurred_at": "pg_catalog.to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    "source_ip": "pg_catalog.host(e.source_ip) || '/' || pg_catalog.masklen(e.source_ip)",
    "content_hash": "pg_catalog.encode(e.content_hash, 'hex')",
}


def export_query(client_id: str, day_from: dt.date | None, day_to: dt.date | None) -> sql.Composed:
    """COPY of one client's events, days in UTC and inclusive, oldest first."""
    cols = [sql.SQL("{} AS {}").format(sql.SQL(_CANONICAL[c]), sql.Identifier(c)) if c in _CANONICAL
            else sql.SQL("e.{}").format(sql.Identifier(c)) for c in EXPORT_COLUMNS]
    where = [sql.SQL("e.client_id = {}").format(sql.Literal(client_id))]
    if day_from is not None:
        where.append(sql.SQL("e.occurred_at >= ({}::timestamp AT TIME ZONE 'UTC')").format(
            sql.Literal(day_from.isoformat())))
    if day_to is not None:
        where.append(sql.SQL("e.occurred_at < ({}::timestamp AT TIME ZONE 'UTC')").format(
            sql.Literal((day_to + dt.timedelta(days=1)).isoformat())))
    return sql.SQL(
        "COPY (SELECT {cols} FROM tessera.audit_events AS e WHERE {where} ORDER BY e.occurred_at, e.event_id)"
        " TO STDOUT WITH (FORMAT csv, HEADER true)"
    ).format(cols=sql.SQL(", ").join(cols), where=sql.SQL(" AND ").join(where))


def export_csv(conn: psycopg.Connection[Any], client_id: str, day_from: dt.date | None,
               day_to: dt.date | None, out: Any) -> int:
    """Stream the CSV into ``out`` (binary) block by block; returns the bytes written.

    Raises PermissionDenied, before writing anything, when the caller can see neither the
    client nor any of its events (a sponsor of another client, a stranger, a client that
    never existed) -- the same rule as ``savings export``. Operators and service_role see
    every client, including one deleted since (its events outlive it)."""
    visible = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM tessera.clients WHERE client_id = %(c)s)"
        "    OR EXISTS (SELECT 1 FROM tessera.audit_events WHERE client_id = %(c)s)", {"c": client_id}).fetchone()
    if not visible or not visible[0]:
        raise PermissionDenied(f"not permitted to export client {client_id} (or no such client)",
                               sqlstate="42501")
    written = 0
    with conn.cursor() as cur, cur.copy(export_query(client_id, day_from, day_to)) as copy:
        for block in copy:
            out.write(block)
            written += len(block)
    return written


def _day(_ctx: Any, param: Any, value: str | None) -> dt.date | None:
    """click callback: ``YYYY-MM-DD`` -> a date (exactly that form)."""
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param=param) from None


@audit.command("export")
@client_option
@click.option("--from", "day_from", callback=_day, metavar="YYYY-MM-DD",
              help="First day to include (UTC, inclusive; default: the beginning).")
@click.option("--to", "day_to", callback=_day, metavar="YYYY-MM-DD",
              help="Last day to include (UTC, inclusive; default: now).")
@click.option("--as", "as_email", metavar="EMAIL",
              help="Run as this identity (JWT email): a sponsor gets only their clients, an operator any. "
                   "Without it: a server-side job (service_role).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="CSV file to write (default: standard output).")
@dsn_option
@friendly_errors
def export(client_id: str, day_from: dt.date | None, day_to: dt.date | None, as_email: str | None,
           output: str | None, dsn: str | None) -> None:
    """Export one client's audit events as CSV with a header, streamed, as the caller."""
    if day_from is not None and day_to is not None and day_from > day_to:
        raise click.UsageError(f"--from {day_from} is after --to {day_to}")
    with Database(resolve_app_dsn(dsn), max_size=1) as db, \
            (db.as_sponsor(as_email) if as_email else db.as_service("audit-export")) as conn:
        if output is None:
            export_csv(conn, client_id, day_from, day_to, sys.stdout.buffer)
            return
        # The file appears only once access is established and the copy finished.
        partial = output + ".partial"
        try:
            with open(partial, "wb") as fh:
                size = export_csv(conn, client_id, day_from, day_to, fh)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        os.replace(partial, output)
    click.echo(f"wrote {output} ({size} bytes)", err=True)
