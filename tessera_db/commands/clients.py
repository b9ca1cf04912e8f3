"""``tessera-db clients``: a client's erasure and its signed deletion certificate.

    tessera-db clients erase --client C --reason TEXT --as-operator EMAIL [--out CERT.json]
        [--signing-key FILE] [--sealer-key FILE] [--wait SECONDS] [--dsn DSN] [--sealer-dsn DSN]
    tessera-db clients verify-certificate CERT.json --public-key FILE [--audit-public-key FILE]

``erase`` runs ``tessera.erase_client`` as the operator (one transaction: everything or
nothing), then gets the erasure's audit event sealed -- one sealing step with
``--sealer-key`` (the dev cluster's demo key by default), or waiting up to ``--wait``
seconds for the sealer that runs in production -- and writes the certificate signed
with ``--signing-key`` (Ed25519, outside the database; $TESSERA_CERTIFICATE_KEY; the
dev demo key by default). Erasing an erased client prints the first erasure and its
stored certificate. ``verify-certificate`` needs no database. docs/erasure.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tessera_db.commands._options import (
    client_option,
    dev_key,
    dsn_option,
    friendly_errors,
    resolve_app_dsn,
    resolve_dsn,
)
from tessera_db.errors import TesseraError

EXIT_FAILED = 3


@click.group()
def clients() -> None:
    """Client lifecycle: erasure (GDPR) and deletion certificates."""


@clients.command("erase")
@client_option
@click.option("--reason", required=True, help="Why (recorded in the delete log and the certificate).")
@click.option("--as-operator", "as_operator", required=True, metavar="EMAIL",
              help="The operator deciding the erasure (JWT email); nobody else may.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the signed certificate here (default: print it).")
@click.option("--signing-key", envvar="TESSERA_CERTIFICATE_KEY", type=click.Path(dir_okay=False, path_type=Path),
              help="Ed25519 key that signs the certificate ($TESSERA_CERTIFICATE_KEY; default: the dev demo key).")
@click.option("--sealer-key", envvar="TESSERA_AUDIT_KEY", type=click.Path(dir_okay=False, path_type=Path),
              help="Seal the erasure event now with this key (default: the dev demo key; else wait for the sealer).")
@click.option("--wait", "wait", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds to wait for the erasure event to be sealed.")
@click.option("--sealer-dsn", envvar="TESSERA_SEALER_DSN", help="The tessera_sealer login's DSN (with --sealer-key).")
@dsn_option
@friendly_errors
def erase(client_id: str, reason: str, as_operator: str, out: Path | None, signing_key: Path | None,
          sealer_key: Path | None, wait: float, sealer_dsn: str | None, dsn: str | None) -> None:
    """Erase a client (hobby/free: every row; invoiced: accounting rows kept, stripped)."""
    import psycopg

    from tessera_db import lifecycle
    from tessera_db.audit import seal as sealer
    from tessera_db.audit.signing import load_private_key
    from tessera_db.db import Database

    signing_key = signing_key or dev_key("audit-demo.key")
    if signing_key is None:
        raise click.UsageError("give --signing-key (or $TESSERA_CERTIFICATE_KEY): the certificate must be signed")
    key = load_private_key(signing_key)
    url = resolve_app_dsn(dsn)
    with Database(url, max_size=1) as db:
        with db.as_operator(as_operator) as conn:
            erasure = lifecycle.erase_client(conn, client_id, reason)
        tables = ", ".join(f"{t} {', '.join(f'{k} {v}' for k, v in c.items())}"
                           for t, c in sorted(erasure.counts.items()))
        click.echo(f"erased client {erasure.client_id} ({erasure.plan_tier})"
                   f" at {erasure.finished_at:%Y-%m-%d %H:%M:%S %Z}"
                   f" by {erasure.initiated_by}; audit event {erasure.erasure_event_id}", err=True)
        click.echo(f"  {tables}", err=True)
        certificate = erasure.certificate
        if certificate is None:
            seal_key = sealer_key or dev_key("audit-demo.key")
            seal_step = None
            if seal_key is not None:
                seal_url = resolve_dsn(sealer_dsn, "tessera_sealer")
                seal_private = load_private_key(seal_key)

                def seal_step() -> object:
                    return sealer.seal_once(seal_url, seal_private)
            from tessera_db.errors import translate_errors

            with translate_errors(), psycopg.connect(url, autocommit=True) as verifier:
                proof = lifecycle.wait_for_proof(verifier, erasure.erasure_event_id, timeout=wait, seal=seal_step)
            certificate = lifecycle.build_certificate(erasure, proof, key)
            with db.as_operator(as_operator) as conn:
                lifecycle.attach_certificate(conn, erasure, certificate)
        else:
            click.echo("  (erased before: this is the original certificate)", err=True)
    text = json.dumps(certificate, indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"certificate written to {out} (check it with: tessera-db clients verify-certificate {out} "
                   f"--public-key {signing_key}.pub)", err=True)


@clients.command("verify-certificate")
@click.argument("certificate_file", type=click.File("r", encoding="utf-8"))
@click.option("--public-key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The certificate signer's public key (PEM).")
@click.option("--audit-public-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The audit sealer's public key, for the erasure event's proof (default: --public-key).")
@friendly_errors
def verify_certificate(certificate_file: Any, public_key: Path, audit_public_key: Path | None) -> None:
    """Check a deletion certificate offline (no database): signature, proof, counts."""
    from tessera_db import lifecycle
    from tessera_db.audit.signing import load_public_key

    try:
        document = json.load(certificate_file)
    except ValueError as exc:
        raise TesseraError(f"the certificate is not JSON ({exc})") from None
    try:
        summary = lifecycle.verify_certificate(
            document, load_public_key(public_key),
            load_public_key(audit_public_key) if audit_public_key is not None else None)
    except lifecycle.CertificateError as exc:
        click.echo(f"certificate verification FAILED: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(summary)
