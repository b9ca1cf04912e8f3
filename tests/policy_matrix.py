"""The reviewed access matrix of every tessera table, and the engine that observes it.

Every relation of kind r/p in schema ``tessera`` (partitions excluded) is probed, as each
actor, with SELECT, INSERT, UPDATE, DELETE and TRUNCATE. The observed outcome of each
(table, actor, command) is compared with the expectation written below. A table that the
catalog lists but this file does not fails the suite: a new table needs a reviewed entry.

Outcomes (one cell of the matrix):

    denied     the statement raised SQLSTATE 42501 (no privilege, RLS WITH CHECK, or a
               guard trigger)
    none       the statement ran and saw / changed no row
    A  B  A,B  the tenants whose rows were seen, inserted, updated or deleted; a row's
               tenant is its client_id (A or B); rows of a table without client_id are
               ``platform``; a newly inserted client is ``new``

How each command is probed (each probe runs in its own savepoint and is rolled back):

    SELECT    ``SELECT client_id FROM t`` (``SELECT 1`` without client_id): the tenants
              of the rows returned.
    INSERT    one INSERT per probe row of the spec: a row for tenant A and, separately, a
              forged row for tenant B (``platform`` / ``new`` for the tables without
              tenants). The cell lists the probes that succeeded; ``denied`` when all of
              them raised 42501.
    UPDATE    ``UPDATE t SET <column> = <the value every seeded row already has>``, no
              WHERE and no RETURNING, so the statement reads no column and PostgreSQL
              applies only the UPDATE policies (the most an attacker can reach). The
              column is the spec's ``update`` column: for tessera.workloads a mechanic_*
              flag, the only kind of column a sponsor may change.
    DELETE    ``DELETE FROM t`` (no WHERE, no RETURNING).
    TRUNCATE  ``TRUNCATE t`` (row-level security never applies to TRUNCATE).

Which rows a write changed is read back by the superuser inside the probe's savepoint
(row versions whose ctid appeared or vanished), so RETURNING -- which needs SELECT and
would add the SELECT policies -- is never used. For DELETE and TRUNCATE the foreign keys
that reference the probed table are dropped inside the savepoint first: a cell then shows
what authorization allows, not what ON DELETE RESTRICT happens to block. Any error other
than 42501 is a broken probe and fails the suite.

Regenerate docs/rls-policy-matrix.md with::

    TESSERA_WRITE_MATRIX=1 .venv/bin/pytest tests/test_policy_matrix.py
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

SCHEMA = "tessera"
COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
DOC_PATH = "docs/rls-policy-matrix.md"
REGENERATE = "TESSERA_WRITE_MATRIX=1 .venv/bin/pytest tests/test_policy_matrix.py"

# Fixed tenant ids keep the seed (and any failure message) deterministic.
TENANT_IDS: dict[str, uuid.UUID] = {
    "A": uuid.UUID("00000000-0000-4000-8000-00000000000a"),
    "B": uuid.UUID("00000000-0000-4000-8000-00000000000b"),
}
SPONSOR_EMAIL = {"A": "sponsor-a@tenant-a.example", "B": "sponsor-b@tenant-b.example"}
OPERATOR_EMAIL = "ops@tessera.example"
STRANGER_EMAIL = "stranger@nowhere.example"


# --------------------------------------------------------------------------- actors


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    claims: Mapping[str, Any]
    about: str


ACTORS: tuple[Actor, ...] = (
    Actor("anon", "anon", {"role": "anon"}, "unauthenticated API caller"),
    Actor("sponsor_A", "authenticated",
          {"email": SPONSOR_EMAIL["A"], "sub": SPONSOR_EMAIL["A"], "role": "authenticated"},
          f"authenticated, JWT email {SPONSOR_EMAIL['A']} listed in client_users of A"),
    Actor("sponsor_B", "authenticated",
          {"email": SPONSOR_EMAIL["B"], "sub": SPONSOR_EMAIL["B"], "role": "authenticated"},
          f"authenticated, JWT email {SPONSOR_EMAIL['B']} listed in client_users of B"),
    Actor("stranger", "authenticated",
          {"email": STRANGER_EMAIL, "sub": STRANGER_EMAIL, "role": "authenticated"},
          "authenticated, JWT email listed nowhere (negative control)"),
    Actor("operator", "authenticated",
          {"email": OPERATOR_EMAIL, "sub": OPERATOR_EMAIL, "role": "authenticated"},
          f"authenticated, JWT email {OPERATOR_EMAIL} listed in tessera.operators"),
    Actor("service_role", "service_role", {"role": "service_role", "sub": "policy-matrix"},
          "server-side jobs (BYPASSRLS)"),
    Actor("tessera_proxy", "tessera_proxy", {}, "the proxy worker login"),
    Actor("tessera_settlement", "tessera_settlement", {}, "the settlement job login"),
)
ACTOR_NAMES = tuple(a.name for a in ACTORS)
ACTORS_BY_NAME = {a.name: a for a in ACTORS}


def act_as(conn: psycopg.Connection[Any], actor: Actor) -> None:
    """Become ``actor`` for the rest of the transaction (or until RESET ROLE)."""
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, true), set_config('role', %s, true)",
        (json.dumps(dict(actor.claims)) if actor.claims else "", actor.role),
    )


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """``denied`` (42501) or the set of tenants whose rows were seen / changed."""

    denied: bool = False
    tenants: frozenset[str] = frozenset()

    def __str__(self) -> str:
        if self.denied:
            return "denied"
        return ",".join(_tenant_order(self.tenants)) or "none"

    @classmethod
    def parse(cls, cell: str) -> Outcome:
        if cell == "denied":
            return DENIED
        if cell == "none":
            return NONE
        tenants = frozenset(cell.split(","))
        unknown = tenants - set(TENANT_LABELS)
        if unknown or "" in tenants:
            raise ValueError(f"unknown outcome {cell!r}; use denied, none or tenants from {TENANT_LABELS}")
        return cls(tenants=tenants)


DENIED = Outcome(denied=True)
NONE = Outcome()
TENANT_LABELS = ("A", "B", "platform", "new")


def _tenant_order(tenants: frozenset[str]) -> list[str]:
    return sorted(tenants, key=lambda t: (TENANT_LABELS.index(t) if t in TENANT_LABELS else 99, t))


def grid(text: str) -> dict[str, dict[str, Outcome]]:
    """Parse an expectation grid: a header line of commands, then one line per actor."""
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    header, body = lines[0], lines[1:]
    if tuple(header[1:]) != COMMANDS:
        raise ValueError(f"grid header must be 'actor {' '.join(COMMANDS)}', got {header}")
    result: dict[str, dict[str, Outcome]] = {}
    for cells in body:
        if len(cells) != len(header):
            raise ValueError(f"grid row {cells} has {len(cells)} cells, expected {len(header)}")
        actor, *outcomes = cells
        if actor in result:
            raise ValueError(f"actor {actor} appears twice in a grid")
        result[actor] = {cmd: Outcome.parse(cell) for cmd, cell in zip(COMMANDS, outcomes)}
    if tuple(result) != ACTOR_NAMES:
        raise ValueError(f"grid rows must be exactly {ACTOR_NAMES} in that order, got {tuple(result)}")
    return result


# --------------------------------------------------------------------------- table specs


class _TenantId:
    """Placeholder in row values: the id of the row's tenant (A or B)."""

    def __repr__(self) -> str:
        return "TENANT"


