"""``tessera-db secrets`` and ``tessera-db batches``: settlement secrets of async batches.

    tessera-db secrets keygen     [--keyring PATH] [--key-id ID]       new current key (settlement job)
    tessera-db secrets public-key [--keyring PATH] [--out PATH]        the proxy's copy (public only)
    tessera-db secrets store      --client C --batch B [--public-key PATH]   (as the proxy; header on stdin)
    tessera-db secrets check      --client C --batch B [--keyring PATH] [--print]   (as settlement)
    tessera-db secrets rotate     [--keyring PATH] [--key-id ID] [--retire]         (as settlement)

    tessera-db batches create     --client C --workload W --provider P   (as the proxy)
    tessera-db batches transition --client C --batch B --state S [--provider-batch-id ID]
                                  [--reason TEXT] [--as proxy|settlement]

The keyring path defaults to $TESSERA_SETTLEMENT_KEYRING, the public key file to
$TESSERA_SETTLEMENT_PUBLIC_KEY; on the dev cluster both default to .tessera/ (git-ignored).
A header is read from stdin, never from the command line. ``check`` opens the secret
(audited) and reports its size; only ``--print`` writes the plaintext, to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import psycopg

from tessera_db import batch_secrets as bs
from tessera_db.commands._options import friendly_errors, parse_uuid, resolve_dsn
from tessera_db.errors import translate_errors
from tessera_db.paths import state_root


def _default(env: str, name: str) -> Path:
    import os

    return Path(os.environ.get(env) or state_root() / name)


def _keyring_path(path: str | None) -> Path:
    return Path(path) if path else _default(bs.KEYRING_ENV, "settlement-keyring.json")


def _public_path(path: str | None) -> Path:
    return Path(path) if path else _default(bs.PUBLIC_KEY_ENV, "settlement-public-key.json")


def _connect(dsn: str | None, role: str) -> psycopg.Connection[Any]:
    with translate_errors():
        return psycopg.connect(resolve_dsn(dsn, role), autocommit=True)


keyring_option = click.option("--keyring", "keyring_path", help="Settlement keyring file (private keys).")
proxy_dsn = click.option("--dsn", envvar="TESSERA_PROXY_DSN",
                         help="Proxy login DSN (default: $TESSERA_PROXY_DSN, else the dev cluster).")
settlement_dsn = click.option("--dsn", envvar="TESSERA_SETTLEMENT_DSN",
                              help="Settlement login DSN (default: $TESSERA_SETTLEMENT_DSN, else the dev cluster).")
client_option = click.option("--client", "client_id", required=True, callback=parse_uuid, help="Client id.")
batch_option = click.option("--batch", "batch_id", required=True, callback=parse_uuid, help="Batch id.")


@click.group()
def secrets() -> None:
    """Settlement secrets: keys, store (proxy), check (settlement), rotate."""


@secrets.command("keygen")
@keyring_option
@click.option("--key-id", help="Id of the new key (default: k<UTC timestamp>).")
@click.option("--public-out", help="Also write the public key file here (default: the dev location).")
@friendly_errors
def keygen(keyring_path: str | None, key_id: str | None, public_out: str | None) -> None:
    """Add a new current key to the settlement keyring (created if missing, mode 0600)."""
    ring = bs.Keyring.load(_keyring_path(keyring_path), create=True)
    new_id = ring.generate(key_id)
    ring.save()
    out = _public_path(public_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ring.public_key().to_json(), encoding="utf-8")
    click.echo(f"settlement key {new_id} is current in {ring.path} ({len(ring.keys)} key(s)); "
               f"public key for the proxy written to {out}")
    if len(ring.keys) > 1:
        click.echo("existing secrets are still sealed to older keys: run `tessera-db secrets rotate --no-new-key`",
                   err=True)


@secrets.command("public-key")
@keyring_option
@click.option("--out", help="Write to this file instead of stdout.")
@friendly_errors
def public_key(keyring_path: str | None, out: str | None) -> None:
    """Print (or write) the current public key: all the proxy needs to seal."""
    text = bs.Keyring.load(_keyring_path(keyring_path)).public_key().to_json()
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"public key written to {out}")
    else:
        click.echo(text, nl=False)


@secrets.command("store")
@client_option
@batch_option
@click.option("--public-key", "public_key_path", help="Public key file of the settlement job.")
@proxy_dsn
@friendly_errors
def store(client_id: str, batch_id: str, public_key_path: str | None, dsn: str | None) -> None:
    """Seal the header read from stdin and store it for the batch (as the proxy)."""
    header = sys.stdin.buffer.read().rstrip(b"\r\n")
    if not header:
        raise click.UsageError("pipe the upstream Authorization header on stdin")
    public = bs.PublicKey.load(_public_path(public_key_path))
    with _connect(dsn, "tessera_proxy") as conn:
        secret_id = bs.store_secret(conn, public, client_id, batch_id, header)
    click.echo(f"stored sealed secret {secret_id} for batch {batch_id} (key {public.key_id}); "
               "the plaintext never left this process unsealed")


@secrets.command("check")
@client_option
@batch_option
@keyring_option
@click.option("--print", "show", is_flag=True, help="Write the plaintext to stdout (settlement use only).")
@settlement_dsn
@friendly_errors
def check(client_id: str, batch_id: str, keyring_path: str | None, show: bool, dsn: str | None) -> None:
    """Open the batch's secret as the settlement job (audited) and report it opens."""
    ring = bs.Keyring.load(_keyring_path(keyring_path))
    with _connect(dsn, "tessera_settlement") as conn:
        plaintext = bs.open_secret(conn, ring, client_id, batch_id)
    if show:
        sys.stdout.buffer.write(plaintext + b"\n")
        return
    click.echo(f"the secret of batch {batch_id} opens ({len(plaintext)} bytes); the release was audited")


