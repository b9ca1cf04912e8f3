"""``tessera-db evidence``: signed evidence packs for reviewers and auditors.

    tessera-db evidence pack --client C --month YYYY-MM -o DIR_OR_ZIP
                             --as-operator EMAIL | --as-sponsor EMAIL [--signing-key FILE] [--dsn DSN]
    tessera-db evidence verify PACK --public-key FILE [--audit-public-key FILE]

``pack`` reads as the given operator or sponsor (row-level security applies: a sponsor
packs only their own clients) and as the audit verifier (service_role) for the
inclusion proofs; the manifest is signed with an Ed25519 key held outside the database
(``--signing-key``, $TESSERA_EVIDENCE_KEY; the dev demo key by default). ``verify``
needs no database: exit 0 when every check passes, 3 naming the first that fails, 1 on
an error (unreadable pack or key). docs/evidence.md describes the format.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from tessera_db.commands._options import (
    client_option,
    dev_key,
    dsn_option,
    friendly_errors,
    identity_options,
    month_option,
    resolve_app_dsn,
    session,
)

#: Exit status of ``verify`` when the pack does not check out.
EXIT_FAILED = 3


@click.group()
def evidence() -> None:
    """Signed evidence packs: one client's month, checkable offline."""


@evidence.command("pack")
@client_option
@month_option
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Where to write the pack: a new directory, or a file name ending in .zip.")
@identity_options
@click.option("--signing-key", envvar="TESSERA_EVIDENCE_KEY", type=click.Path(dir_okay=False, path_type=Path),
              help="Ed25519 key that signs the manifest ($TESSERA_EVIDENCE_KEY; default: the dev demo key).")
@dsn_option
@friendly_errors
def pack(client_id: str, month: dt.date, out: Path, as_sponsor: str | None, as_operator: str | None,
         signing_key: Path | None, dsn: str | None) -> None:
    """Build the signed evidence pack of a client's month."""
    import psycopg

    from tessera_db import evidence as packs
    from tessera_db.audit.signing import load_private_key
    from tessera_db.db import Database
    from tessera_db.errors import translate_errors

    if not (as_sponsor or as_operator):
        raise click.UsageError("give --as-operator EMAIL or --as-sponsor EMAIL: a pack is taken by a person")
    signing_key = signing_key or dev_key("audit-demo.key")
    if signing_key is None:
        raise click.UsageError("give --signing-key (or $TESSERA_EVIDENCE_KEY): the manifest must be signed")
    key = load_private_key(signing_key)
    url = resolve_app_dsn(dsn)
    who = {"role": "sponsor", "email": as_sponsor} if as_sponsor else {"role": "operator", "email": str(as_operator)}
    with Database(url, max_size=1) as db, translate_errors(), psycopg.connect(url, autocommit=True) as verifier:
        verifier.execute("SET ROLE service_role")
        with session(db, as_sponsor, as_operator, "evidence-pack") as conn:
            built = packs.build_pack(
                conn, verifier, client_id, month, key, created_by=who,
                policy_matrix=lambda: packs.client_policy_matrix(conn, client_id),
                rederivation=lambda: packs.rederivation_document(conn, client_id, month))
    written = built.write(out)
    manifest = built.manifest
    click.echo(f"evidence pack of client {client_id} {month:%Y-%m} written to {written}: reading version "
               f"{manifest['reading_version']}, {manifest['savings_rows']} savings rows, "
               f"{manifest['audit']['sealed']} of {manifest['audit']['events']} audit events proven against "
               f"checkpoint {manifest['audit']['checkpoint_id']}")
    click.echo(f"check it with: tessera-db evidence verify {written} --public-key {signing_key}.pub", err=True)


@evidence.command("verify")
@click.argument("pack_path", metavar="PACK", type=click.Path(exists=True, path_type=Path))
@click.option("--public-key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The pack signer's public key (PEM).")
@click.option("--audit-public-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The audit sealer's public key, for the checkpoint (default: --public-key).")
@friendly_errors
def verify(pack_path: Path, public_key: Path, audit_public_key: Path | None) -> None:
    """Check an evidence pack offline (no database)."""
    from tessera_db import evidence as packs
    from tessera_db.audit.signing import load_public_key

    files = packs.read_pack(pack_path)
    try:
        report = packs.verify_pack(files, load_public_key(public_key),
                                   load_public_key(audit_public_key) if audit_public_key else None,
                                   rederive=packs.rederive_offline)
    except packs.EvidenceError as exc:
        click.echo(f"evidence verification FAILED: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    for line in report.lines:
        click.echo(f"OK: {line}")
