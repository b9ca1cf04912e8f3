"""Evidence packs (issue 16): one client's month, as a reviewer or auditor takes it away.

``build_pack`` gathers, as the caller (an operator, or that client's sponsor: row-level
security decides what they may take), the files below; ``verify_pack`` checks a pack
offline, with nothing but the pack and the public key(s). docs/evidence.md is the
reference for the format::

    manifest.json              what the pack is (client, month, who made it, when, from
                               which database) and the SHA-256 and size of every other
                               file, signed as a detached JWS (tessera_db/detached_jws.py)
    policy-matrix.json         the live policy matrix of the deployment, as the client's
                               identities see it (tessera_db/policy_matrix.py)
    readings.json              every issued version of the month's reading
    rederivation.json          the re-derivation of the latest version when the pack was
                               made (tessera_db/pricing/rederive.py)
    savings.jsonl              the month's optimize_savings rows of the client, as
                               PostgreSQL renders them (numbers exactly as stored)
    pricing-snapshots.jsonl    every pricing_catalog snapshot those rows reference
    audit-events.jsonl         the month's audit events of the client: the 18 fields of
                               encoding v1 as canonical text, and the content_hash
    audit-proofs.jsonl         per sealed event: its leaf index and RFC 6962 audit path
    checkpoint.json            the signed checkpoint the proofs lead to

``verify_pack`` checks, stopping at the first failure: the manifest's signature; that
the pack holds exactly the listed files with their hashes; the checkpoint's signature;
every event's content hash and audit path against it, and that every event is the
client's and the month's; and the re-derivation, recomputed here from the pack's own
rows and prices, against the stored costs and the issued reading.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tessera_db import detached_jws, policy_matrix
from tessera_db.audit import encoding
from tessera_db.audit.proof import (
    PROOF_FORMAT,
    ProofError,
    build_proofs,
    check_checkpoint,
    check_proof,
    checkpoint_document,
)
from tessera_db.errors import NotFound, TesseraError
from tessera_db.pricing import rederive
from tessera_db.pricing.rederive import month_bounds  # verify_pack's `rederive` parameter shadows the module

PACK_FORMAT = "tessera.evidence_pack.v1"
MANIFEST = "manifest.json"
POLICY_MATRIX = "policy-matrix.json"
READINGS = "readings.json"
REDERIVATION = "rederivation.json"
SAVINGS = "savings.jsonl"
PRICES = "pricing-snapshots.jsonl"
AUDIT_EVENTS = "audit-events.jsonl"
AUDIT_PROOFS = "audit-proofs.jsonl"
CHECKPOINT = "checkpoint.json"
#: Every file of a pack but the manifest, in the order the manifest lists them.
PACK_FILES = (POLICY_MATRIX, READINGS, REDERIVATION, SAVINGS, PRICES, AUDIT_EVENTS, AUDIT_PROOFS, CHECKPOINT)


class EvidenceError(TesseraError):
    """The pack does not check out (or is malformed)."""


@dataclass(frozen=True)
class Pack:
    """A built pack: file name -> bytes (the manifest included)."""

    files: dict[str, bytes]

    @property
    def manifest(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.files[MANIFEST])
        return document

    def write(self, out: Path) -> Path:
        """Write the pack to ``out``: a zip archive when the name ends in ``.zip``, else a
        directory (created; it must be empty if it exists)."""
        if out.suffix.lower() == ".zip":
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name in (MANIFEST, *PACK_FILES):
                    archive.writestr(name, self.files[name])
            return out
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise TesseraError(f"{out} exists and is not an empty directory; give a new directory or a .zip name")
        out.mkdir(parents=True, exist_ok=True)
        for name in (MANIFEST, *PACK_FILES):
            (out / name).write_bytes(self.files[name])
        return out


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


def _lines(texts: Iterable[str]) -> bytes:
    return "".join(f"{t}\n" for t in texts).encode()


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def build_pack(conn: psycopg.Connection[Any], verifier: psycopg.Connection[Any], client_id: str,
               month: dt.date, key: Ed25519PrivateKey, *, created_by: Mapping[str, str],
               policy_matrix: Callable[[], Any], rederivation: Callable[[], Any],
               now: dt.datetime | None = None) -> Pack:
    """The evidence pack of ``client_id``'s ``month``.

    ``conn`` is the caller's open transaction (``Database.as_operator`` /
    ``as_sponsor``): every row comes through row-level security as that caller, so a
    sponsor cannot pack another client (their reading is simply not there). ``verifier``
    reads the whole log as the audit verifier does (service_role), only to compute the
    inclusion proofs. ``policy_matrix`` and ``rederivation`` produce those two
    documents; ``key`` signs the manifest."""
    start = month.replace(day=1)
    lo, hi = month_bounds(start)  # the UTC month, as verify_pack and rederive read it
    readings = conn.execute(
        "SELECT to_jsonb(r)::text FROM tessera.monthly_readings r"
        " WHERE client_id = %s AND month = %s ORDER BY version", (client_id, start)).fetchall()
    if not readings:
        raise NotFound(f"no issued reading of client {client_id} for {start:%Y-%m} that this identity may read "
                       "(issue one with `tessera-db readings issue`, or check --as-sponsor / --as-operator)")
    savings = [row[0] for row in conn.execute(
        "SELECT to_jsonb(s)::text FROM tessera.optimize_savings s"
        " WHERE client_id = %s AND occurred_at >= %s AND occurred_at < %s"
        " ORDER BY occurred_at, request_id", (client_id, lo, hi))]
    prices = [row[0] for row in conn.execute(
        "SELECT to_jsonb(p)::text FROM tessera.pricing_catalog p"
        " WHERE p.pricing_snapshot_id IN ("
        "   SELECT requested_snapshot_id FROM tessera.optimize_savings"
        "    WHERE client_id = %(c)s AND occurred_at >= %(s)s AND occurred_at < %(e)s"
        "   UNION SELECT routed_snapshot_id FROM tessera.optimize_savings"
        "    WHERE client_id = %(c)s AND occurred_at >= %(s)s AND occurred_at < %(e)s)"
        " ORDER BY p.pricing_snapshot_id", {"c": client_id, "s": lo, "e": hi})]
    events = conn.execute(
        f"SELECT {encoding.SELECT_COLUMNS} FROM tessera.audit_events"
        " WHERE client_id = %s AND occurred_at >= %s AND occurred_at < %s ORDER BY event_id",
        (client_id, lo, hi)).fetchall()
    event_ids = [int(e[0]) for e in events]
    proofs, unsealed, latest = build_proofs(verifier, event_ids)
    files: dict[str, bytes] = {
        POLICY_MATRIX: _json(policy_matrix()),
        READINGS: _lines(row[0] for row in readings),
        REDERIVATION: _json(rederivation()),
        SAVINGS: _lines(savings),
        PRICES: _lines(prices),
        AUDIT_EVENTS: _lines(json.dumps({**dict(zip(encoding.FIELDS, encoding.canonical_texts(e), strict=True)),
                                         "content_hash": bytes(e[len(encoding.FIELDS)]).hex()}, sort_keys=True)
                             for e in events),
        AUDIT_PROOFS: _lines(json.dumps({"event_id": str(eid), "leaf_index": proofs[eid]["leaf_index"],
                                         "audit_path": proofs[eid]["audit_path"]}, sort_keys=True)
                             for eid in event_ids if eid in proofs),
        CHECKPOINT: _json(checkpoint_document(latest)),
    }
    latest_reading = json.loads(readings[-1][0])
    manifest: dict[str, Any] = {
        "format": PACK_FORMAT,
        "client_id": client_id,
        "month": f"{start:%Y-%m}",
        "created_at": _iso(now or dt.datetime.now(dt.timezone.utc)),
        "created_by": dict(created_by),
        "database": conn.execute("SELECT current_database()").fetchone()[0],  # type: ignore[index]
        "reading_version": latest_reading["version"],
        "audit": {"events": len(event_ids), "sealed": len(proofs), "unsealed_event_ids": [str(e) for e in unsealed],
                  "checkpoint_id": latest.checkpoint_id},
        "savings_rows": len(savings),
        "files": {name: {"sha256": hashlib.sha256(files[name]).hexdigest(), "bytes": len(files[name])}
                  for name in PACK_FILES},
    }
    files[MANIFEST] = _json(detached_jws.sign(manifest, key))
    return Pack(files)


# --------------------------------------------------------------------------- verify


def read_pack(path: Path) -> dict[str, bytes]:
    """Every file of a pack directory or zip archive (names relative to its root)."""
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    try:
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise EvidenceError(f"{path} is neither a pack directory nor a readable zip archive ({exc})") from None


def _jsonl(data: bytes, name: str) -> list[dict[str, Any]]:
    try:
        rows = [json.loads(line, parse_float=Decimal) for line in data.decode().splitlines() if line]
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvidenceError(f"{name} is not JSON lines ({exc})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise EvidenceError(f"{name}: every line must be a JSON object")
    return rows


@dataclass
class VerifyReport:
    """What ``verify_pack`` checked, one line per step (for the CLI)."""

    lines: list[str]


def verify_pack(files: Mapping[str, bytes], public_key: Ed25519PublicKey,
                audit_public_key: Ed25519PublicKey | None = None,
                rederive: Callable[[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]], list[str]]
                | None = None) -> VerifyReport:
    """Check a pack offline. ``rederive(savings, prices, readings)`` re-prices the rows
    and compares them with the stored costs and the latest reading, returning its
    summary lines or raising EvidenceError. Raises EvidenceError at the first failure."""
    report: list[str] = []
    # 1. the manifest and its signature
    try:
        manifest = json.loads(files[MANIFEST])
    except KeyError:
        raise EvidenceError(f"the pack has no {MANIFEST}") from None
    except ValueError as exc:
        raise EvidenceError(f"{MANIFEST} is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise EvidenceError(f"{MANIFEST} is not a {PACK_FORMAT} manifest")
    try:
        kid = detached_jws.verify(manifest, public_key)
    except detached_jws.SignatureError as exc:
        raise EvidenceError(f"the manifest's signature: {exc}") from None
    report.append(f"manifest signed by key {kid}")
    # 2. exactly the listed files, each with its hash
    listed = manifest.get("files")
    if not isinstance(listed, dict) or set(listed) != set(PACK_FILES):
        raise EvidenceError(f"the manifest must list exactly {', '.join(PACK_FILES)}")
    extra = sorted(set(files) - set(PACK_FILES) - {MANIFEST})
    if extra:
        raise EvidenceError(f"the pack holds files the manifest does not list: {', '.join(extra)}")
    for name in PACK_FILES:
        if name not in files:
            raise EvidenceError(f"{name} is missing from the pack")
        digest = hashlib.sha256(files[name]).hexdigest()
        if digest != listed[name].get("sha256") or len(files[name]) != listed[name].get("bytes"):
            raise EvidenceError(f"{name}: its SHA-256 is {digest}, not the manifest's "
                                f"{listed[name].get('sha256')} (the file was changed after the pack was signed)")
    report.append(f"{len(PACK_FILES)} files match their SHA-256 in the manifest")
    # 3. the audit events and their proofs against the checkpoint
    report.append(_verify_audit(files, manifest, audit_public_key or public_key))
    # 4. the re-derivation from the pack's own rows and prices
    savings = _jsonl(files[SAVINGS], SAVINGS)
    prices = _jsonl(files[PRICES], PRICES)
    readings = _jsonl(files[READINGS], READINGS)
    if len(savings) != manifest.get("savings_rows"):
        raise EvidenceError(f"{SAVINGS} holds {len(savings)} rows, the manifest says {manifest.get('savings_rows')}")
    start, end = month_bounds(dt.date.fromisoformat(f"{manifest['month']}-01"))
    for row in savings:
        occurred = dt.datetime.fromisoformat(str(row.get("occurred_at")))
        if row.get("client_id") != manifest["client_id"] or not start <= occurred < end:
            raise EvidenceError(f"{SAVINGS}: request {row.get('request_id')} is not the client's or not in "
                                f"{manifest['month']}")
    if not readings or readings[-1].get("version") != manifest.get("reading_version"):
        raise EvidenceError(f"{READINGS} does not end with the manifest's reading version "
                            f"{manifest.get('reading_version')}")
    if rederive is not None:
        report.extend(rederive(savings, prices, readings))
    return VerifyReport(report)


def _verify_audit(files: Mapping[str, bytes], manifest: Mapping[str, Any], audit_key: Ed25519PublicKey) -> str:
    try:
        checkpoint = json.loads(files[CHECKPOINT])
    except ValueError as exc:
        raise EvidenceError(f"{CHECKPOINT} is not JSON ({exc})") from None
    events = _jsonl(files[AUDIT_EVENTS], AUDIT_EVENTS)
    proofs = {str(p.get("event_id")): p for p in _jsonl(files[AUDIT_PROOFS], AUDIT_PROOFS)}
    audit = manifest.get("audit") or {}
    unsealed = set(audit.get("unsealed_event_ids") or [])
    if len(events) != audit.get("events") or len(proofs) != audit.get("sealed"):
        raise EvidenceError(f"{AUDIT_EVENTS} / {AUDIT_PROOFS} hold {len(events)} events and {len(proofs)} proofs; "
                            f"the manifest says {audit.get('events')} and {audit.get('sealed')}")
    try:
        check_checkpoint(checkpoint, audit_key)
    except ProofError as exc:
        raise EvidenceError(f"{CHECKPOINT}: {exc.message}") from None
    month = str(manifest.get("month"))
    for event in events:
        eid = str(event.get("event_id"))
        if event.get("client_id") != manifest.get("client_id") or not str(event.get("occurred_at")).startswith(month):
            raise EvidenceError(f"audit event {eid} is not the client's or not in {month}")
        proof = proofs.get(eid)
        if proof is None:
            if eid not in unsealed:
                raise EvidenceError(f"audit event {eid} has no inclusion proof and is not listed as unsealed")
            continue
        document = {"format": PROOF_FORMAT, "event": {f: event.get(f) for f in encoding.FIELDS},
                    "content_hash": event.get("content_hash"), "leaf_index": proof.get("leaf_index"),
                    "audit_path": proof.get("audit_path"), "checkpoint": checkpoint}
        try:
            check_proof(document, audit_key)
        except ProofError as exc:
            raise EvidenceError(f"audit event {eid}: {exc.message}") from None
    return (f"{len(proofs)} audit events proven against checkpoint {checkpoint.get('checkpoint_id')} "
            f"(tree of {checkpoint.get('tree_size')} leaves), {len(unsealed)} not sealed yet")


# --------------------------------------------------------------------------- documents


def client_policy_matrix(conn: psycopg.Connection[Any], client_id: str) -> dict[str, Any]:
    """The access rules the client's data lives under, as the pack's maker can read them:

    * ``declared``: the reviewed table x identity x command matrix and function grid
      shipped with tessera-db (tessera_db/data/policy_matrix.json), which
      ``tessera-db policy diff`` proves the deployment matches;
    * ``functions``: the function grid observed now from this deployment's catalog
      (EXECUTE per role, definer or invoker, search_path, what each may touch);
    * ``policies`` and ``table_grants``: every row-level security policy and table
      privilege of the project schemas, from the catalog.

    A full live probe needs a superuser-like login (``tessera-db policy matrix``); the
    catalog parts need none, so a sponsor's pack carries them too."""
    policies = conn.execute(
        "SELECT schemaname || '.' || tablename, policyname, permissive, roles::text[], cmd, qual, with_check"
        "  FROM pg_catalog.pg_policies WHERE schemaname IN ('tessera', 'tessera_private')"
        " ORDER BY 1, 2").fetchall()
    grants = conn.execute(
        "SELECT table_schema || '.' || table_name, grantee, string_agg(privilege_type, ',' ORDER BY privilege_type)"
        "  FROM information_schema.role_table_grants WHERE table_schema = 'tessera'"
        " GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    return {
        "client_id": client_id,
        "declared": policy_matrix.load().to_json(meta=False),
        "functions": {f"{policy_matrix.SCHEMA}.{sig}": info.to_json()
                      for sig, info in sorted(policy_matrix.observe_functions(conn).items())},
        "policies": [dict(zip(("table", "policy", "permissive", "roles", "command", "using", "with_check"), p,
                              strict=True)) for p in policies],
        "table_grants": [{"table": t, "grantee": g, "privileges": p.split(",")} for t, g, p in grants],
    }