TENANT = _TenantId()


@dataclass(frozen=True)
class Row:
    tenant: str  # A | B | platform | new
    values: Mapping[str, Any]

    def resolved(self) -> dict[str, Any]:
        return {k: (TENANT_IDS[self.tenant] if v is TENANT else v) for k, v in self.values.items()}


def row(tenant: str, **values: Any) -> Row:
    return Row(tenant, values)


@dataclass(frozen=True)
class TableSpec:
    """What a reviewer signed off for one table.

    seed      rows created by the superuser before probing (in this order, across tables)
    insert    the INSERT probes: a row for tenant A and a forged row for tenant B
    update    (column, value): ``UPDATE t SET column = value``; every seeded row must
              already hold that value, so the probe changes nothing but row versions
    expect    the reviewed grid, parsed by grid()
    """

    seed: tuple[Row, ...]
    insert: tuple[Row, ...]
    update: tuple[str, Any]
    expect: dict[str, dict[str, Outcome]] = field(repr=False)


# Row values of the monthly-readings tables (issue 4); the seeds are version 1 of
# October 2026 for each tenant, and the share token rows point at them.
_READING: dict[str, Any] = dict(
    month="2026-10-01", version=1, requests=0, uncached_input_tokens=0, cache_read_input_tokens=0,
    cache_write_5m_input_tokens=0, cache_write_1h_input_tokens=0, output_tokens=0, reasoning_tokens=0,
    original_cost_usd=0, actual_cost_usd=0, savings_usd=0, by_mechanics="[]", by_feature_tag="[]",
    snapshot_ids="{}", issued_by="policy-matrix", recorded_cutoff=0)
_SHARE: dict[str, Any] = dict(
    month="2026-10-01", version=1, token_sha256=b"\x0a" * 32, created_by="policy-matrix",
    expires_at="2100-01-01T00:00:00Z")

# Row values of the savings ledger tables (issue 4): fixed workload and price snapshot ids
# (seeded under workloads and pricing_catalog) so the foreign keys hold.
_WORKLOAD = {"A": uuid.UUID("00000000-0000-4000-8000-0000000001aa"),
             "B": uuid.UUID("00000000-0000-4000-8000-0000000001bb")}
_SNAPSHOT = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
# Issue 6: fixed batch ids (batch_secrets refer to them) and the sealing scheme.
_BATCH = {"A": uuid.UUID("00000000-0000-4000-8000-0000000006aa"),
          "B": uuid.UUID("00000000-0000-4000-8000-0000000006bb")}
_SCHEME = "hpke-x25519-sha256-chacha20poly1305.v1"


def _saving(tenant: str, request_id: str) -> Row:
    return row(tenant, client_id=TENANT, workload_id=_WORKLOAD[tenant], request_id=request_id,
               occurred_at="2026-10-15T00:00:00Z", requested_provider="openai", requested_model="probe-model",
               routed_provider="openai", routed_model="probe-model", requested_snapshot_id=_SNAPSHOT,
               routed_snapshot_id=_SNAPSHOT, uncached_input_tokens=1, output_tokens=1, original_cost_usd=2,
               actual_cost_usd=2, mechanics="{}")


