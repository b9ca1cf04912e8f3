"""``tessera-db keys``: proxy API keys (tk_...).

    tessera-db keys create --client C --capability proxy [--capability cache ...]
                           [--name N] [--workload W] [--valid-days D]
                           --as-sponsor EMAIL | --as-operator EMAIL
    tessera-db keys list   --client C --as-sponsor EMAIL | --as-operator EMAIL
    tessera-db keys revoke --client C --key-id K [--reason TEXT] --as-...
    tessera-db keys rotate --client C --key-id K [--valid-days D] --as-...
    tessera-db keys verify [--source-ip IP] [--workload W] [--capability CAP]   (as the proxy)

``create`` and ``rotate`` generate the key here and print it, alone, on stdout: the only
time it is ever shown (the database is sent only its hashed form and display hint, and
keeps its SHA-256). Everything else goes to stderr. ``verify`` reads the key from stdin
(never from the command line, where ``ps`` would show it), hashes it before sending
(tessera_db.keys.verify_api_key), runs as the proxy login (``--dsn``:
$TESSERA_PROXY_DSN, else the dev cluster) and exits 0 for a valid key, 3 for an invalid
one. No command prints or logs more of a key than its display hint, except create and
rotate, once.
"""

from __future__ import annotations

import datetime as dt
import sys

import click
import psycopg

from tessera_db import keys as api_keys
from tessera_db.commands._options import (
    client_option,
    dsn_option,
    friendly_errors,
    identity_options,
    parse_uuid,
    resolve_app_dsn,
    resolve_dsn,
    session,
)
from tessera_db.db import Database
from tessera_db.errors import translate_errors

#: Exit status of ``verify`` for a key that does not verify.
EXIT_INVALID = 3


def _require_identity(as_sponsor: str | None, as_operator: str | None) -> None:
    if not (as_sponsor or as_operator):
        raise click.UsageError("API keys are managed by a sponsor of the client or an operator: "
                               "give --as-sponsor EMAIL or --as-operator EMAIL")


def _show_created(created: api_keys.CreatedKey, what: str) -> None:
    click.echo(created.api_key)
    expiry = f"until {created.expires_at:%Y-%m-%d %H:%M %Z}" if created.expires_at else "without expiry"
    scope = f"workload {created.workload_id}" if created.workload_id else "every workload"
    click.echo(f"{what} key {created.display_hint} (api_key_id {created.api_key_id}): "
               f"{', '.join(created.capabilities)} on {scope}, valid {expiry}.", err=True)
    click.echo("This is the only time the key is shown; store it now (Tessera keeps only its SHA-256).",
               err=True)


@click.group()
def keys() -> None:
    """Proxy API keys: create (shown once), list, revoke, rotate, verify."""


@keys.command("create")
@client_option
@click.option("--capability", "capabilities", multiple=True, required=True,
              type=click.Choice(api_keys.CAPABILITIES), help="What the key may do (repeat).")
@click.option("--name", default="default", show_default=True, help="Label for the key.")
@click.option("--workload", "workload_id", callback=lambda c, p, v: parse_uuid(c, p, v) if v else None,
              help="Limit the key to one workload (default: every workload of the client).")
@click.option("--valid-days", type=click.IntRange(1, 730), help="Expire after this many days (default: never).")
@identity_options
@dsn_option
@friendly_errors
def create(client_id: str, capabilities: tuple[str, ...], name: str, workload_id: str | None,
           valid_days: int | None, as_sponsor: str | None, as_operator: str | None, dsn: str | None) -> None:
    """Create a key; prints the raw key once on stdout."""
    _require_identity(as_sponsor, as_operator)
    valid_for = dt.timedelta(days=valid_days) if valid_days else None
    with Database(resolve_app_dsn(dsn), max_size=1) as db, session(db, as_sponsor, as_operator, "keys") as conn:
        created = api_keys.create_api_key(conn, client_id, list(capabilities), name,
                                          workload_id=workload_id, valid_for=valid_for)
    _show_created(created, "created")