@secrets.command("rotate")
@keyring_option
@click.option("--key-id", help="Id of the new key (default: k<UTC timestamp>).")
@click.option("--new-key/--no-new-key", default=True, show_default=True,
              help="Make a new current key first (--no-new-key: re-seal to the current key).")
@click.option("--retire", is_flag=True, help="Then delete older keys no secret uses any more (crypto-shred).")
@settlement_dsn
@friendly_errors
def rotate(keyring_path: str | None, key_id: str | None, new_key: bool, retire: bool, dsn: str | None) -> None:
    """Re-seal every stored secret under a new key id (one command)."""
    ring = bs.Keyring.load(_keyring_path(keyring_path))
    with _connect(dsn, "tessera_settlement") as conn:
        conn.autocommit = False
        result = bs.rotate(conn, ring, new_key_id=key_id, generate=new_key, retire=retire)
    _public_path(None).parent.mkdir(parents=True, exist_ok=True)
    click.echo(f"current settlement key {result.current}: re-sealed {result.resealed} secret(s), "
               f"skipped {result.skipped} (destroyed or settled meanwhile)"
               + (f"; retired {', '.join(result.retired)}" if result.retired else ""))
    click.echo("give the proxy the new public key: `tessera-db secrets public-key --out ...`", err=True)


@click.group()
def batches() -> None:
    """Async batches (M10): create (proxy) and move along their state machine."""


@batches.command("create")
@client_option
@click.option("--workload", "workload_id", required=True, callback=parse_uuid, help="Workload id.")
@click.option("--provider", required=True, help="Upstream provider, e.g. openai.")
@proxy_dsn
@friendly_errors
def batch_create(client_id: str, workload_id: str, provider: str, dsn: str | None) -> None:
    """Open a pending batch (as the proxy); prints its id."""
    with _connect(dsn, "tessera_proxy") as conn, translate_errors():
        row = conn.execute("SELECT tessera.create_batch(%s, %s, %s)", (client_id, workload_id, provider)).fetchone()
    assert row is not None
    click.echo(row[0])


@batches.command("transition")
@client_option
@batch_option
@click.option("--state", required=True, type=click.Choice(["dispatched", "completed", "failed", "expired"]))
@click.option("--provider-batch-id", help="The provider's batch id (required to dispatch).")
@click.option("--reason", help="Why (e.g. the provider's error).")
@click.option("--as", "as_role", type=click.Choice(["proxy", "settlement"]), default="settlement", show_default=True)
@click.option("--dsn", help="DSN of that login (default: the dev cluster).")
@friendly_errors
def batch_transition(client_id: str, batch_id: str, state: str, provider_batch_id: str | None,
                     reason: str | None, as_role: str, dsn: str | None) -> None:
    """Move a batch (terminal states destroy its secret)."""
    with _connect(dsn, f"tessera_{as_role}") as conn, translate_errors():
        conn.execute("SELECT tessera.transition_batch(%s, %s, %s, %s, %s)",
                     (client_id, batch_id, state, provider_batch_id, reason))
    terminal = state in ("completed", "failed", "expired")
    click.echo(f"batch {batch_id} is now {state}" + ("; its settlement secret is destroyed" if terminal else ""))