# The reviewed expectations. Read a grid as: "as <actor>, <command> on this table reaches
# the rows of <cell>". Changing a cell is a security decision: say why in the commit.
TABLES: dict[str, TableSpec] = {
    "clients": TableSpec(
        seed=(row("A", client_id=TENANT, name="Tenant A"),
              row("B", client_id=TENANT, name="Tenant B")),
        insert=(row("new", name="Probe client"),),
        update=("plan_tier", "free"),
        # Sponsors read their own client; the kill switch and the opt-in change only
        # through tessera.set_kill_switch / set_cross_customer_intelligence.
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  none    none    denied
            sponsor_B           B       denied  none    none    denied
            stranger            none    denied  none    none    denied
            operator            A,B     new     A,B     A,B     denied
            service_role        A,B     new     A,B     A,B     denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    "workloads": TableSpec(
        # Fixed workload ids: the savings entries (issue 4) refer to them.
        seed=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], name="main"),
              row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], name="main")),
        insert=(row("A", client_id=TENANT, name="probe"),
                row("B", client_id=TENANT, name="probe")),
        # A mechanic_* flag: the only kind of column the sponsor guard lets sponsors set.
        update=("mechanic_auto_route", False),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  A       none    denied
            sponsor_B           B       denied  B       none    denied
            stranger            none    denied  none    none    denied
            operator            A,B     A,B     A,B     A,B     denied
            service_role        A,B     A,B     A,B     A,B     denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    "operators": TableSpec(
        seed=(row("platform", email=OPERATOR_EMAIL),),
        insert=(row("platform", email="probe-operator@tessera.example"),),
        update=("display_name", None),
        expect=grid("""
            actor               SELECT    INSERT    UPDATE    DELETE    TRUNCATE
            anon                denied    denied    denied    denied    denied
            sponsor_A           none      denied    none      none      denied
            sponsor_B           none      denied    none      none      denied
            stranger            none      denied    none      none      denied
            operator            platform  platform  platform  platform  denied
            service_role        platform  platform  platform  platform  denied
            tessera_proxy       denied    denied    denied    denied    denied
            tessera_settlement  denied    denied    denied    denied    denied
        """),
    ),
    "client_users": TableSpec(
        seed=(row("A", client_id=TENANT, email=SPONSOR_EMAIL["A"]),
              row("B", client_id=TENANT, email=SPONSOR_EMAIL["B"])),
        insert=(row("A", client_id=TENANT, email="probe-sponsor@tenant.example"),
                row("B", client_id=TENANT, email="probe-sponsor@tenant.example")),
        update=("display_name", None),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  none    none    denied
            sponsor_B           B       denied  none    none    denied
            stranger            none    denied  none    none    denied
            operator            A,B     A,B     A,B     A,B     denied
            service_role        A,B     A,B     A,B     A,B     denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # -- pricing catalog, sources and observations (issue 4) -------------------------
    # Platform-wide reference data (no client_id). Nobody holds a write privilege:
    # prices change only through tessera.publish_price, observations only through
    # tessera.record_price_observations (both SECURITY DEFINER, service_role only); the
    # guard / append-only triggers refuse the owner too. Operators and sponsors read
    # prices, sources and observations (public price files); import runs are internal.
    "pricing_catalog": TableSpec(
        seed=(row("platform", pricing_snapshot_id=_SNAPSHOT, provider="openai", model="probe-model", input_usd_per_token=1,
                  output_usd_per_token=1, effective_from="2026-01-01T00:00:00Z"),),
        insert=(row("platform", provider="openai", model="probe-insert", input_usd_per_token=1,
                    output_usd_per_token=1, effective_from="2026-01-01T00:00:00Z"),),
        update=("model", "probe-model"),
        expect=grid("""
            actor               SELECT    INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied    denied  denied  denied  denied
            sponsor_A           platform  denied  denied  denied  denied
            sponsor_B           platform  denied  denied  denied  denied
            stranger            none      denied  denied  denied  denied
            operator            platform  denied  denied  denied  denied
            service_role        platform  denied  denied  denied  denied
            tessera_proxy       denied    denied  denied  denied  denied
            tessera_settlement  denied    denied  denied  denied  denied
        """),
    ),
    "price_sources": TableSpec(
        seed=(row("platform", source="probe_source", upstream="probe_source", precedence=99,
                  description="probe", registered_on="2026-11-23"),),
        insert=(row("platform", source="probe_insert", upstream="litellm", precedence=98,
                    description="probe", registered_on="2026-11-23"),),
        update=("registered_on", "2026-11-23"),
        expect=grid("""
            actor               SELECT    INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied    denied  denied  denied  denied
            sponsor_A           platform  denied  denied  denied  denied
            sponsor_B           platform  denied  denied  denied  denied
            stranger            none      denied  denied  denied  denied
            operator            platform  denied  denied  denied  denied
            service_role        platform  denied  denied  denied  denied
            tessera_proxy       denied    denied  denied  denied  denied
            tessera_settlement  denied    denied  denied  denied  denied
        """),
    ),
    "price_import_runs": TableSpec(
        seed=(row("platform", import_run_id=uuid.UUID("00000000-0000-4000-8000-0000000000e1"),
                  source="litellm", file_name="probe.json", file_sha256="0" * 64,
                  observed_at="2026-01-01T00:00:00Z", imported_by="probe"),),
        insert=(row("platform", source="litellm", file_name="probe-insert.json", file_sha256="0" * 64,
                    observed_at="2026-01-01T00:00:00Z", imported_by="probe"),),
        update=("imported_by", "probe"),
        expect=grid("""
            actor               SELECT    INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied    denied  denied  denied  denied
            sponsor_A           none      denied  denied  denied  denied
            sponsor_B           none      denied  denied  denied  denied
            stranger            none      denied  denied  denied  denied
            operator            platform  denied  denied  denied  denied
            service_role        platform  denied  denied  denied  denied
            tessera_proxy       denied    denied  denied  denied  denied
            tessera_settlement  denied    denied  denied  denied  denied
        """),
    ),
    "price_observations": TableSpec(
        seed=(row("platform", import_run_id=uuid.UUID("00000000-0000-4000-8000-0000000000e1"),
                  source="litellm", provider="openai", model="probe-model", source_model="probe",
                  component="input", value=1, raw_value="1", observed_at="2026-01-01T00:00:00Z"),),
        insert=(row("platform", import_run_id=uuid.UUID("00000000-0000-4000-8000-0000000000e1"),
                    source="litellm", provider="openai", model="probe-model", source_model="probe",
                    component="output", value=1, raw_value="1", observed_at="2026-01-01T00:00:00Z"),),
        update=("source_model", "probe"),
        expect=grid("""
            actor               SELECT    INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied    denied  denied  denied  denied
            sponsor_A           platform  denied  denied  denied  denied
            sponsor_B           platform  denied  denied  denied  denied
            stranger            none      denied  denied  denied  denied
            operator            platform  denied  denied  denied  denied
            service_role        platform  denied  denied  denied  denied
            tessera_proxy       denied    denied  denied  denied  denied
            tessera_settlement  denied    denied  denied  denied  denied
        """),
    ),
    # -- monthly readings and share tokens (issue 4) --------------------------------
    "monthly_readings": TableSpec(
        seed=(row("A", **_READING, client_id=TENANT), row("B", **_READING, client_id=TENANT)),
        insert=(row("A", **{**_READING, "version": 2, "correction_reason": "probe"}, client_id=TENANT),
                row("B", **{**_READING, "version": 2, "correction_reason": "probe"}, client_id=TENANT)),
        update=("requests", 0),
        # Append-only: nobody updates, deletes or truncates an issued reading (no
        # privilege, and the make_append_only triggers for the owner). Operators and
        # service jobs issue readings; sponsors read their own; anon only through
        # tessera.reading_by_share_token().
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     A,B     denied  denied  denied
            service_role        A,B     A,B     denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    "reading_share_tokens": TableSpec(
        seed=(row("A", **_SHARE, client_id=TENANT), row("B", **_SHARE, client_id=TENANT)),
        insert=(row("A", **{**_SHARE, "token_sha256": b"\x0b" * 32}, client_id=TENANT),
                row("B", **{**_SHARE, "token_sha256": b"\x0b" * 32}, client_id=TENANT)),
        # The guard lets an UPDATE only revoke (revoked_at NULL -> time), so the no-op
        # probe is refused for every role that may update at all.
        update=("revoked_at", None),
        # Tokens are created and revoked only through tessera.create_reading_share_token /
        # revoke_reading_share_token (API roles hold SELECT only: a token is generated by
        # the database, never chosen by a caller). Service jobs may purge rows.
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     A,B     denied  A,B     denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # -- per-request savings and the balance ledger (issue 4) ----------------------
    # Append-only: nobody updates, deletes or truncates (no privilege; the
    # make_append_only triggers, ENABLE ALWAYS, refuse the owner and superusers too).
    # Savings rows are written only by tessera.record_request (SECURITY DEFINER, EXECUTE
    # for tessera_proxy only): no role holds INSERT, and the proxy reads nothing.
    "optimize_savings": TableSpec(
        seed=(_saving("A", "seed-a"), _saving("B", "seed-b")),
        insert=(_saving("A", "probe-a"), _saving("B", "probe-b")),
        update=("batch", False),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # The idempotency key of optimize_savings (a partitioned table cannot hold it):
    # internal, reached only by record_request.
    "savings_request_keys": TableSpec(
        seed=(row("A", client_id=TENANT, request_id="seed", occurred_at="2026-10-15T00:00:00Z"),
              row("B", client_id=TENANT, request_id="seed", occurred_at="2026-10-15T00:00:00Z")),
        insert=(row("A", client_id=TENANT, request_id="probe", occurred_at="2026-10-15T00:00:00Z"),
                row("B", client_id=TENANT, request_id="probe", occurred_at="2026-10-15T00:00:00Z")),
        update=("request_id", "seed"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           denied  denied  denied  denied  denied
            sponsor_B           denied  denied  denied  denied  denied
            stranger            denied  denied  denied  denied  denied
            operator            denied  denied  denied  denied  denied
            service_role        denied  denied  denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # Refused measurements (issue 12): appended only by tessera.record_requests (and
    # replay_dead_letters), both SECURITY DEFINER; sponsors read their own clients',
    # operators and service jobs all; append-only like the ledger.
    # The operator-side delete log (issue 14): operators and jobs read it; nobody writes
    # it directly (tessera.erase_client does, as the owner); operators may only attach a
    # certificate (a column grant; the guard trigger allows it once).
    "client_erasures": TableSpec(
        seed=(row("A", client_id=TENANT, plan_tier="free", reason="seed", initiated_by="ops@tessera.example",
                  started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z", counts="{}",
                  erasure_event_id=1),
              row("B", client_id=TENANT, plan_tier="free", reason="seed", initiated_by="ops@tessera.example",
                  started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z", counts="{}",
                  erasure_event_id=1)),
        insert=(row("A", client_id=TENANT, plan_tier="free", reason="probe", initiated_by="ops@tessera.example"),
                row("B", client_id=TENANT, plan_tier="free", reason="probe", initiated_by="ops@tessera.example")),
        update=("reason", "seed"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           none    denied  denied  denied  denied
            sponsor_B           none    denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    "savings_dead_letters": TableSpec(
        seed=(row("A", client_id=TENANT, request_id="seed", entry="rejected", payload='{"request_id": "seed"}',
                  sqlstate="P0002", reason="seed", db_role="policy-matrix"),
              row("B", client_id=TENANT, request_id="seed", entry="rejected", payload='{"request_id": "seed"}',
                  sqlstate="P0002", reason="seed", db_role="policy-matrix")),
        insert=(row("A", client_id=TENANT, request_id="probe", entry="rejected", payload="{}", sqlstate="P0002",
                    reason="probe", db_role="policy-matrix"),
                row("B", client_id=TENANT, request_id="probe", entry="rejected", payload="{}", sqlstate="P0002",
                    reason="probe", db_role="policy-matrix")),
        update=("reason", "seed"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # Operators and service jobs append (actor stamped from the claims); sponsors read
    # their own clients' ledger (and balance, tessera.client_balances).
    "balance_transactions": TableSpec(
        seed=(row("A", client_id=TENANT, kind="top_up", amount_usd=10, reason="seed", actor="seed"),
              row("B", client_id=TENANT, kind="top_up", amount_usd=10, reason="seed", actor="seed")),
        insert=(row("A", client_id=TENANT, kind="adjustment", amount_usd=-1, reason="probe", actor="probe"),
                row("B", client_id=TENANT, kind="adjustment", amount_usd=-1, reason="probe", actor="probe")),
        update=("reason", "seed"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     A,B     denied  denied  denied
            service_role        A,B     A,B     denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # -- audit log (issue 5) -----------------------------------------------------------
    # Append-only and written only by triggers and definer functions (through
    # tessera_private.write_audit_event, as the owner): no role holds INSERT, UPDATE,
    # DELETE or TRUNCATE, and the make_append_only triggers refuse the owner too.
    # Sponsors read their own clients' events; operators and service jobs (sealer,
    # verifier, export) read all. The seeds of the other tables write audit rows too
    # (all inserts, hence the UPDATE probe column); platform events (operators, prices:
    # client_id NULL) show as ``new``, the engine's label for a NULL client_id.
    "audit_events": TableSpec(
        seed=(row("A", client_id=TENANT, entity="clients", action="insert"),
              row("B", client_id=TENANT, entity="clients", action="insert")),
        insert=(row("A", client_id=TENANT, entity="probe", action="insert"),
                row("B", client_id=TENANT, entity="probe", action="insert")),
        update=("action", "insert"),
        expect=grid("""
            actor               SELECT     INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied     denied  denied  denied  denied
            sponsor_A           A          denied  denied  denied  denied
            sponsor_B           B          denied  denied  denied  denied
            stranger            none       denied  denied  denied  denied
            operator            A,B,new    denied  denied  denied  denied
            service_role        A,B,new    denied  denied  denied  denied
            tessera_proxy       denied     denied  denied  denied  denied
            tessera_settlement  denied     denied  denied  denied  denied
        """),
    ),
    # Signed Merkle checkpoints over audit_events (issue 5, H2's block): public
    # commitments with no tenant data, so operators and sponsors read them all (a
    # signed-in user linked to no client sees none, like the price catalog); nobody
    # writes but the tessera_sealer login through tessera.audit_append_checkpoint.
    "audit_checkpoints": TableSpec(
        seed=(row("platform", tree_size=1, root_hash=b"\x01" * 32, prev_tree_size=0,
                  prev_root_hash=bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                  horizon="5", prev_horizon="0", sealed_at="2026-11-23T00:00:00Z", key_id="a" * 64,
                  signature=b"\x02" * 64, frontier=[b"\x01" * 32]),),
        insert=(row("platform", tree_size=2, root_hash=b"\x03" * 32, prev_tree_size=1, prev_root_hash=b"\x01" * 32,
                    horizon="6", prev_horizon="5", sealed_at="2026-11-23T00:01:00Z", key_id="a" * 64,
                    signature=b"\x04" * 64, frontier=[b"\x03" * 32]),),
        update=("version", 1),
        expect=grid("""
            actor               SELECT    INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied    denied  denied  denied  denied
            sponsor_A           platform  denied  denied  denied  denied
            sponsor_B           platform  denied  denied  denied  denied
            stranger            none      denied  denied  denied  denied
            operator            platform  denied  denied  denied  denied
            service_role        platform  denied  denied  denied  denied
            tessera_proxy       denied    denied  denied  denied  denied
            tessera_settlement  denied    denied  denied  denied  denied
        """),
    ),
    # -- keys, settlement secrets, exact cache, worker config (issue 6) ---------------
    # No API role writes these tables directly: keys are made / revoked / rotated by
    # tessera.create_api_key & co. (from the key's hash; the client generates it), batches move only
    # through tessera.create_batch / transition_batch (state machine trigger), secrets
    # are stored and opened only by the proxy / settlement definer functions, the cache
    # only by cache_lookup / cache_put / flush_cache, settings by set_exact_cache_ttl and
    # the config-version trigger. Column grants keep key_sha256, sealed and response_body
    # unreadable for every API role. service_role deletes what the sweeper purges.
    "api_keys": TableSpec(
        seed=(row("A", client_id=TENANT, key_sha256=b"\x0c" * 32, display_hint="tk_…seed", name="seed",
                  capabilities="{proxy}", created_by="policy-matrix"),
              row("B", client_id=TENANT, key_sha256=b"\x0c" * 32, display_hint="tk_…seed", name="seed",
                  capabilities="{proxy}", created_by="policy-matrix")),
        insert=(row("A", client_id=TENANT, key_sha256=b"\x0d" * 32, display_hint="tk_…prob", name="probe",
                    capabilities="{proxy,batch}", created_by="policy-matrix"),
                row("B", client_id=TENANT, key_sha256=b"\x0d" * 32, display_hint="tk_…prob", name="probe",
                    capabilities="{proxy,batch}", created_by="policy-matrix")),
        update=("name", "seed"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # Platform security log (no client_id): operators read; the sweeper purges.
    "api_key_failures": TableSpec(
        seed=(row("platform", source="192.0.2.1", source_ip="192.0.2.1", key_hint="(malformed)",
                  reason="malformed"),),
        insert=(row("platform", source="192.0.2.2", source_ip="192.0.2.2", key_hint="(malformed)",
                    reason="malformed"),),
        update=("reason", "malformed"),
        expect=grid("""
            actor               SELECT    INSERT  UPDATE  DELETE    TRUNCATE
            anon                denied    denied  denied  denied    denied
            sponsor_A           none      denied  denied  denied    denied
            sponsor_B           none      denied  denied  denied    denied
            stranger            none      denied  denied  denied    denied
            operator            platform  denied  denied  denied    denied
            service_role        platform  denied  denied  platform  denied
            tessera_proxy       denied    denied  denied  denied    denied
            tessera_settlement  denied    denied  denied  denied    denied
        """),
    ),
    "batches": TableSpec(
        seed=(row("A", client_id=TENANT, batch_id=_BATCH["A"], workload_id=_WORKLOAD["A"], provider="openai"),
              row("B", client_id=TENANT, batch_id=_BATCH["B"], workload_id=_WORKLOAD["B"], provider="openai")),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], provider="openai"),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], provider="openai")),
        update=("provider", "openai"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    "batch_secrets": TableSpec(
        seed=(row("A", client_id=TENANT, batch_id=_BATCH["A"], secret_id=_BATCH["A"], scheme=_SCHEME,
                  key_id="k1", sealed=b"\x00" * 49),
              row("B", client_id=TENANT, batch_id=_BATCH["B"], secret_id=_BATCH["B"], scheme=_SCHEME,
                  key_id="k1", sealed=b"\x00" * 49)),
        insert=(row("A", client_id=TENANT, batch_id=_BATCH["A"], secret_id=_BATCH["B"], scheme=_SCHEME,
                    key_id="k1", sealed=b"\x00" * 49),
                row("B", client_id=TENANT, batch_id=_BATCH["B"], secret_id=_BATCH["A"], scheme=_SCHEME,
                    key_id="k1", sealed=b"\x00" * 49)),
        update=("key_id", "k1"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  A,B     denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    "cache_entries": TableSpec(
        seed=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], entry_id=b"\x01" * 32, response_body=b"{}",
                  expires_at="2100-01-01T00:00:00Z"),
              row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], entry_id=b"\x01" * 32, response_body=b"{}",
                  expires_at="2100-01-01T00:00:00Z")),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], entry_id=b"\x02" * 32, response_body=b"{}",
                    expires_at="2100-01-01T00:00:00Z"),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], entry_id=b"\x02" * 32, response_body=b"{}",
                    expires_at="2100-01-01T00:00:00Z")),
        update=("content_type", "application/json"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  A,B     denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
    # No seed: seeding tessera.workloads already created each workload's settings row
    # (trigger workloads_worker_config_changed).
    "workload_settings": TableSpec(
        seed=(),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], config_version=99),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], config_version=99)),
        update=("exact_cache_ttl", "7 days"),
        expect=grid("""
            actor               SELECT  INSERT  UPDATE  DELETE  TRUNCATE
            anon                denied  denied  denied  denied  denied
            sponsor_A           A       denied  denied  denied  denied
            sponsor_B           B       denied  denied  denied  denied
            stranger            none    denied  denied  denied  denied
            operator            A,B     denied  denied  denied  denied
            service_role        A,B     denied  denied  denied  denied
            tessera_proxy       denied  denied  denied  denied  denied
            tessera_settlement  denied  denied  denied  denied  denied
        """),
    ),
}