@keys.command("list")
@client_option
@identity_options
@dsn_option
@friendly_errors
def list_keys(client_id: str, as_sponsor: str | None, as_operator: str | None, dsn: str | None) -> None:
    """List the client's keys (hints and metadata only; a raw key is never shown again)."""
    _require_identity(as_sponsor, as_operator)
    with Database(resolve_app_dsn(dsn), max_size=1) as db, session(db, as_sponsor, as_operator, "keys") as conn:
        rows = conn.execute(
            "SELECT api_key_id, display_hint, name, capabilities, workload_id, created_at, expires_at, revoked_at"
            "  FROM tessera.api_keys WHERE client_id = %s ORDER BY created_at", (client_id,)).fetchall()
    if not rows:
        click.echo(f"no API keys visible for client {client_id}")
        return
    for key_id, hint, name, caps, workload, created, expires, revoked in rows:
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else (
            f"expires {expires:%Y-%m-%d}" if expires else "active")
        click.echo(f"{key_id}  {hint}  {name:<16} {','.join(caps):<22} "
                   f"{workload or 'all workloads'}  created {created:%Y-%m-%d}  {state}")


@keys.command("revoke")
@client_option
@click.option("--key-id", "api_key_id", required=True, callback=parse_uuid, help="api_key_id to revoke.")
@click.option("--reason", help="Why (kept with the key and in the audit log).")
@identity_options
@dsn_option
@friendly_errors
def revoke(client_id: str, api_key_id: str, reason: str | None, as_sponsor: str | None,
           as_operator: str | None, dsn: str | None) -> None:
    """Revoke a key: its next verification fails."""
    _require_identity(as_sponsor, as_operator)
    with Database(resolve_app_dsn(dsn), max_size=1) as db, session(db, as_sponsor, as_operator, "keys") as conn:
        at = api_keys.revoke_api_key(conn, client_id, api_key_id, reason)
    click.echo(f"revoked key {api_key_id} at {at:%Y-%m-%d %H:%M:%S %Z}; the next verification fails")


@keys.command("rotate")
@client_option
@click.option("--key-id", "api_key_id", required=True, callback=parse_uuid, help="api_key_id to replace.")
@click.option("--valid-days", type=click.IntRange(1, 730), help="Expiry of the new key (default: never).")
@identity_options
@dsn_option
@friendly_errors
def rotate(client_id: str, api_key_id: str, valid_days: int | None, as_sponsor: str | None,
           as_operator: str | None, dsn: str | None) -> None:
    """Replace a key (same scope and capabilities) and revoke the old one; prints the new key once."""
    _require_identity(as_sponsor, as_operator)
    valid_for = dt.timedelta(days=valid_days) if valid_days else None
    with Database(resolve_app_dsn(dsn), max_size=1) as db, session(db, as_sponsor, as_operator, "keys") as conn:
        created = api_keys.rotate_api_key(conn, client_id, api_key_id, valid_for=valid_for)
    _show_created(created, f"rotated {api_key_id} -> new")


@keys.command("verify")
@click.option("--source-ip", help="Caller's IP, recorded with a failure and used by the throttle.")
@click.option("--workload", "workload_id", callback=lambda c, p, v: parse_uuid(c, p, v) if v else None,
              help="Check the key may address this workload.")
@click.option("--capability", type=click.Choice(api_keys.CAPABILITIES), help="Check the key has this capability.")
@click.option("--dsn", envvar="TESSERA_PROXY_DSN",
              help="Proxy login DSN (default: $TESSERA_PROXY_DSN, else the dev cluster's tessera_proxy).")
@friendly_errors
def verify(source_ip: str | None, workload_id: str | None, capability: str | None, dsn: str | None) -> None:
    """Verify a key read from stdin, as the proxy does (exit 3 when it does not verify)."""
    key = sys.stdin.readline().strip()
    if not key:
        raise click.UsageError("pipe the key on stdin (never put a key on the command line)")
    with translate_errors(), psycopg.connect(resolve_dsn(dsn, "tessera_proxy"), autocommit=True) as conn:
        result = api_keys.verify_api_key(conn, key, source_ip=source_ip, workload_id=workload_id,
                                         capability=capability)
    if result is None:
        click.echo("invalid: unknown, malformed, revoked, expired or out of scope (failure recorded)")
        sys.exit(EXIT_INVALID)
    click.echo(f"valid: client {result.client_id}, key {result.api_key_id}, "
               f"capabilities {', '.join(result.capabilities)}, "
               f"{'workload ' + str(result.workload_id) if result.workload_id else 'every workload'}")
