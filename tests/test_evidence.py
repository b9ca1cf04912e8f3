"""Evidence packs (issue 16, docs/evidence.md): a client's month as a signed pack that
checks offline -- the signature, every file's hash, every audit event's inclusion proof
against the signed checkpoint and the re-derivation from the pack's own rows and prices;
one edited byte, a tampered event or a foreign file fails; sponsors pack only their own
clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tessera_db import detached_jws, evidence
from tessera_db.audit import signing
from tessera_db.cli import main
from tessera_db.errors import NotFound
from tests.lifecycle_fixtures import (  # noqa: F401 (world is a fixture)
    ACME,
    GLOBEX,
    OPERATOR,
    World,
    world,
)
from tests.test_audit_seal import Tamper

ALICE = "alice@acme.example"  # sponsor of Acme only
BOB = "bob@globex.example"    # sponsor of Globex only


def _month(world: World, client_id: str) -> dt.date:
    row = world.su.execute("SELECT max(month) FROM tessera.monthly_readings WHERE client_id = %s",
                           (client_id,)).fetchone()
    assert row is not None and row[0] is not None, "the demo issues a reading for the client"
    return row[0]  # type: ignore[no-any-return]


def _pack(world: World, client_id: str = ACME, *, sponsor: str | None = None,
          key: Ed25519PrivateKey | None = None) -> evidence.Pack:
    month = _month(world, client_id)
    session = world.db.as_sponsor(sponsor) if sponsor else world.db.as_operator(OPERATOR)
    with psycopg.connect(world.app_dsn, autocommit=True) as verifier, session as conn:
        verifier.execute("SET ROLE service_role")
        return evidence.build_pack(
            conn, verifier, client_id, month, key or world.key,
            created_by={"role": "sponsor" if sponsor else "operator", "email": sponsor or OPERATOR},
            policy_matrix=lambda: evidence.client_policy_matrix(conn, client_id),
            rederivation=lambda: evidence.rederivation_document(conn, client_id, month))


def _verify(files: dict[str, bytes], world: World) -> evidence.VerifyReport:
    return evidence.verify_pack(files, world.key.public_key(), rederive=evidence.rederive_offline)


def test_a_pack_verifies_offline_and_holds_the_clients_month(world: World, tmp_path: Path) -> None:
    world.seal()
    pack = _pack(world)
    out = pack.write(tmp_path / "pack")
    files = evidence.read_pack(out)
    assert set(files) == {evidence.MANIFEST, *evidence.PACK_FILES}
    report = _verify(files, world)
    text = "\n".join(report.lines)
    manifest = pack.manifest
    assert manifest["client_id"] == ACME and manifest["created_by"] == {"role": "operator", "email": OPERATOR}
    assert manifest["audit"]["events"] > 0 and manifest["audit"]["sealed"] == manifest["audit"]["events"]
    assert f"{manifest['audit']['sealed']} audit events proven" in text, text
    # Only the client's rows and events went in.
    for line in files[evidence.SAVINGS].decode().splitlines():
        assert json.loads(line)["client_id"] == ACME
    for line in files[evidence.AUDIT_EVENTS].decode().splitlines():
        assert json.loads(line)["client_id"] == ACME
    assert GLOBEX not in b"".join(files.values()).decode()


def test_a_zip_pack_verifies_like_a_directory(world: World, tmp_path: Path) -> None:
    world.seal()
    out = _pack(world).write(tmp_path / "pack.zip")
    assert zipfile.is_zipfile(out)
    assert _verify(evidence.read_pack(out), world).lines


@pytest.mark.parametrize("name", [evidence.SAVINGS, evidence.READINGS, evidence.AUDIT_EVENTS,
                                  evidence.CHECKPOINT, evidence.POLICY_MATRIX, evidence.MANIFEST])
def test_one_edited_byte_fails(world: World, name: str) -> None:
    world.seal()
    files = dict(_pack(world).files)
    data = bytearray(files[name])
    # Change one digit (so the edit is still well-formed JSON and only the hash can tell).
    index = next(i for i, b in enumerate(data) if chr(b).isdigit())
    data[index] = ord("7") if data[index] != ord("7") else ord("3")
    files[name] = bytes(data)
    with pytest.raises(evidence.EvidenceError) as failed:
        _verify(files, world)
    expected = "signature" if name == evidence.MANIFEST else "SHA-256"
    assert expected in failed.value.message, failed.value.message


def test_a_file_the_manifest_does_not_list_fails(world: World) -> None:
    world.seal()
    files = {**_pack(world).files, "notes.txt": b"trust me\n"}
    with pytest.raises(evidence.EvidenceError, match="does not list: notes.txt"):
        _verify(files, world)


def test_a_re_signed_pack_with_an_edited_event_fails_its_proof(world: World) -> None:
    """Whoever holds the pack key can re-sign a manifest, but not the sealer's checkpoint:
    an edited event no longer leads to the signed root."""
    world.seal()
    files = dict(_pack(world).files)
    lines = files[evidence.AUDIT_EVENTS].decode().splitlines()
    event = json.loads(lines[0])
    event["actor_email"] = "someone-else@example.com"
    lines[0] = json.dumps(event, sort_keys=True)
    files[evidence.AUDIT_EVENTS] = ("\n".join(lines) + "\n").encode()
    manifest = json.loads(files[evidence.MANIFEST])
    manifest["files"][evidence.AUDIT_EVENTS]["sha256"] = hashlib.sha256(files[evidence.AUDIT_EVENTS]).hexdigest()
    manifest["files"][evidence.AUDIT_EVENTS]["bytes"] = len(files[evidence.AUDIT_EVENTS])
    files[evidence.MANIFEST] = json.dumps(detached_jws.sign(manifest, world.key)).encode()
    with pytest.raises(evidence.EvidenceError, match=f"audit event {event['event_id']}: .*the event was modified"):
        _verify(files, world)


def test_a_pack_of_a_tampered_event_fails_its_proof(world: World) -> None:
    """A superuser edits a sealed event in the database (triggers off, hash left alone):
    the pack carries the edited fields, which no longer hash to the sealed leaf."""
    world.seal()
    victim = world.su.execute("SELECT max(event_id) FROM tessera.audit_events WHERE client_id = %s",
                              (ACME,)).fetchone()[0]  # type: ignore[index]
    Tamper(world.su)("tessera.audit_events",
                     ("UPDATE tessera.audit_events SET reason = 'edited later' WHERE event_id = %s", (victim,)))
    files = _pack(world).files
    with pytest.raises(evidence.EvidenceError, match=f"audit event {victim}: .*the event was modified"):
        _verify(dict(files), world)


def test_a_cost_edited_before_packing_fails_the_offline_rederivation(world: World) -> None:
    """A superuser edits a stored cost (triggers off): the pack carries the edited row,
    hashed and signed, and the offline re-pricing from its buckets and snapshots names it."""
    world.seal()
    victim = world.su.execute("SELECT request_id FROM tessera.optimize_savings WHERE client_id = %s"
                              " ORDER BY recorded_seq LIMIT 1", (ACME,)).fetchone()[0]  # type: ignore[index]
    Tamper(world.su)("tessera.optimize_savings",
                     ("UPDATE tessera.optimize_savings SET actual_cost_usd = actual_cost_usd + 0.000001"
                      " WHERE client_id = %s AND request_id = %s", (ACME, victim)))
    pack = _pack(world)
    assert json.loads(pack.files[evidence.REDERIVATION])["agrees"] is False  # as the database saw it then
    with pytest.raises(evidence.EvidenceError, match=f"request {victim} stores original .* but its buckets"):
        _verify(dict(pack.files), world)


def test_a_re_signed_pack_with_an_edited_reading_fails_the_rederivation(world: World) -> None:
    world.seal()
    files = dict(_pack(world).files)
    lines = files[evidence.READINGS].decode().splitlines()
    reading = json.loads(lines[-1])
    reading["savings_usd"] = 1000
    lines[-1] = json.dumps(reading)
    files[evidence.READINGS] = ("\n".join(lines) + "\n").encode()
    manifest = json.loads(files[evidence.MANIFEST])
    manifest["files"][evidence.READINGS] = {"sha256": hashlib.sha256(files[evidence.READINGS]).hexdigest(),
                                            "bytes": len(files[evidence.READINGS])}
    files[evidence.MANIFEST] = json.dumps(detached_jws.sign(manifest, world.key)).encode()
    with pytest.raises(evidence.EvidenceError, match="savings_usd is 1000 as issued but"):
        _verify(files, world)


def test_a_pack_signed_by_another_key_fails(world: World) -> None:
    world.seal()
    files = _pack(world, key=Ed25519PrivateKey.generate()).files
    with pytest.raises(evidence.EvidenceError, match="not this public key"):
        _verify(dict(files), world)


def test_unsealed_events_are_listed_not_proven(world: World) -> None:
    world.seal()
    with world.db.as_operator(OPERATOR) as conn:  # a new event of Acme, after the seal
        conn.execute("SELECT tessera.set_kill_switch(%s, true)", (ACME,))
    pack = _pack(world)
    assert len(pack.manifest["audit"]["unsealed_event_ids"]) == 1
    assert _verify(dict(pack.files), world).lines


def test_a_sponsor_packs_their_own_client_only(world: World) -> None:
    world.seal()
    own = _pack(world, sponsor=ALICE)
    assert own.manifest["created_by"] == {"role": "sponsor", "email": ALICE}
    assert _verify(dict(own.files), world).lines
    with pytest.raises(NotFound):
        _pack(world, ACME, sponsor=BOB)


def test_cli_pack_and_verify(world: World, tmp_path: Path) -> None:
    world.seal()
    key_file = tmp_path / "pack.key"
    key_file.write_bytes(world.key.private_bytes_raw())
    key_file.chmod(0o600)
    public = tmp_path / "pack.key.pub"
    public.write_bytes(signing.public_pem(world.key.public_key()))
    month = _month(world, ACME)
    out = tmp_path / "acme.zip"
    made = CliRunner().invoke(main, ["evidence", "pack", "--client", ACME, "--month", f"{month:%Y-%m}",
                                     "-o", str(out), "--as-operator", OPERATOR, "--signing-key", str(key_file),
                                     "--dsn", world.app_dsn])
    assert made.exit_code == 0, made.output
    ok = CliRunner().invoke(main, ["evidence", "verify", str(out), "--public-key", str(public)])
    assert ok.exit_code == 0 and "OK: manifest signed by key" in ok.output, ok.output
    # One byte of the archive's savings file changed: exit 3, one line naming it.
    with zipfile.ZipFile(out) as archive:
        files = {i.filename: archive.read(i) for i in archive.infolist()}
    files[evidence.SAVINGS] = files[evidence.SAVINGS].replace(b"0", b"1", 1)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    failed = CliRunner().invoke(main, ["evidence", "verify", str(bad), "--public-key", str(public)])
    assert failed.exit_code == 3 and "savings.jsonl" in failed.output and "Traceback" not in failed.output, \
        failed.output
    foreign = CliRunner().invoke(main, ["evidence", "pack", "--client", ACME, "--month", f"{month:%Y-%m}",
                                        "-o", str(tmp_path / "x"), "--as-sponsor", BOB,
                                        "--signing-key", str(key_file), "--dsn", world.app_dsn])
    assert foreign.exit_code == 1 and foreign.output.startswith("error: no issued reading"), foreign.output