Matrix = dict[str, dict[str, dict[str, Outcome]]]  # table -> actor -> command -> outcome


class ProbeError(AssertionError):
    """A probe failed with something other than 42501: the probe itself is broken."""


# --------------------------------------------------------------------------- catalog


def catalog_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every table (relkind r/p, partitions excluded) in schema tessera, from the catalog."""
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " ORDER BY c.relname",
        (SCHEMA,),
    ).fetchall()]


def coverage_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """Tables without a reviewed entry, and entries whose table no longer exists."""
    in_catalog = set(catalog_tables(conn))
    problems = [f"table {SCHEMA}.{t} has no reviewed entry in tests/policy_matrix.py TABLES"
                for t in sorted(in_catalog - set(TABLES))]
    problems += [f"TABLES entry {t!r} names no table in schema {SCHEMA}"
                 for t in sorted(set(TABLES) - in_catalog)]
    return problems


def _has_client_id(conn: psycopg.Connection[Any], table: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute"
        "  WHERE attrelid = %s::regclass AND attname = 'client_id' AND attnum > 0 AND NOT attisdropped)",
        (f"{SCHEMA}.{table}",),
    ).fetchone()[0]  # type: ignore[index]


# --------------------------------------------------------------------------- seeding


def _insert(table: str, values: Mapping[str, Any]) -> sql.Composed:
    cols = list(values)
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(SCHEMA, table),
        sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        sql.SQL(", ").join(sql.Literal(values[c]) for c in cols),
    )


def seed(conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec] = TABLES) -> None:
    """Create the seed rows as the connected superuser (in the open transaction)."""
    for table, spec in tables.items():
        for r in spec.seed:
            conn.execute(_insert(table, r.resolved()))


# --------------------------------------------------------------------------- probing


_TENANT_BY_ID = {v: k for k, v in TENANT_IDS.items()}


def _rows(conn: psycopg.Connection[Any], table: str, has_client_id: bool) -> dict[str, str]:
    """ctid -> tenant label of every row, read as the superuser."""
    tenant = sql.Identifier("client_id") if has_client_id else sql.SQL("NULL::uuid")
    query = sql.SQL("SELECT ctid::text, {} FROM {}").format(tenant, sql.Identifier(SCHEMA, table))
    return {ctid: _label(cid, has_client_id) for ctid, cid in conn.execute(query).fetchall()}


def _label(client_id: uuid.UUID | None, has_client_id: bool) -> str:
    if not has_client_id:
        return "platform"
    return _TENANT_BY_ID.get(client_id, "new") if client_id is not None else "new"


def _drop_referencing_fks(conn: psycopg.Connection[Any], table: str) -> None:
    fks = conn.execute(
        "SELECT n.nspname, c.relname, k.conname FROM pg_catalog.pg_constraint k"
        "  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE k.contype = 'f' AND k.confrelid = %s::regclass AND k.conparentid = 0",
        (f"{SCHEMA}.{table}",),
    ).fetchall()
    for nsp, rel, con in fks:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(nsp, rel), sql.Identifier(con)))


def _statement(table: str, spec: TableSpec, command: str, has_client_id: bool,
               probe: Row | None = None) -> sql.Composable:
    target = sql.Identifier(SCHEMA, table)
    if command == "SELECT":
        what = sql.Identifier("client_id") if has_client_id else sql.SQL("1")
        return sql.SQL("SELECT {} FROM {}").format(what, target)
    if command == "INSERT":
        assert probe is not None
        return _insert(table, probe.resolved())
    if command == "UPDATE":
        column, value = spec.update
        return sql.SQL("UPDATE {} SET {} = {}").format(target, sql.Identifier(column), sql.Literal(value))
    if command == "DELETE":
        return sql.SQL("DELETE FROM {}").format(target)
    if command == "TRUNCATE":
        return sql.SQL("TRUNCATE {}").format(target)
    raise ValueError(command)


def _run(conn: psycopg.Connection[Any], table: str, actor: Actor, command: str,
         stmt: sql.Composable, has_client_id: bool) -> Outcome:
    """Run one statement as ``actor`` in a savepoint; the savepoint is always rolled back."""
    before = _rows(conn, table, has_client_id)
    conn.execute("SAVEPOINT probe")
    try:
        if command in ("DELETE", "TRUNCATE"):
            _drop_referencing_fks(conn, table)
        act_as(conn, actor)
        try:
            cur = conn.execute(stmt)
        except psycopg.errors.InsufficientPrivilege:
            return DENIED
        except psycopg.Error as exc:
            raise ProbeError(
                f"{command} on {SCHEMA}.{table} as {actor.name} failed with "
                f"{exc.sqlstate}: {exc}".strip()) from exc
        if command == "SELECT":
            return Outcome(tenants=frozenset(
                _label(r[0], has_client_id) if has_client_id else "platform" for r in cur.fetchall()))
        conn.execute("RESET ROLE")
        after = _rows(conn, table, has_client_id)
        changed = {t for c, t in after.items() if c not in before}
        changed |= {t for c, t in before.items() if c not in after}
        return Outcome(tenants=frozenset(changed))
    finally:
        conn.execute("ROLLBACK TO SAVEPOINT probe")
        conn.execute("RELEASE SAVEPOINT probe")


def probe(conn: psycopg.Connection[Any], table: str, spec: TableSpec, actor: Actor,
          command: str) -> Outcome:
    has_client_id = _has_client_id(conn, table)
    if command != "INSERT":
        return _run(conn, table, actor, command, _statement(table, spec, command, has_client_id),
                    has_client_id)
    results = [(p, _run(conn, table, actor, command,
                        _statement(table, spec, command, has_client_id, p), has_client_id))
               for p in spec.insert]
    succeeded = frozenset(p.tenant for p, outcome in results if not outcome.denied)
    return Outcome(tenants=succeeded) if succeeded else DENIED


def observe(conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec] = TABLES) -> Matrix:
    """Seed (as the superuser) and probe every (table, actor, command). Call in an open
    transaction of a superuser connection; the caller rolls back."""
    seed(conn, tables)
    _check_update_values(conn, tables)
    return {
        table: {actor.name: {command: probe(conn, table, spec, actor, command) for command in COMMANDS}
                for actor in ACTORS}
        for table, spec in tables.items()
    }


def _check_update_values(conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec]) -> None:
    """The UPDATE probe must change no value: every seeded row already holds it."""
    for table, spec in tables.items():
        column, value = spec.update
        differing = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM {}").format(
            sql.Identifier(SCHEMA, table), sql.Identifier(column), sql.Literal(value))).fetchone()[0]  # type: ignore[index]
        if differing:
            raise ProbeError(f"{SCHEMA}.{table}: {differing} seeded row(s) do not hold {column} = {value!r}")


def expected(tables: Mapping[str, TableSpec] = TABLES) -> Matrix:
    return {table: spec.expect for table, spec in tables.items()}


def differences(observed: Matrix, wanted: Matrix) -> list[str]:
    """Readable list of the cells where observation and expectation disagree."""
    out = []
    for table in sorted(set(observed) | set(wanted)):
        for actor in ACTOR_NAMES:
            for command in COMMANDS:
                got = observed.get(table, {}).get(actor, {}).get(command)
                want = wanted.get(table, {}).get(actor, {}).get(command)
                if got != want:
                    out.append(f"{SCHEMA}.{table:<13} {actor:<19} {command:<8} expected {want}, observed {got}")
    return out


# --------------------------------------------------------------------------- rendering


def render_markdown(observed: Matrix) -> str:
    """The observed matrix as the reviewer-facing Markdown document."""
    out = [
        "<!-- Generated from the live catalog by tests/policy_matrix.py; do not edit by hand.",
        f"     Regenerate: {REGENERATE}",
        "     tests/test_policy_matrix.py fails when this file differs from what the database does. -->",
        "",
        "# Row-level security matrix",
        "",
        "What each identity can do to each table in schema `tessera`, observed by running the",
        "statements against a freshly built database seeded with two tenants, A and B. Each",
        "probe runs in a savepoint that is rolled back.",
        "",
        "| Cell | Meaning |",
        "| --- | --- |",
        "| `denied` | the statement raised SQLSTATE 42501 (missing privilege, RLS `WITH CHECK`, or a guard trigger) |",
        "| `none` | the statement ran but saw or changed no row |",
        "| `A`, `B`, `A, B` | the tenants (by `client_id`) whose rows were seen, inserted, updated or deleted |",
        "| `platform` | rows of a table without `client_id` (e.g. `tessera.operators`) |",
        "| `new` | a new tenant row (INSERT into `tessera.clients`) |",
        "",
        "Probes, each in its own savepoint:",
        "",
        "- SELECT: `SELECT client_id FROM t`.",
        "- INSERT: a row for tenant A and, separately, a forged row for tenant B; the cell lists",
        "  those that succeeded.",
        "- UPDATE: `UPDATE t SET <column> = <the value every row already has>`, no WHERE and no",
        "  RETURNING, so only the UPDATE policies apply (RETURNING would add the SELECT policies",
        "  and hide an UPDATE policy wider than the SELECT one). The column is named under each",
        "  table's heading.",
        "- DELETE: `DELETE FROM t` (no WHERE, no RETURNING, for the same reason).",
        "- TRUNCATE: `TRUNCATE t`; row-level security never applies to TRUNCATE.",
        "",
        "Which rows a write touched is read back by the superuser inside the savepoint. Foreign",
        "keys referencing the table are dropped inside the savepoint for DELETE and TRUNCATE, so",
        "a cell shows what authorization allows, not what `ON DELETE RESTRICT` blocks.",
        "",
        "## Actors",
        "",
        "| Actor | Database role | Who |",
        "| --- | --- | --- |",
    ]
    out += [f"| {a.name} | `{a.role}` | {a.about} |" for a in ACTORS]
    for table in sorted(observed):
        spec = TABLES.get(table)
        update = f"`{spec.update[0]}`" if spec else "?"
        out += ["", f"## tessera.{table}", "", f"UPDATE probe column: {update}.", "",
                "| Actor | " + " | ".join(COMMANDS) + " |",
                "| --- |" + " --- |" * len(COMMANDS)]
        for actor in ACTOR_NAMES:
            cells = [_md_cell(observed[table][actor][c]) for c in COMMANDS]
            out.append(f"| {actor} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _md_cell(outcome: Outcome) -> str:
    if outcome.denied:
        return "denied"
    return ", ".join(_tenant_order(outcome.tenants)) or "none"