def _plain(value: Any) -> Any:
    """A re-derivation value as JSON: numbers exactly as computed (text), tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {json.dumps(list(k)) if isinstance(k, tuple) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def rederivation_document(conn: psycopg.Connection[Any], client_id: str, month: dt.date) -> dict[str, Any]:
    """The re-derivation of the latest issued reading when the pack is made
    (tessera_db/pricing/rederive.py: every row re-priced from its buckets and snapshots)."""
    result = rederive.rederive_reading(conn, client_id, month.replace(day=1), keep=100)
    return {
        "version": result.version, "recorded_cutoff": result.recorded_cutoff, "rows": result.rows,
        "agrees": result.agrees, "differing_rows": result.differing_rows,
        "first_differing": [_plain(vars(d)) for d in result.first_differing],
        "figure_diffs": [_plain(vars(d)) for d in result.figure_diffs],
        "late_rows": result.late_rows, "first_late": [_plain(vars(d)) for d in result.first_late],
        "late_effect": [_plain(vars(d)) for d in result.late_effect],
        "snapshots_used": result.snapshots_used,
    }


def _price(row: Mapping[str, Any]) -> rederive.Price:
    def opt(name: str) -> Decimal | None:
        return None if row.get(name) is None else Decimal(str(row[name]))

    tier = row.get("tier_threshold_tokens")
    return rederive.Price(
        str(row["pricing_snapshot_id"]), str(row["provider"]), str(row["model"]),
        Decimal(str(row["input_usd_per_token"])), Decimal(str(row["output_usd_per_token"])),
        opt("cache_read_usd_per_token"), opt("cache_write_5m_usd_per_token"), opt("cache_write_1h_usd_per_token"),
        opt("batch_input_usd_per_token"), opt("batch_output_usd_per_token"), None if tier is None else int(tier),
        opt("above_tier_input_usd_per_token"), opt("above_tier_output_usd_per_token"),
        opt("above_tier_cache_read_usd_per_token"))


def _figures(rows: Iterable[tuple[Mapping[str, Any], Decimal, Decimal]]) -> dict[str, Any]:
    """A reading's figures from (row, original, actual) triples, in the shape
    rederive.figures_diff compares."""
    def sums() -> list[Any]:
        return [0, 0, 0, 0, 0, 0, 0, Decimal(0), Decimal(0)]

    total = sums()
    mech: dict[tuple[str, ...], list[Any]] = {}
    tags: dict[str | None, list[Any]] = {}
    snaps: set[str] = set()
    for row, original, actual in rows:
        values = [1, row["uncached_input_tokens"], row["cache_read_input_tokens"], row["cache_write_5m_input_tokens"],
                  row["cache_write_1h_input_tokens"], row["output_tokens"], row.get("reasoning_tokens") or 0,
                  original, actual]
        for target in (total, mech.setdefault(tuple(row["mechanics"]), sums()),
                       tags.setdefault(row.get("feature_tag"), sums())):
            for i, x in enumerate(values):
                target[i] += x
        snaps.update((str(row["requested_snapshot_id"]), str(row["routed_snapshot_id"])))

    def metrics(v: list[Any]) -> dict[str, Any]:
        return dict(zip(rederive.METRICS, [*v, v[7] - v[8]], strict=True))

    return {**metrics(total), "snapshot_ids": sorted(snaps),
            "by_mechanics": {k: metrics(v) for k, v in mech.items()},
            "by_feature_tag": {k: metrics(v) for k, v in tags.items()}}


def rederive_offline(savings: list[dict[str, Any]], prices: list[dict[str, Any]],
                     readings: list[dict[str, Any]]) -> list[str]:
    """Re-derive the latest reading from the pack's own rows and prices, independently of
    the database: every row re-priced from its token buckets and the snapshots it names
    (tessera_db/pricing/rederive.py's rules) must equal its stored costs, and the rows
    inside the reading's cut-off (recorded_seq <= recorded_cutoff) must add up to every
    figure of the issued reading. Rows recorded later are counted apart, not an error."""
    latest = readings[-1]
    by_id = {str(p["pricing_snapshot_id"]): _price(p) for p in prices}
    cutoff = int(latest["recorded_cutoff"])
    covered: list[tuple[Mapping[str, Any], Decimal, Decimal]] = []
    late = 0
    with decimal.localcontext(rederive.exact()):
        for row in savings:
            rid = row.get("request_id")
            try:
                requested, routed = by_id[str(row["requested_snapshot_id"])], by_id[str(row["routed_snapshot_id"])]
            except KeyError as exc:
                raise EvidenceError(f"{SAVINGS}: request {rid} names pricing snapshot {exc.args[0]}, which "
                                    f"{PRICES} does not hold") from None
            try:
                original, actual = rederive.row_costs(
                    requested, routed, row["uncached_input_tokens"], row["cache_read_input_tokens"],
                    row["cache_write_5m_input_tokens"], row["cache_write_1h_input_tokens"], row["output_tokens"],
                    row.get("reasoning_tokens"), bool(row["batch"]), row["mechanics"],
                    row.get("unconsented_mechanics") or ())
            except rederive.MissingPrice as exc:
                raise EvidenceError(f"{SAVINGS}: request {rid} cannot be priced from its snapshots ({exc})") from None
            stored = (Decimal(str(row["original_cost_usd"])), Decimal(str(row["actual_cost_usd"])))
            if stored != (original, actual):
                raise EvidenceError(f"{SAVINGS}: request {rid} stores original {stored[0]} / actual {stored[1]} USD, "
                                    f"but its buckets and snapshots give {original} / {actual}")
            if int(row["recorded_seq"]) <= cutoff:
                covered.append((row, original, actual))
            else:
                late += 1
        differences = rederive.figures_diff(rederive.issued_document(latest), _figures(covered))
    if differences:
        first = differences[0]
        raise EvidenceError(f"reading version {latest['version']}: {first.figure} is {first.left} as issued but "
                            f"{first.right} re-derived from the pack's rows ({len(differences)} figure(s) differ)")
    return [f"reading version {latest['version']} re-derived from {len(covered)} rows re-priced with "
            f"{len(by_id)} pricing snapshots; every figure agrees ({late} row(s) recorded after its issuance "
            "counted apart)"]
